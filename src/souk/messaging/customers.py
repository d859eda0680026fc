"""Finding or creating the customer behind a channel identity, and the conversation a message belongs to."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels.models import Channel
from souk.core import events
from souk.crm.channel_metadata import record_customer_channel
from souk.messaging.models import ChannelIdentity, Conversation, ConversationStatus, Customer
from souk.platforms.base import Party

DEFAULT_SESSION_TIMEOUT_MINUTES = 24 * 60


def split_name(name: str | None) -> tuple[str | None, str | None]:
    if not name:
        return None, None
    first, _, last = name.strip().partition(" ")
    return first[:100] or None, last.strip()[:100] or None


async def identity_for(session: AsyncSession, channel: Channel, party: Party) -> tuple[ChannelIdentity, Customer]:
    """The identity (channel, external id) and its customer, created on first sight; safe under concurrency."""
    stmt = select(ChannelIdentity).where(
        ChannelIdentity.channel_id == channel.id, ChannelIdentity.external_id == party.external_id
    )
    identity = await session.scalar(stmt)
    learnt_phone: str | None = None
    if identity is None:
        first, last = split_name(party.name)
        customer = Customer(
            platform=channel.channel_type,
            psid=party.external_id,
            first_name=first,
            last_name=last,
            display_name=party.name or party.username,
            profile_pic=party.profile_pic,
            phone_number=party.phone,
        )
        try:
            async with session.begin_nested():
                session.add(customer)
                await session.flush()
                identity = ChannelIdentity(
                    customer_id=customer.id,
                    channel_id=channel.id,
                    platform=channel.channel_type,
                    external_id=party.external_id,
                    display_name=party.name,
                    username=party.username,
                    phone=party.phone,
                    profile_pic=party.profile_pic,
                    extra=party.extra or {},
                )
                session.add(identity)
                await session.flush()
                await record_customer_channel(session, channel, customer.id, party)
            events.emit(
                session,
                channel.tenant_id,
                "customer.created",
                {"customer_id": str(customer.id), "channel_id": str(channel.id), "platform": channel.channel_type},
            )
        except IntegrityError:
            identity = await session.scalar(stmt)
            assert identity is not None
    else:
        if party.name and not identity.display_name:
            identity.display_name = party.name
        if party.phone and identity.phone != party.phone:
            identity.phone = party.phone  # learnt later (a Telegram user sharing their own contact)
            learnt_phone = party.phone
    customer_row = await session.get(Customer, identity.customer_id)
    assert customer_row is not None
    # a merged-away customer forwards to the survivor
    while customer_row.merged_into_id is not None:
        nxt = await session.get(Customer, customer_row.merged_into_id)
        if nxt is None:
            break
        customer_row = nxt
    if party.name and not customer_row.display_name:
        customer_row.display_name = party.name
        customer_row.first_name, customer_row.last_name = split_name(party.name)
    if learnt_phone:
        if not customer_row.phone_number:
            customer_row.phone_number = learnt_phone
        # the CRM's phone match listens: the number may be another channel's customer's
        events.emit(
            session,
            channel.tenant_id,
            "customer.updated",
            {"customer_id": str(customer_row.id), "field": "phone_number", "old": None, "new": learnt_phone},
        )
    return identity, customer_row


async def conversation_for(
    session: AsyncSession,
    channel: Channel,
    thread: str,
    customer: Customer,
    identity: ChannelIdentity | None,
    at: datetime,
    *,
    inbound: bool,
    group: dict | None = None,
) -> tuple[Conversation, bool]:
    """The active conversation of a thread, or a new one when there is none or the last went quiet for longer
    than the channel's session timeout (only a customer's message opens a new session). Returns (conv, created)."""
    stmt = select(Conversation).where(
        Conversation.channel_id == channel.id,
        Conversation.external_thread_id == thread,
        Conversation.is_active.is_(True),
    )
    conv = await session.scalar(stmt)
    timeout = timedelta(minutes=channel.default_session_timeout_minutes or DEFAULT_SESSION_TIMEOUT_MINUTES)
    if conv is not None and inbound and at - conv.last_activity > timeout:
        conv.is_active = False
        if conv.status != ConversationStatus.resolved:
            from souk.automation.routing import set_status  # routing builds on messaging

            # resolved like any other (resolved_at, a conversation.resolved event for SLA, rules and webhooks), as
            # of the moment the session ran out rather than now, so an old thread does not count its silence
            ended = min(conv.last_activity + timeout, at)
            await set_status(session, conv, ConversationStatus.resolved, by="session timeout", at=ended)
        await session.flush()
        conv = None
    if conv is not None:
        return conv, False
    new = Conversation(
        channel_id=channel.id,
        customer_id=customer.id,
        identity_id=identity.id if identity else None,
        external_thread_id=thread,
        thread_id=thread,
        started_at=at,
        last_activity=at,
        group=group,
    )
    try:
        async with session.begin_nested():
            session.add(new)
            await session.flush()
    except IntegrityError:
        conv = await session.scalar(stmt)
        assert conv is not None
        return conv, False
    events.emit(
        session,
        channel.tenant_id,
        "conversation.created",
        {"conversation_id": str(new.id), "channel_id": str(channel.id), "customer_id": str(customer.id)},
    )
    return new, True
