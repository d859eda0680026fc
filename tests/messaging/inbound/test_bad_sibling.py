"""One malformed event in a delivery does not drop its siblings: they are stored, the delivery is kept ``failed``
with the reason (replayable), and a payload of the wrong shape is ``failed`` too, never a crash."""

from __future__ import annotations

from sqlalchemy import select

from souk.messaging.models import InboundEvent, Message
from tests.messaging.inbound import payloads as p
from tests.support.webhooks import post, wait_idle

T0 = 1722503523000


async def test_a_message_without_its_id_fails_alone(client, app, make_channel):
    channel = await make_channel("messenger")
    good = p.fb_text("m_good", "Is the wallet in stock?", T0)
    bad = p.fb_text("m_bad", "and this one?", T0 + 1000)
    del bad["entry"][0]["messaging"][0]["message"]["mid"]
    good["entry"][0]["messaging"].append(bad["entry"][0]["messaging"][0])
    assert (await post(client, app, channel, good)).status_code == 200
    await wait_idle(app)
    async with app.state.db.system_session() as s:
        texts = (await s.scalars(select(Message.message_text))).all()
        event = (await s.scalars(select(InboundEvent))).one()
    assert texts == ["Is the wallet in stock?"]
    assert event.status == "failed" and "mid" in (event.error or "")  # the reason names what is missing


async def test_a_payload_of_the_wrong_shape_is_kept_failed(client, app, make_channel):
    channel = await make_channel("messenger")
    assert (await post(client, app, channel, {"object": "page", "entry": [{"messaging": True}]})).status_code == 200
    await wait_idle(app)
    async with app.state.db.system_session() as s:
        event = (await s.scalars(select(InboundEvent))).one()
    assert event.status == "failed" and "documented shape" in (event.error or "")
