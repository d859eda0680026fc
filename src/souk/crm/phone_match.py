"""Customers that share a verified phone number: merged at once or proposed, by the tenant's setting.

A phone is verified when the platform vouches for it (a WhatsApp or WAHA identity's number, a contact a Telegram
user shared) or a person typed it in; both land in ``Customer.phone_number`` / ``ChannelIdentity.phone``. Numbers are
compared in E.164, so ``201001234567`` from WhatsApp and ``+20 100 123 4567`` typed by an agent are the same.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.crm.config import CrmConfig
from souk.crm.merge import merge_customers
from souk.crm.models import CustomerMerge, MergeProposal
from souk.crm.phones import normalize_phone
from souk.messaging.models import ChannelIdentity, Customer


async def phone_of(session: AsyncSession, customer: Customer, config: CrmConfig) -> str | None:
    """The customer's E.164 number: their own field, else the first identity that carries one."""
    phone = normalize_phone(customer.phone_number, config.default_region)
    if phone:
        return phone
    for raw in await session.scalars(
        select(ChannelIdentity.phone).where(
            ChannelIdentity.customer_id == customer.id, ChannelIdentity.phone.is_not(None)
        )
    ):
        phone = normalize_phone(raw, config.default_region)
        if phone:
            return phone
    return None


async def match_by_phone(
    session: AsyncSession, customer: Customer, config: CrmConfig, *, actor: str | None = None
) -> list[CustomerMerge | MergeProposal]:
    """Merge (``auto_merge_by_phone``) or propose merging every other customer with the same number.

    The older customer survives an automatic merge, so links to it (orders, reports) keep pointing at the same id.
    """
    if customer.merged_into_id is not None:
        return []
    phone = await phone_of(session, customer, config)
    if phone is None:
        return []
    # platforms store numbers as they send them: WhatsApp's wa_id has no "+"
    forms = [phone, phone.lstrip("+")]
    others = list(
        (
            await session.scalars(
                select(Customer)
                .where(
                    Customer.id != customer.id,
                    Customer.merged_into_id.is_(None),
                    or_(
                        Customer.phone_number.in_(forms),
                        Customer.id.in_(select(ChannelIdentity.customer_id).where(ChannelIdentity.phone.in_(forms))),
                    ),
                )
                .order_by(Customer.created_at, Customer.id)
            )
        ).all()
    )
    out: list[CustomerMerge | MergeProposal] = []
    for other in others:
        if config.auto_merge_by_phone:
            first, second = sorted([customer, other], key=lambda c: (c.created_at, str(c.id)))
            out.append(await merge_customers(session, first.id, second.id, reason="phone", actor=actor, automated=True))
            customer = first
            continue
        a, b = sorted([customer.id, other.id], key=str)
        exists = await session.scalar(
            select(MergeProposal).where(MergeProposal.customer_id == a, MergeProposal.other_id == b)
        )
        if exists is not None:
            continue
        proposal = MergeProposal(customer_id=a, other_id=b, phone=phone)
        try:
            async with session.begin_nested():
                session.add(proposal)
                await session.flush()
        except IntegrityError:
            continue
        out.append(proposal)
    return out
