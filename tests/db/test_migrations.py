"""Alembic upgrades both databases from empty, downgrades cleanly, and agrees with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from souk.db.engine import create_engine
from souk.db.migrate import current, downgrade, head, upgrade
from souk.db.registry import load_models


def _diff(sync_conn):
    mc = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return compare_metadata(mc, load_models().metadata)


async def test_models_match_migrations(db_url: str):
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    await engine.dispose()
    assert diff == [], f"models and migrations disagree; run `souk migrate` revision autogenerate: {diff}"


async def test_head_is_applied_and_downgrade_to_base_then_up_again(db_url: str):
    import asyncio

    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, current, db_url) == head()
    await loop.run_in_executor(None, downgrade, db_url, "base")
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    await engine.dispose()
    assert set(tables) <= {"alembic_version"}
    await loop.run_in_executor(None, upgrade, db_url, "head")
    assert await loop.run_in_executor(None, current, db_url) == head()
