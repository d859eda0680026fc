"""Alembic upgrades both databases from empty, downgrades cleanly, and agrees with the models."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from souk.db.engine import create_engine
from souk.db.migrate import current, downgrade, head, upgrade
from souk.db.registry import load_models

#: full-text machinery the search migrations create with raw SQL, per database (FTS5 shadow tables, expression
#: indexes, PostgreSQL's catalog vocabulary); it has no model, by design
SEARCH_OBJECTS = re.compile(r"^(products|knowledge_base|messages)_fts(_\w+)?$|_search_(tsv|trgm)$|^product_words")


def _diff(sync_conn):
    metadata = load_models().metadata
    sqlite = sync_conn.dialect.name == "sqlite"
    # seed 000 puts channel metadata in a `commerce` schema on PostgreSQL; SQLite has no schemas, so there the
    # same tables live in the main database under their bare names (compared on PostgreSQL, skipped here)
    commerce = {t.name for t in metadata.tables.values() if t.schema == "commerce"}

    def include_object(obj, name, type_, reflected, compare_to):
        if name and SEARCH_OBJECTS.search(name):
            return False
        if sqlite:
            table = obj if type_ == "table" else getattr(obj, "table", None)
            if table is not None and (table.schema == "commerce" or table.name in commerce):
                return False
        return True

    opts = {"compare_type": True, "include_schemas": not sqlite, "include_object": include_object}
    return compare_metadata(MigrationContext.configure(sync_conn, opts=opts), metadata)


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
