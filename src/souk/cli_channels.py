"""`souk channels`: WAHA login from a terminal and history imports with a progress bar.

These commands work on the database and WAHA/Temporal directly (like `souk users`), so they need no API key:
whoever runs them already holds the installation's configuration.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Annotated

import httpx
import segno
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from souk.core.running import with_running
from souk.settings import ConfigError, Settings, load_settings

channels_app = typer.Typer(help="Channels: WAHA QR login, history import.", no_args_is_help=True)
console = Console(stderr=True)
out = Console()

POLL_SECONDS = 1.0


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _database(settings: Settings):
    from souk.core.secrets import install_keyring, load_keys
    from souk.db.engine import Database

    install_keyring(
        load_keys(settings.secret_key.get_secret_value() if settings.secret_key else None, settings.data_dir)
    )
    return Database(settings.effective_database_url)


async def _tenant_of(db, channel_id: uuid.UUID) -> uuid.UUID:
    from souk.channels.models import Channel

    async with db.system_session() as session:
        channel = await session.get(Channel, channel_id)
    if channel is None or channel.deleted_at is not None:
        raise typer.BadParameter(f"no channel {channel_id}")
    return channel.tenant_id


def log_qr_code_to_console(value: str) -> None:
    """Seed's ``LogQRCodeToConsole``: the QR code drawn with terminal blocks, scannable from the screen."""
    segno.make(value, error="m").terminal(out=sys.stdout, compact=True)
    sys.stdout.flush()


async def _qr_loop(settings: Settings, channel_id: uuid.UUID, timeout: float) -> bool:
    from souk.channels import waha
    from souk.channels.service import get_channel

    db = _database(settings)
    shown, deadline = "", time.monotonic() + timeout
    try:
        tenant_id = await _tenant_of(db, channel_id)
        async with httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0)) as http:
            while time.monotonic() < deadline:
                async with db.tenant_session(tenant_id) as session:
                    channel = await get_channel(session, channel_id)
                    waha.require_waha(channel)
                    status = await waha.check_session(session, channel, http)
                    if status == "WORKING":
                        out.print("[green]WhatsApp connected[/green]: the channel is active.")
                        return True
                    if status in ("STOPPED", "FAILED"):  # started again, with a new code
                        status = (await waha.refresh_qr(session, channel, http)).session_status
                    if status == "SCAN_QR_CODE":
                        value = await waha.qr_value(waha.waha_client(channel, http))
                        # WhatsApp rotates the code; each new one (or an expired one) is stored and drawn again
                        if value and (value != shown or waha.needs_new_qr_code(channel.config)):
                            await waha.refresh_qr(session, channel, http)
                            out.print(f"Scan with WhatsApp (Linked devices), valid {waha.QR_TTL.seconds} s:")
                            log_qr_code_to_console(value)
                            shown = value
                await asyncio.sleep(POLL_SECONDS)
    finally:
        await db.dispose()
    return False


@channels_app.command("qr")
def qr(
    channel_id: Annotated[uuid.UUID, typer.Argument(help="The channel's id (WAHA, Messenger or Instagram).")],
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 300.0,
) -> None:
    """Draw the WAHA login QR code in the terminal and refresh it until it is scanned."""
    from souk.platforms.plugin import PlatformError

    try:
        ok = asyncio.run(_qr_loop(_settings(), channel_id, timeout))
    except PlatformError as exc:
        console.print(f"[red]error:[/red] WAHA refused: {exc}")
        raise typer.Exit(1) from None
    if not ok:
        console.print("[red]error:[/red] not scanned in time; run the command again for a new code")
        raise typer.Exit(1)


async def _import(settings: Settings, channel_id: uuid.UUID, strategy: str, limit: int, wait: bool) -> str:
    from souk.channels.service import get_channel, platform_of
    from souk.core.errors import Unprocessable
    from souk.workflows import history_import
    from souk.workflows.client import TemporalGateway

    db = _database(settings)
    try:
        client = await TemporalGateway(
            settings.temporal_address or "127.0.0.1:7233", settings.temporal_namespace
        ).client()
        tenant_id = await _tenant_of(db, channel_id)
        async with db.tenant_session(tenant_id) as session:
            channel = await get_channel(session, channel_id)
            platform = platform_of(channel)
            if not platform.history_import:
                raise Unprocessable(platform.no_history_message())
            workflow_id = await history_import.start_import(client, channel, strategy, limit, user_id=None)
        out.print(f"History import started: {workflow_id}")
        if not wait:
            return "running"
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            chats = bar.add_task("chats", total=None)
            while True:
                async with db.tenant_session(tenant_id) as session:
                    channel = await get_channel(session, channel_id)
                    progress = await history_import.import_progress(client, channel, workflow_id)
                bar.update(
                    chats,
                    total=progress.chats_total,
                    completed=progress.chats_done,
                    description=f"chats · {progress.messages_done} messages",
                )
                if progress.state not in (history_import.RUNNING, "cancelling"):
                    break
                await asyncio.sleep(0.5)
        out.print(
            f"{progress.state}: {progress.chats_done} chats, {progress.messages_done} messages read, "
            f"{progress.messages_imported} new, {progress.error_count} errors"
        )
        return progress.state
    finally:
        await db.dispose()


@channels_app.command("import-history")
def import_history(
    channel_id: Annotated[uuid.UUID, typer.Argument(help="The channel's id (WAHA, Messenger or Instagram).")],
    strategy: Annotated[str, typer.Option(help="none, new_only, recent or all.")] = "new_only",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Messages per batch.")] = 100,
    wait: Annotated[bool, typer.Option("--wait", help="Show a progress bar until the import ends.")] = False,
) -> None:
    """Import the channel's message history in the background (a Temporal workflow).

    Temporal is SOUK_TEMPORAL_ADDRESS, else that of the `souk run` serving from the data directory."""
    from souk.core.errors import SoukError
    from souk.workflows.history_import import STRATEGIES

    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"strategy must be one of {', '.join(STRATEGIES)}", param_hint="--strategy")
    try:
        state = asyncio.run(_import(with_running(_settings()), channel_id, strategy, limit, wait))
    except SoukError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from None
    except (OSError, TimeoutError, RuntimeError) as exc:
        console.print(
            f"[red]error:[/red] Temporal unreachable: {exc}; set SOUK_TEMPORAL_ADDRESS, or start `souk run` "
            "(`make run`) with this data directory"
        )
        raise typer.Exit(1) from None
    if state not in ("running", "completed"):
        raise typer.Exit(1)
