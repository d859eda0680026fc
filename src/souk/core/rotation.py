"""``souk secrets rotate``: re-encrypt every encrypted column under a new master key.

Order of operations makes a crash at any point recoverable: the key file first lists the new key *and* the old
ones, then every value is re-encrypted in one transaction, and only after that commit is the old key dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from souk.core.secrets import Keyring
from souk.db.engine import create_engine
from souk.db.registry import load_models
from souk.db.types import EncryptedJSON, EncryptedText


def encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) for every column stored encrypted."""
    out = []
    for table in load_models().metadata.sorted_tables:
        for col in table.columns:
            if isinstance(col.type, EncryptedText | EncryptedJSON):
                out.append((table.fullname, col.name))
    return out


async def count_encrypted(url: str) -> int:
    engine = create_engine(url)
    total = 0
    async with engine.connect() as conn:
        for table, col in encrypted_columns():
            total += (
                await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(sa.table(table, sa.column(col)))
                    .where(sa.column(col).isnot(None))
                )
                or 0
            )
    await engine.dispose()
    return total


async def reencrypt_all(url: str, ring: Keyring, progress: Callable[[int], None] | None = None) -> int:
    """Re-encrypt every stored secret under ``ring``'s primary key, in one transaction. Returns the count."""
    engine = create_engine(url)
    done = 0
    async with engine.begin() as conn:
        for table, col in encrypted_columns():
            t = sa.table(table, sa.column("id"), sa.column(col, sa.Text))
            rows = (await conn.execute(sa.select(t.c.id, t.c[col]).where(t.c[col].isnot(None)))).all()
            for row_id, stored in rows:
                await conn.execute(sa.update(t).where(t.c.id == row_id).values({col: ring.reencrypt(stored)}))
                done += 1
                if progress:
                    progress(1)
    await engine.dispose()
    return done
