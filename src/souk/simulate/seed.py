"""The demo inbox: what plain `make run` shows before anyone plays a customer, loaded once.

One "Demo <Platform> (simulated)" channel per simulated platform (the very channels `souk simulate` and
`make run DEMO=1` later point at their stand-ins and play on), and in each the stand-in's customers with a short
conversation already had: their first message, the shop's answer with its receipts (read; Telegram reports none, so
its answers stay sent), and for every other customer a second question still waiting for someone.

The customer messages are the stand-ins' own webhook bodies (Chotot's: the broker messages its stand-in publishes),
parsed by each platform's parser and stored by the normalizer the worker uses (routing included), so they look and
behave like any other conversation. The channels are
created with the AI agent off and are not active: nothing here answers or sends until `make run DEMO=1` connects them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels import service as channels
from souk.channels.models import Channel
from souk.channels.schemas import channel_create_model
from souk.db.types import utcnow
from souk.messaging import ingest
from souk.messaging.models import Customer as CustomerRow
from souk.platforms import registry
from souk.platforms.base import DeliveryStatus, Message, MessageType, Party, SentBy, StatusUpdate
from souk.simulate import PLATFORMS
from souk.simulate.base import Customer, StandIn

#: the shop's first answer, by the customer's language
ANSWERS = {
    "en": "Welcome to the Souk demo shop! Ask me about a product, an order or delivery.",
    "ar": "أهلاً بك في متجر سوق التجريبي! اسألني عن منتج أو طلب أو التوصيل.",
}
PLACEHOLDER_URL = "http://127.0.0.1:9"  # no stand-in listens until `souk simulate` points the channel at one


async def load_demo_inbox(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Add the demo channels and conversations to a tenant that has no channel and no customer yet (a fresh demo
    tenant, or one from before this existed); returns the conversations added."""
    if await session.scalar(select(func.count()).select_from(Channel)) or await session.scalar(
        select(func.count()).select_from(CustomerRow)
    ):
        return 0
    now = utcnow()
    stand_ins = [cls(lambda *_: None) for cls in PLATFORMS.values()]
    cast = [(s, c) for s in stand_ins for c in s.customers]
    step = timedelta(minutes=7)
    channel_of: dict[str, Channel] = {}
    for stand_in in stand_ins:
        stand_in.url = PLACEHOLDER_URL
        body = channel_create_model().model_validate(
            {
                "name": stand_in.channel_name,
                "channel_type": stand_in.channel_type,
                "config": stand_in.config(),
                "ai_enabled": False,
            }
        )
        channel_of[stand_in.channel_type] = await channels.create_channel(session, tenant_id, body.root, user_id=None)
    # interleaved across platforms, oldest first, so the list mixes channels; the newest wait for an answer
    for n, (stand_in, customer) in enumerate(cast):
        at = now - step * (len(cast) - n) * 2
        channel = channel_of[stand_in.channel_type]
        first = await _customer_writes(session, stand_in, channel, customer, customer.script[0], at)
        await _shop_answers(session, stand_in, channel, customer, first, at + timedelta(seconds=40))
        if n % 2 and len(customer.script) > 1:
            await _customer_writes(session, stand_in, channel, customer, customer.script[1], at + step)
    return len(cast)


async def _customer_writes(
    session: AsyncSession, stand_in: StandIn, channel: Channel, customer: Customer, text: str, at: datetime
) -> Message:
    """Store what the platform's webhook for ``text`` says, at ``at``; returns its message event."""
    platform = registry.get(stand_in.channel_type)
    found: Message | None = None
    applied = ingest.Applied()
    for raw in await stand_in.bodies(customer, text):
        for event in platform.events(raw, {"content-type": "application/json"}):
            event.timestamp = at
            if isinstance(event, Message):
                event.sender.name = event.sender.name or customer.name  # Meta's webhooks carry no names
                found = event
            await ingest.apply(session, channel, event, inbound_event_id=None, applied=applied)
    if found is None:
        raise RuntimeError(f"the {stand_in.label} stand-in's webhook held no message")
    return found


async def _shop_answers(
    session: AsyncSession, stand_in: StandIn, channel: Channel, customer: Customer, question: Message, at: datetime
) -> None:
    """The AI agent's answer to ``question``, as an echo of the business side, then its receipt."""
    answer = Message(
        key=f"demo-answer-{uuid.uuid4().hex}",
        timestamp=at,
        raw={},
        external_id=f"demo-answer-{uuid.uuid4().hex}",
        thread_id=question.thread_id,
        sender=Party(external_id=question.recipient_id or stand_in.channel_type),
        recipient_id=question.sender.external_id,
        message_type=MessageType.text,
        text=ANSWERS.get(customer.language, ANSWERS["en"]),
        direction="outbound",
        sent_by=SentBy.bot,
    )
    await ingest.apply(session, channel, answer, inbound_event_id=None, applied=ingest.Applied())
    if stand_in.channel_type == "telegram":  # bots get no receipts on Telegram
        return
    receipt = StatusUpdate(
        key=f"{answer.key}-read",
        timestamp=at + timedelta(seconds=30),
        raw={},
        status=DeliveryStatus.read,
        target_external_id=answer.external_id,
        thread_id=question.thread_id,
        recipient_id=question.sender.external_id,
    )
    await ingest.apply(session, channel, receipt, inbound_event_id=None, applied=ingest.Applied())
