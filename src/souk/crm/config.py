"""A tenant's CRM vocabulary and limits: the defaults, and reading the tenant's overrides.

Labels, customer types and regions differ between shops (a Cairo clothing shop and a Hanoi phone reseller label leads
differently), so they are data, not code; the lead stages are fixed (:class:`souk.messaging.models.LeadStage`)
because automation and reports depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.crm.models import CrmSettings

DEFAULT_LABELS = ["hot", "warm", "cold", "vip", "price_sensitive", "needs_follow_up", "spam"]
DEFAULT_CUSTOMER_TYPES = ["retail", "wholesale", "reseller", "new", "returning"]
#: Seed 001's ``governorate`` is a region; no list means any value is accepted until the tenant configures one.
DEFAULT_GOVERNORATES: list[str] = []
DEFAULT_SCORE_MIN, DEFAULT_SCORE_MAX = 0, 100


@dataclass
class CrmConfig:
    labels: list[str] = field(default_factory=lambda: list(DEFAULT_LABELS))
    customer_types: list[str] = field(default_factory=lambda: list(DEFAULT_CUSTOMER_TYPES))
    governorates: list[str] = field(default_factory=lambda: list(DEFAULT_GOVERNORATES))
    score_min: int = DEFAULT_SCORE_MIN
    score_max: int = DEFAULT_SCORE_MAX
    default_region: str | None = None
    auto_merge_by_phone: bool = False
    scoring_rules: dict[str, Any] | None = None


async def settings_row(session: AsyncSession) -> CrmSettings | None:
    return await session.scalar(select(CrmSettings))


async def load_config(session: AsyncSession) -> CrmConfig:
    """The session tenant's CRM configuration (defaults where the tenant set nothing)."""
    row = await settings_row(session)
    if row is None:
        return CrmConfig()
    return CrmConfig(
        labels=row.labels if row.labels is not None else list(DEFAULT_LABELS),
        customer_types=row.customer_types if row.customer_types is not None else list(DEFAULT_CUSTOMER_TYPES),
        governorates=row.governorates if row.governorates is not None else list(DEFAULT_GOVERNORATES),
        score_min=row.score_min,
        score_max=row.score_max,
        default_region=row.default_region,
        auto_merge_by_phone=row.auto_merge_by_phone,
        scoring_rules=row.scoring_rules,
    )
