"""Programmatic Alembic: ``souk migrate`` and the tests call these."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def _off_loop(fn: Callable[[], T]) -> T:
    """Alembic's env runs its own event loop; from inside a running loop, run it on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def upgrade(url: str, revision: str = "head") -> None:
    _off_loop(lambda: command.upgrade(alembic_config(url), revision))


def downgrade(url: str, revision: str) -> None:
    _off_loop(lambda: command.downgrade(alembic_config(url), revision))


def current(url: str) -> str | None:
    """The revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    from souk.db.engine import create_engine

    async def _get() -> str | None:
        engine = create_engine(url)
        async with engine.connect() as conn:
            rev = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        await engine.dispose()
        return rev

    return _off_loop(lambda: asyncio.run(_get()))


def head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def revision(url: str, message: str) -> None:
    """Autogenerate a migration from the models (developer command)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
