"""Domain events: written to the ``domain_events`` outbox in the same transaction as the change.

The publisher (:mod:`souk.bus.outbox`) sends them to NATS on ``souk.<tenant>.<event>`` after commit and marks them
published, so an event exists if and only if its change committed, and is delivered at least once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from souk.core.models import DomainEvent

#: set while an automation rule's actions run: every event they raise carries it as ``payload["automation"]``, so the
#: rule engine can tell which rules caused an event (its loop guard)
CAUSED_BY: ContextVar[dict[str, Any] | None] = ContextVar("souk_event_caused_by", default=None)

#: marks every event raised while history is being imported (``imported: true``, ``source: "history_import"``), so
#: consumers that talk to customers (automation rules, the AI agent) leave months-old messages alone
IMPORTED = {"imported": True, "source": "history_import"}
_ORIGIN: ContextVar[dict[str, Any] | None] = ContextVar("souk_event_origin", default=None)


@contextmanager
def history_import() -> Iterator[None]:
    """Every event emitted inside is marked as imported history rather than live traffic."""
    token = _ORIGIN.set(IMPORTED)
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def is_imported(payload: dict[str, Any]) -> bool:
    return bool(payload.get("imported"))


def subject_for(tenant_id: uuid.UUID, event_type: str) -> str:
    return f"souk.{tenant_id}.{event_type}"


def emit(session: AsyncSession, tenant_id: uuid.UUID, event_type: str, payload: dict[str, Any]) -> DomainEvent:
    """Queue ``event_type`` (e.g. ``channel.created``) for publication once the transaction commits."""
    cause = CAUSED_BY.get()
    if cause is not None:
        payload = {**payload, "automation": cause}
    origin = _ORIGIN.get()
    if origin is not None:
        payload = {**payload, **origin}
    event = DomainEvent(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        subject=subject_for(tenant_id, event_type),
        event_type=event_type,
        payload=payload,
    )
    session.add(event)
    return event
