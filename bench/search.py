"""Product search latency over 100,000 products, as a ratio to a plain indexed lookup (by SKU) in the same run.

    .venv/bin/python bench/search.py                      # SQLite in a temporary folder
    .venv/bin/python bench/search.py postgresql           # a throwaway embedded PostgreSQL
    .venv/bin/python bench/search.py postgresql+asyncpg://…/empty_db   # a PostgreSQL database to migrate and fill
    .venv/bin/python bench/search.py postgresql --products 10000      # a smaller catalog, while working

Prints, per query, the median search time, the median SKU lookup time and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select, text

from souk.commerce.models import Product
from souk.commerce.search import product_text, search_products
from souk.core import service
from souk.db.engine import Database
from souk.db.migrate import upgrade

N = 100_000
ROUNDS = 15
WORDS_EN = [
    "winter",
    "summer",
    "jacket",
    "dress",
    "shoes",
    "wallet",
    "scarf",
    "leather",
    "cotton",
    "wool",
    "running",
    "classic",
    "slim",
    "warm",
]
WORDS_AR = ["جاكيت", "شتوي", "فستان", "صيفي", "حذاء", "رياضي", "محفظة", "جلد", "قطن", "صوف", "كلاسيك", "دافئ"]
QUERIES = ["winter jacket", "wintr jaket", "جاكيت شتوي", "جَاكِيت شتوى", "leather wallet", "محفظه جلد", "scarf 3"]


def _rows(tenant_id: uuid.UUID, n: int) -> list[dict]:
    rnd = random.Random(7)
    rows = []
    for i in range(n):
        name = " ".join(rnd.sample(WORDS_EN, 2) + rnd.sample(WORDS_AR, 2)) + f" {i}"
        tags = rnd.sample(WORDS_EN, 2)
        rows.append(
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "name": name,
                "description": None,
                "price": Decimal(rnd.randint(100, 500000)) / 100,
                "currency": "EGP",
                "stock": rnd.randint(0, 50),
                "images": [],
                "category": rnd.choice(["clothing", "shoes", "accessories"]),
                "tags": tags,
                "is_bestseller": False,
                "is_active": True,
                "sku": f"SKU-{i}",
                "search_text": product_text(name, None, None, tags),
            }
        )
    return rows


async def _median(fn, rounds: int = ROUNDS) -> float:
    await fn()  # warm up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def main(url: str, n: int) -> None:
    upgrade(url)
    db = Database(url)
    async with db.system_session() as s:
        tenant = await service.create_tenant(s, f"bench{uuid.uuid4().hex[:6]}", "Bench")
        rows = _rows(tenant.id, n)
        for start in range(0, n, 5000):
            await s.execute(insert(Product), rows[start : start + 5000])
    if url.startswith("postgresql"):
        async with db.system_session() as s:  # the statistics autovacuum gathers soon after a bulk load
            await s.execute(text("ANALYZE"))
    print(f"{n} products on {url.split(':')[0]}")
    print(f"{'query':<18} {'search ms':>10} {'lookup ms':>10} {'ratio':>8} {'total':>6}")
    async with db.tenant_session(tenant.id) as session:
        for q in QUERIES:
            hits: list = []

            async def run_search(q: str = q, hits: list = hits) -> None:
                _, total = await search_products(session, select(Product).where(Product.is_active.is_(True)), q)
                hits[:] = [total]

            async def run_lookup() -> None:
                await session.scalar(select(Product).where(Product.sku == f"SKU-{random.randrange(n)}"))

            s_time, l_time = await _median(run_search), await _median(run_lookup)
            print(f"{q:<18} {s_time * 1000:>10.2f} {l_time * 1000:>10.3f} {s_time / l_time:>8.1f} {hits[0]:>6}")
    await db.dispose()


async def on_embedded_postgres(tmp: Path, n: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _servers

    pg = _servers.Postgres(tmp / "pg")
    try:
        await main(await pg.create_database("search_bench"), n)
    finally:
        pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", nargs="?", default="sqlite", help="sqlite, postgresql, or a database URL")
    parser.add_argument("--products", type=int, default=N, help="catalog size (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "postgresql":
            asyncio.run(on_embedded_postgres(Path(tmp), args.products))
        elif args.database != "sqlite":
            asyncio.run(main(args.database, args.products))
        else:
            asyncio.run(main(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.products))
