"""Customer and lead services: search, the lead-field changes with their activity rows, notes.

Every change goes through :func:`change_field`, which writes the LeadActivity in the caller's transaction (services
never commit), so a change and its audit row exist together or not at all, whether a person or automation made it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.core import events
from souk.core.errors import NotFound, Unprocessable, field_error
from souk.crm.config import CrmConfig
from souk.crm.models import ActivityType, CustomerNote, LeadActivity
from souk.crm.phones import normalize_phone
from souk.db.types import utcnow
from souk.messaging.models import ChannelIdentity, Customer, LeadStage, Message

#: Customer field → the activity type its change writes.
#: what the commerce package tells a customer's detail about their orders (``souk.commerce.crm_hooks`` appends it;
#: the CRM sits below commerce and does not import it)
ORDER_SUMMARIES: list[Callable[[AsyncSession, uuid.UUID], Awaitable[dict[str, Any]]]] = []

FIELD_ACTIVITY = {
    "lead_stage": ActivityType.stage_change,
    "customer_label": ActivityType.label_change,
    "customer_type": ActivityType.type_change,
    "lead_score": ActivityType.score_update,
    "governorate": ActivityType.governorate_change,
    "phone_number": ActivityType.phone_change,
}


async def get_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    customer = await session.scalar(select(Customer).where(Customer.id == customer_id))
    if customer is None:
        raise NotFound("no such customer")
    return customer


def _allowed(field: str, value: Any, allowed: list[str], what: str) -> None:
    if value is not None and value not in allowed:
        raise Unprocessable(
            f"unknown {what} {value!r}; allowed: {', '.join(allowed)}",
            errors=[field_error(field, f"must be one of: {', '.join(allowed)}")],
            allowed=allowed,
        )


def validate_changes(changes: dict[str, Any], config: CrmConfig) -> dict[str, Any]:
    """The changes with values checked against the tenant's vocabulary (422 naming the allowed values)."""
    out = dict(changes)
    if "lead_stage" in out:
        if out["lead_stage"] is None:
            raise Unprocessable("lead_stage cannot be empty", errors=[field_error("lead_stage", "cannot be null")])
        _allowed("lead_stage", out["lead_stage"], [s.value for s in LeadStage], "stage")
    if "customer_label" in out:
        _allowed("customer_label", out["customer_label"], config.labels, "label")
    if "customer_type" in out:
        _allowed("customer_type", out["customer_type"], config.customer_types, "customer type")
    if "governorate" in out and config.governorates:
        _allowed("governorate", out["governorate"], config.governorates, "governorate")
    if "lead_score" in out:
        score = out["lead_score"]
        if score is None or not config.score_min <= score <= config.score_max:
            raise Unprocessable(
                f"lead_score must be between {config.score_min} and {config.score_max}",
                errors=[field_error("lead_score", f"must be between {config.score_min} and {config.score_max}")],
            )
    if out.get("phone_number") is not None:
        phone = normalize_phone(out["phone_number"], config.default_region)
        if phone is None:
            raise Unprocessable(
                "phone_number is not a valid phone number",
                errors=[field_error("phone_number", "not a valid phone number (use +<country code><number>)")],
            )
        out["phone_number"] = phone
    return out


def record_activity(
    session: AsyncSession,
    customer: Customer,
    activity_type: str,
    old: Any,
    new: Any,
    *,
    reason: str | None = None,
    automated: bool = False,
    actor: str | None = None,
) -> LeadActivity:
    row = LeadActivity(
        customer_id=customer.id,
        activity_type=activity_type,
        old_value=None if old is None else str(old)[:100],
        new_value=None if new is None else str(new)[:100],
        reason=reason,
        timestamp=utcnow(),
        automated=automated,
        actor=actor,
    )
    session.add(row)
    return row


def change_field(
    session: AsyncSession,
    customer: Customer,
    field: str,
    value: Any,
    *,
    reason: str | None = None,
    automated: bool = False,
    actor: str | None = None,
) -> LeadActivity | None:
    """Set one lead field and write its activity; a no-op (and no activity) when the value is unchanged."""
    old = getattr(customer, field)
    if old == value:
        return None
    setattr(customer, field, value)
    if field == "lead_stage":
        customer.last_stage_change = utcnow()
    activity = record_activity(
        session, customer, FIELD_ACTIVITY[field], old, value, reason=reason, automated=automated, actor=actor
    )
    events.emit(
        session,
        customer.tenant_id,
        "customer.updated",
        {"customer_id": str(customer.id), "field": field, "old": _plain(old), "new": _plain(value)},
    )
    return activity


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, int | str | bool) else str(value)


async def set_notes(
    session: AsyncSession, customer: Customer, notes: str, *, actor: str | None = None
) -> LeadActivity | None:
    row = await notes_of(session, customer.id)
    old = row.notes if row else ""
    if old == notes:
        return None
    if row is None:
        session.add(CustomerNote(customer_id=customer.id, notes=notes, updated_by=actor))
    else:
        row.notes, row.updated_by = notes, actor
    # notes can be long: the activity keeps only their start, the full text lives in customer_notes
    return record_activity(session, customer, ActivityType.notes_change, old or None, notes or None, actor=actor)


async def notes_of(session: AsyncSession, customer_id: uuid.UUID) -> CustomerNote | None:
    return await session.scalar(select(CustomerNote).where(CustomerNote.customer_id == customer_id))


async def update_customer(
    session: AsyncSession,
    customer: Customer,
    changes: dict[str, Any],
    config: CrmConfig,
    *,
    reason: str | None = None,
    actor: str | None = None,
) -> list[LeadActivity]:
    """Apply a person's PATCH: validate everything first, then change each field with its activity."""
    changes = validate_changes(changes, config)
    notes = changes.pop("notes", None)
    written = []
    for field, value in changes.items():
        activity = change_field(session, customer, field, value, reason=reason, actor=actor)
        if activity is not None:
            written.append(activity)
    if notes is not None:
        activity = await set_notes(session, customer, notes, actor=actor)
        if activity is not None:
            written.append(activity)
    await session.flush()
    return written


def customers_query(
    *,
    q: str | None = None,
    stage: str | None = None,
    label: str | None = None,
    customer_type: str | None = None,
    score_min: int | None = None,
    score_max: int | None = None,
    channel: str | None = None,
    source: str | None = None,
    include_merged: bool = False,
) -> Select[tuple[Customer]]:
    """Customers matching the filters, most recently active first.

    ``q`` matches names, the phone number, and any identity's external id, username or phone; ``channel`` is a
    platform (``whatsapp``) or a channel id; ``source`` is a message source (``ad``, ``post_comment``…) of any of
    the customer's messages.
    """
    stmt = select(Customer)
    if not include_merged:
        stmt = stmt.where(Customer.merged_into_id.is_(None))
    if q:
        like = f"%{q.strip().lower()}%"
        identity_match = select(ChannelIdentity.customer_id).where(
            or_(
                func.lower(ChannelIdentity.external_id).like(like),
                func.lower(ChannelIdentity.username).like(like),
                func.lower(ChannelIdentity.display_name).like(like),
                ChannelIdentity.phone.like(like),
            )
        )
        stmt = stmt.where(
            or_(
                func.lower(Customer.first_name).like(like),
                func.lower(Customer.last_name).like(like),
                func.lower(Customer.display_name).like(like),
                Customer.phone_number.like(like),
                func.lower(Customer.psid).like(like),
                Customer.id.in_(identity_match),
            )
        )
    if stage:
        stmt = stmt.where(Customer.lead_stage == stage)
    if label:
        stmt = stmt.where(Customer.customer_label == label)
    if customer_type:
        stmt = stmt.where(Customer.customer_type == customer_type)
    if score_min is not None:
        stmt = stmt.where(Customer.lead_score >= score_min)
    if score_max is not None:
        stmt = stmt.where(Customer.lead_score <= score_max)
    if channel:
        try:
            channel_id = uuid.UUID(channel)
            cond = ChannelIdentity.channel_id == channel_id
        except ValueError:
            cond = ChannelIdentity.platform == channel
        stmt = stmt.where(Customer.id.in_(select(ChannelIdentity.customer_id).where(cond)))
    if source:
        stmt = stmt.where(Customer.id.in_(select(Message.customer_id).where(Message.message_source == source)))
    last = func.coalesce(Customer.last_message_at, Customer.created_at)
    return stmt.order_by(last.desc(), Customer.id.desc())


async def activities_of(session: AsyncSession, customer_id: uuid.UUID, limit: int = 50) -> list[LeadActivity]:
    rows = await session.scalars(
        select(LeadActivity)
        .where(LeadActivity.customer_id == customer_id)
        .order_by(LeadActivity.timestamp.desc(), LeadActivity.id.desc())
        .limit(limit)
    )
    return list(rows.all())
