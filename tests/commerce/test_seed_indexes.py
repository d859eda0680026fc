"""Seed 003's indexes exist under the names the seed gives them, on both databases (names matter: the seed's own
queries and operators' runbooks refer to them)."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

SEED_003 = {
    "conversations": {"idx_conversations_customer_created", "idx_conversations_thread_id"},
    "knowledge_base": {"idx_knowledge_base_category", "idx_knowledge_base_active"},
}


async def test_seed_003_indexes_have_the_seeds_names(db_url: str) -> None:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(
                lambda sync: {t: {i["name"] for i in inspect(sync).get_indexes(t)} for t in SEED_003}
            )
    finally:
        await engine.dispose()
    for table, wanted in SEED_003.items():
        assert wanted <= names[table], (table, wanted - names[table])
