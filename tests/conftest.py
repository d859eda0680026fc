"""Fixtures shared by the whole suite.

* ``db_url`` is parametrized over SQLite and PostgreSQL: every test that touches the database runs on both.
  Each test gets a fresh database cloned from a template migrated once per worker (a file copy on SQLite,
  ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so tests are isolated and fast.
* NATS, PostgreSQL and Temporal are real servers started once per test session (or taken from
  ``SOUK_TEST_NATS_URL``, ``SOUK_TEST_DATABASE_URL``, ``SOUK_TEST_TEMPORAL_ADDRESS``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from souk.settings import Settings
from tests.support import reports, servers

os.environ.setdefault("SOUK_LOG_JSON", "true")
os.environ.setdefault("SOUK_LOG_LEVEL", "warning")

DB_KINDS = ["sqlite", "postgresql"]
T = TypeVar("T")
SESSION_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures tests recorded (tests/support/reports.py), so CI logs show them."""
    for path in reports.written_since(SESSION_STARTED):
        terminalreporter.write_sep("-", f"figures: {path.stem} ({path.relative_to(path.parents[2])})")
        terminalreporter.write_line(path.read_text().rstrip())


def _worker_id(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def nats_url() -> str:
    return servers.nats_url()


@pytest.fixture(scope="session")
def temporal_address() -> str:
    return servers.temporal_address()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from souk.db.migrate import upgrade

    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _run_apart(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own loop in a helper thread (session fixtures are set up inside the test loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(admin URL, template database name), migrated once per worker."""
    from souk.db.migrate import upgrade

    admin = servers.postgres_admin_url()
    name = f"souk_tpl_{_worker_id(request)}_{uuid.uuid4().hex[:6]}"
    _run_apart(servers.create_database(admin, name))
    upgrade(servers.asyncpg_url(admin, name))
    yield admin, name
    _run_apart(servers.drop_database(admin, name))


@pytest.fixture(params=DB_KINDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "souk.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    admin, template = request.getfixturevalue("pg_template")
    name = f"souk_t_{uuid.uuid4().hex[:12]}"
    await servers.create_database(admin, name, template=template)
    yield servers.asyncpg_url(admin, name)
    await servers.drop_database(admin, name)


@pytest.fixture
def settings(db_url: str, tmp_path: Path, nats_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        nats_url=nats_url,
        temporal_address=os.environ.get("SOUK_TEST_TEMPORAL_ADDRESS", "127.0.0.1:1"),
        env="test",
        log_level="warning",
        log_json=True,
        port=8000,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    from souk.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://souk.test") as c:
        yield c


@dataclass
class TenantFixture:
    id: uuid.UUID
    slug: str
    key: str
    owner_id: uuid.UUID
    owner_email: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@functools.cache
def _test_password_hash(password: str) -> str:
    """Argon2 is slow on purpose (most of a second here): hash the fixtures' one password once per process."""
    from souk.core.security import hash_password

    return hash_password(password)


async def make_tenant(app: FastAPI, slug: str, *, role: str = "owner") -> TenantFixture:
    from souk.core import service
    from souk.core.models import Role

    password = "correct horse battery"
    async with app.state.db.system_session() as session:
        tenant = await service.create_tenant(session, slug, slug.title())
        session.info["tenant_id"] = tenant.id
        email = f"owner@{slug}.test"
        user = await service.create_user(session, tenant.id, email, None, Role.owner, "Owner")
        user.password_hash = _test_password_hash(password)
        _, key = await service.create_api_key(session, tenant.id, "test", role=Role(role))
    return TenantFixture(tenant.id, slug, key, user.id, email, password)


@pytest.fixture
async def tenant(app: FastAPI) -> TenantFixture:
    return await make_tenant(app, "acme")


@pytest.fixture
async def other_tenant(app: FastAPI) -> TenantFixture:
    return await make_tenant(app, "globex")
