"""Shared pieces of the Meta messaging parser: timestamps, echo classification, de-duplication keys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from souk.platforms.base import SentBy
from souk.platforms.messenger import PLATFORM as MESSENGER
from souk.platforms.meta.messaging import echo_sent_by, meta_time, raw_key


@pytest.mark.parametrize("value", [1722503523, "1722503523", 1722503523000, "1722503523000", 1722503523.0])
def test_meta_time_accepts_seconds_and_milliseconds(value: object) -> None:
    assert meta_time(value) == datetime(2024, 8, 1, 9, 12, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("app_id", "marker", "ours", "expected"),
    [
        (None, "souk:out_1", None, SentBy.souk),
        (1517386205634512, None, "1517386205634512", SentBy.souk),
        ("1517386205634512", "crm-x", "1517386205634512", SentBy.souk),
        (None, None, "1517386205634512", SentBy.native_app),
        (263902037430900, None, "1517386205634512", SentBy.other_app),
        (263902037430900, "not-ours", None, SentBy.other_app),
    ],
)
def test_echo_sent_by(app_id: object, marker: str | None, ours: str | None, expected: SentBy) -> None:
    assert echo_sent_by(app_id, marker, ours) is expected


def test_raw_key_ignores_key_order() -> None:
    assert raw_key("x", {"a": 1, "b": [1, 2]}) == raw_key("x", {"b": [1, 2], "a": 1})
    assert raw_key("x", {"a": 1}) != raw_key("x", {"a": 2})


def test_event_key_is_stable_for_a_retried_delivery() -> None:
    body = b'{"object":"page","entry":[]}'
    assert MESSENGER.event_key(body, {}) == MESSENGER.event_key(body, {"x-hub-signature-256": "sha256=00"})
    assert MESSENGER.event_key(body, {}) != MESSENGER.event_key(body + b" ", {})
