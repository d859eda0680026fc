"""Merging two customers into one, and undoing it from the merge's audit record.

A merge moves every row that points at the merged customer to the survivor and records exactly which rows moved
(:class:`CustomerMerge.moved`), so unmerge moves those rows back instead of guessing. Other packages add their
tables to :data:`MERGE_MOVES` (the commerce package appends ``(Order, "customer_id")``), and merge/unmerge move their
rows too without this module knowing them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from souk.core import events
from souk.core.errors import Conflict, NotFound, Unprocessable, field_error
from souk.crm.models import ActivityType, ChannelMetadata, CustomerMerge, LeadActivity, MergeProposal
from souk.crm.service import get_customer, record_activity
from souk.db.types import utcnow
from souk.messaging.models import ChannelIdentity, Conversation, Customer, Message

#: (model, customer column) pairs whose rows follow a customer through a merge. Append to add a table.
MERGE_MOVES: list[tuple[type[Any], str]] = [
    (ChannelIdentity, "customer_id"),
    (Conversation, "customer_id"),
    (Message, "customer_id"),
    (LeadActivity, "customer_id"),
    (ChannelMetadata, "entity_id"),
]
#: a condition a moved table's rows must also meet, by ``<table>.<column>``: channel metadata points at customers
#: and at orders alike, and only the customer's rows follow the customer
MOVE_WHERE: dict[str, Any] = {"channel_metadata.entity_id": ChannelMetadata.entity_type == "customer"}

#: Survivor fields filled from the merged customer when the survivor has none.
FILLABLE = ("first_name", "last_name", "display_name", "profile_pic", "governorate", "phone_number")


def _key(model: type[Any], column: str) -> str:
    return f"{model.__tablename__}.{column}"


def _ref(col: Any, customer_id: uuid.UUID) -> Any:
    """The customer id as the column stores it: seed 003's orders keep ``customer_id`` as a string."""
    try:
        return str(customer_id) if col.type.python_type is str else customer_id
    except NotImplementedError:
        return customer_id


async def merge_customers(
    session: AsyncSession,
    survivor_id: uuid.UUID,
    other_id: uuid.UUID,
    *,
    reason: str = "manual",
    actor: str | None = None,
    automated: bool = False,
) -> CustomerMerge:
    """Move everything of ``other_id`` to ``survivor_id``; the other customer stays, inactive, pointing at it."""
    if survivor_id == other_id:
        raise Unprocessable(
            "a customer cannot be merged into itself",
            errors=[field_error("other_id", "must be a different customer than the one in the path")],
        )
    survivor = await get_customer(session, survivor_id)
    other = await session.scalar(select(Customer).where(Customer.id == other_id))
    if other is None:
        raise NotFound("no such customer to merge (other_id)")
    if other.merged_into_id is not None:
        raise Conflict("that customer was already merged into another one")
    if survivor.merged_into_id is not None:
        raise Conflict("this customer was merged into another one; merge into that one instead")
    moved: dict[str, list[str]] = {}
    for model, column in MERGE_MOVES:
        col = getattr(model, column)
        stmt = select(model.id).where(col == _ref(col, other.id))
        if _key(model, column) in MOVE_WHERE:
            stmt = stmt.where(MOVE_WHERE[_key(model, column)])
        ids = list((await session.scalars(stmt)).all())
        if ids:
            await session.execute(
                update(model)
                .where(model.id.in_(ids))
                .values({column: _ref(col, survivor.id)})
                .execution_options(synchronize_session=False)
            )
        moved[_key(model, column)] = [str(i) for i in ids]
    filled: dict[str, Any] = {}
    for field in FILLABLE:
        if getattr(survivor, field) is None and getattr(other, field) is not None:
            filled[field] = None
            setattr(survivor, field, getattr(other, field))
    if other.last_message_at and (survivor.last_message_at is None or other.last_message_at > survivor.last_message_at):
        filled["last_message_at"] = survivor.last_message_at.isoformat() if survivor.last_message_at else None
        survivor.last_message_at = other.last_message_at
    other.merged_into_id, other.is_active = survivor.id, False
    record = CustomerMerge(
        survivor_id=survivor.id, merged_id=other.id, moved=moved, filled=filled, reason=reason, merged_by=actor
    )
    session.add(record)
    await session.execute(
        update(MergeProposal)
        .where(
            MergeProposal.status == "pending",
            MergeProposal.customer_id.in_([survivor.id, other.id]),
            MergeProposal.other_id.in_([survivor.id, other.id]),
        )
        .values(status="merged")
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    record_activity(
        session,
        survivor,
        ActivityType.merge,
        str(other.id),
        str(survivor.id),
        reason=reason,
        automated=automated,
        actor=actor,
    )
    events.emit(
        session,
        survivor.tenant_id,
        "customer.merged",
        {"customer_id": str(survivor.id), "merged_id": str(other.id), "merge_id": str(record.id), "reason": reason},
    )
    return record


async def unmerge(
    session: AsyncSession, survivor_id: uuid.UUID, merge_id: uuid.UUID | None = None, *, actor: str | None = None
) -> CustomerMerge:
    """Undo a merge of ``survivor_id`` (the latest one, or ``merge_id``): the recorded rows move back.

    Conversations and messages that arrived after the merge on a moved identity go back with that identity.
    """
    survivor = await get_customer(session, survivor_id)
    stmt = select(CustomerMerge).where(CustomerMerge.survivor_id == survivor.id, CustomerMerge.undone_at.is_(None))
    if merge_id is not None:
        stmt = stmt.where(CustomerMerge.id == merge_id)
    record = await session.scalar(stmt.order_by(CustomerMerge.merged_at.desc()).limit(1))
    if record is None:
        raise NotFound("no merge of this customer to undo")
    other = await session.scalar(select(Customer).where(Customer.id == record.merged_id))
    if other is None:
        raise Conflict("the merged customer no longer exists; the merge cannot be undone")
    identity_ids = [uuid.UUID(i) for i in record.moved.get(_key(ChannelIdentity, "customer_id"), [])]
    later_convs: list[uuid.UUID] = []
    if identity_ids:
        later_convs = list(
            (
                await session.scalars(
                    select(Conversation.id).where(
                        Conversation.identity_id.in_(identity_ids), Conversation.customer_id == survivor.id
                    )
                )
            ).all()
        )
    for model, column in MERGE_MOVES:
        ids = {uuid.UUID(i) for i in record.moved.get(_key(model, column), [])}
        if model is Conversation:
            ids |= set(later_convs)
        col = getattr(model, column)
        conds = [model.id.in_(ids)] if ids else []
        if model is Message and later_convs:
            conds.append(Message.conversation_id.in_(later_convs))
        for cond in conds:
            await session.execute(
                update(model)
                .where(cond, col == _ref(col, survivor.id))
                .values({column: _ref(col, other.id)})
                .execution_options(synchronize_session=False)
            )
    for field, previous in (record.filled or {}).items():
        if field == "last_message_at" and previous is not None:
            previous = datetime.fromisoformat(previous)
        setattr(survivor, field, previous)
    other.merged_into_id, other.is_active = None, True
    record.undone_at, record.undone_by = utcnow(), actor
    await session.flush()
    record_activity(session, survivor, ActivityType.unmerge, str(survivor.id), str(other.id), actor=actor)
    events.emit(
        session,
        survivor.tenant_id,
        "customer.unmerged",
        {"customer_id": str(survivor.id), "restored_id": str(other.id), "merge_id": str(record.id)},
    )
    await session.flush()
    return record
