"""Domain events: written to the ``domain_events`` outbox in the same transaction as the change.

The publisher (:mod:`souk.bus.outbox`) sends them to NATS on ``souk.<tenant>.<event>`` after commit and marks them
published, so an event exists if and only if its change committed, and is delivered at least once.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from souk.core.models import DomainEvent


def subject_for(tenant_id: uuid.UUID, event_type: str) -> str:
    return f"souk.{tenant_id}.{event_type}"


def emit(session: AsyncSession, tenant_id: uuid.UUID, event_type: str, payload: dict[str, Any]) -> DomainEvent:
    """Queue ``event_type`` (e.g. ``channel.created``) for publication once the transaction commits."""
    event = DomainEvent(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        subject=subject_for(tenant_id, event_type),
        event_type=event_type,
        payload=payload,
    )
    session.add(event)
    return event
