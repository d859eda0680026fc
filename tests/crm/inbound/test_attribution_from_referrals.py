"""Each platform's referral shape (click-to-chat ads, post referrals, comments) ends up in the attribution report."""

from __future__ import annotations

import pytest

from tests.conftest import TenantFixture
from tests.support.webhooks import fixture, post, wait_idle

CASES = [
    ("whatsapp", "referral_ad", "ads"),
    ("whatsapp", "referral_post", "posts"),
    ("messenger", "message_with_ad_referral", "ads"),
    ("messenger", "feed_comment", "posts"),
    ("instagram", "ad_referral", "ads"),
    ("instagram", "comment", "posts"),
]
#: the name a payload gives its sender, kept as the customer's profile name
NAMES = {"feed_comment": "Lan Nguyen"}


@pytest.mark.parametrize(("channel_type", "payload", "kind"), CASES)
async def test_referral_becomes_a_lead_of_its_ad_or_post(
    client, app, make_channel, tenant: TenantFixture, channel_type: str, payload: str, kind: str
):
    channel = await make_channel(channel_type)
    r = await post(client, app, channel, fixture(channel_type, payload))
    assert r.status_code == 200, r.text
    await wait_idle(app)
    r = await client.get(
        "/api/v1/reports/attribution", params={"since": "2000-01-01T00:00:00Z"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    report = r.json()
    (row,) = report[kind]
    assert (row["leads"], row["conversations"]) == (1, 1)
    assert row["platform"] in (channel_type, None)
    customers = (await client.get("/api/v1/customers", params={"channel": channel_type}, headers=tenant.headers)).json()
    assert customers["total"] == 1
    if payload in NAMES:
        assert customers["items"][0]["display_name"] == NAMES[payload]
