"""Messenger webhooks (``object: page``).

The shared ``messaging[]`` parser, plus ``changes[]`` of the Page (feed, the App Dashboard's test payloads),
which carry no conversation unless they hold a messaging event.
"""

from __future__ import annotations

from souk.platforms.base import Event
from souk.platforms.meta.messaging import parse_messaging_body

OBJECT = "page"


def parse_body(body: bytes, *, our_app_id: str | None = None) -> list[Event]:
    """Every event of one delivery; ``our_app_id`` marks echoes of sends made through that app as Souk's."""
    return parse_messaging_body(body, object_type=OBJECT, our_app_id=our_app_id)
