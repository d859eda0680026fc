"""Fake platforms for channel tests, and ready-made configs per channel type pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fakes.chotot import FakeChotot
from tests.support.fakes.graph import FakeGraphServer
from tests.support.fakes.telegram import DEFAULT_TOKEN, FakeTelegram
from tests.support.fakes.tiktok import FakeTikTok
from tests.support.fakes.waha import FakeWAHA


@pytest.fixture(scope="session")
def fakes() -> Iterator[dict[str, Any]]:
    servers = {
        "telegram": FakeTelegram(),
        "graph": FakeGraphServer(),
        "waha": FakeWAHA(),
        "tiktok": FakeTikTok(),
        "chotot": FakeChotot(),
    }
    for s in servers.values():
        s.start()
    yield servers
    for s in servers.values():
        s.stop()


def configs(fakes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    g = fakes["graph"]
    return {
        "telegram": {"botToken": DEFAULT_TOKEN, "botUsername": "@souk_test_bot", "apiBaseURL": fakes["telegram"].url},
        "whatsapp": {
            "phoneNumberID": g.PHONE_NUMBER_ID,
            "businessAccountID": "987654321",
            "accessToken": g.TOKEN,
            "webhookToken": "verify-me",
            "appSecret": "app-secret",
            "graphBaseURL": g.url,
        },
        "messenger": {
            "pageID": g.PAGE_ID,
            "pageAccessToken": g.TOKEN,
            "appSecret": "app-secret",
            "graphBaseURL": g.url,
        },
        "instagram": {
            "instagramAccountID": g.IG_ID,
            "pageAccessToken": g.TOKEN,
            "appSecret": "app-secret",
            "graphBaseURL": g.url,
        },
        "waha": {
            "baseURL": fakes["waha"].url,
            "sessionID": "default",
            "auth": {"type": "api_key", "apiKey": "waha-test-key"},
            "importStrategy": "new_only",
        },
        "tiktok": {
            "businessID": fakes["tiktok"].business_id,
            "appKey": "app-key",
            "appSecret": fakes["tiktok"].app_secret,
            "accessToken": fakes["tiktok"].access_token,
            "apiBaseURL": fakes["tiktok"].url,
        },
        "chotot": {
            "baseURL": fakes["chotot"].url,
            "partnerID": fakes["chotot"].partner_id,
            "apiKey": fakes["chotot"].api_key,
            "accountID": fakes["chotot"].account_id,
        },
    }


@pytest.fixture
def channel_configs(fakes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return configs(fakes)
