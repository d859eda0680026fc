"""`souk events list` and `souk events replay` as a user runs them (a subprocess), on both databases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from souk.messaging.models import InboundEvent
from souk.settings import Settings
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows, at

SOUK = [sys.executable, "-m", "souk.cli"]


async def souk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "COLUMNS": "250", **(env or {})}
    return await asyncio.to_thread(
        subprocess.run, [*SOUK, *args], capture_output=True, text=True, env=full, timeout=120
    )


@pytest.fixture
def cli_env(settings: Settings, nats_url: str) -> dict[str, str]:
    """The same database, secret key and bus as the ``app`` fixture."""
    return {
        "SOUK_DATABASE_URL": settings.effective_database_url,
        "SOUK_DATA_DIR": str(settings.data_dir),
        "SOUK_NATS_URL": nats_url,
    }


async def _statuses(app, *events: InboundEvent) -> dict[uuid.UUID, tuple[str, str | None]]:
    async with app.state.db.system_session() as session:
        rows = await session.execute(
            select(InboundEvent.id, InboundEvent.status, InboundEvent.error).where(
                InboundEvent.id.in_([e.id for e in events])
            )
        )
        return {r.id: (r.status, r.error) for r in rows}


async def _events(rows: Rows, other_rows: Rows):
    tg = await rows.channel("telegram")
    wa = await rows.channel("whatsapp")
    old = await rows.event(tg, status="failed", error="unreadable payload: old", received_at=at(1))
    recent = await rows.event(tg, status="failed", error="parser error: KeyError", received_at=at(10))
    other_channel = await rows.event(wa, status="failed", error="boom", received_at=at(11))
    done = await rows.event(tg, status="processed", received_at=at(12))
    theirs = await other_rows.event(await other_rows.channel(), status="failed", error="elsewhere", received_at=at(13))
    return SimpleNamespace(tg=tg, wa=wa, old=old, recent=recent, other_channel=other_channel, done=done, theirs=theirs)


@pytest.mark.parametrize("command", [["events"], ["events", "list"], ["events", "replay"]])
def test_events_commands_have_help(command: list[str]):
    r = subprocess.run([*SOUK, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout
    assert ("replay" in r.stdout) if command == ["events"] else ("--status" in r.stdout)


async def test_list_filters_and_shows_errors(app, tenant: TenantFixture, rows: Rows, other_rows: Rows, cli_env):
    w = await _events(rows, other_rows)
    r = await souk("events", "list", "--status", "failed", env=cli_env)
    assert r.returncode == 0, r.stderr
    for event in (w.old, w.recent, w.other_channel, w.theirs):
        assert str(event.id) in r.stdout
    assert str(w.done.id) not in r.stdout and "parser error: KeyError" in r.stdout
    assert r.stdout.index(str(w.theirs.id)) < r.stdout.index(str(w.old.id))  # newest first
    r = await souk(
        "events", "list", "--tenant", "acme", "--channel", str(w.tg.id), "--since", "2026-03-01T12:05:00", env=cli_env
    )
    assert r.returncode == 0, r.stderr
    assert str(w.recent.id) in r.stdout and str(w.done.id) in r.stdout
    assert str(w.old.id) not in r.stdout and str(w.theirs.id) not in r.stdout and "2 event(s)" in r.stderr
    limited = await souk("events", "list", "--limit", "1", env=cli_env)
    assert str(w.theirs.id) in limited.stdout and "1 event(s)" in limited.stderr


async def test_list_refuses_bad_options(app, cli_env):
    r = await souk("events", "list", "--status", "lost", env=cli_env)
    assert r.returncode == 2 and "--status" in r.stderr
    r = await souk("events", "list", "--channel", "telegram", env=cli_env)
    assert r.returncode == 2 and "--channel" in r.stderr
    r = await souk("events", "list", "--tenant", "nope", env=cli_env)
    assert r.returncode == 1 and "nope" in r.stderr


async def test_replay_by_id(app, tenant: TenantFixture, rows: Rows, other_rows: Rows, cli_env):
    w = await _events(rows, other_rows)
    r = await souk("events", "replay", str(w.old.id), str(w.theirs.id), env=cli_env)
    assert r.returncode == 0, r.stderr
    assert "replayed 2 event(s)" in r.stdout
    after = await _statuses(app, w.old, w.theirs, w.recent)
    assert after[w.old.id] == ("received", None) and after[w.theirs.id] == ("received", None)
    assert after[w.recent.id] == ("failed", "parser error: KeyError")
    # an event already waiting is refused (and said so), the others still go
    again = await souk("events", "replay", str(w.old.id), str(w.recent.id), env=cli_env)
    assert again.returncode == 1 and str(w.old.id) in again.stderr and "replayed 1 event(s)" in again.stdout
    assert (await _statuses(app, w.recent))[w.recent.id] == ("received", None)


async def test_replay_many_by_status_channel_and_since(app, rows: Rows, other_rows: Rows, cli_env):
    w = await _events(rows, other_rows)
    dry = await souk("events", "replay", "--status", "failed", "--channel", str(w.tg.id), "--dry-run", env=cli_env)
    assert dry.returncode == 0 and "would replay 2 event(s)" in dry.stdout
    assert (await _statuses(app, w.old))[w.old.id][0] == "failed"
    r = await souk(
        "events",
        "replay",
        "--status",
        "failed",
        "--channel",
        str(w.tg.id),
        "--since",
        "2026-03-01T12:05:00",
        env=cli_env,
    )
    assert r.returncode == 0, r.stderr
    assert "replayed 1 event(s)" in r.stdout and "replaying" in r.stderr  # the progress bar
    after = await _statuses(app, w.old, w.recent, w.other_channel, w.done, w.theirs)
    assert after[w.recent.id] == ("received", None)
    assert [after[e.id][0] for e in (w.old, w.other_channel, w.done, w.theirs)] == [
        "failed",
        "failed",
        "processed",
        "failed",
    ]
    r = await souk("events", "replay", "--status", "failed", "--tenant", "acme", env=cli_env)
    assert r.returncode == 0 and "replayed 2 event(s)" in r.stdout  # old and other_channel; not globex's
    assert (await _statuses(app, w.theirs))[w.theirs.id][0] == "failed"


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        ([], 2, "give event ids"),
        (["--status", "received"], 2, "--status"),
        (["--channel", "00000000-0000-0000-0000-000000000001"], 2, "give event ids"),
        (["00000000-0000-0000-0000-000000000001", "--status", "failed"], 2, "give event ids"),
        (["00000000-0000-0000-0000-000000000001", "--since", "2026-01-01"], 2, "--since"),
        (["not-an-id"], 2, "event ids"),
        (["00000000-0000-0000-0000-000000000001"], 1, "no inbound event 00000000-0000-0000-0000-000000000001"),
    ],
)
async def test_replay_refuses_what_it_cannot_do(app, cli_env, args, code, says):
    r = await souk("events", "replay", *args, env=cli_env)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert says in r.stderr


async def test_replay_needs_the_bus(app, rows: Rows, cli_env):
    event = await rows.event(await rows.channel(), status="failed", error="x")
    env = {**cli_env, "SOUK_NATS_URL": ""}
    r = await souk("events", "replay", str(event.id), env=env)
    assert r.returncode == 1 and "SOUK_NATS_URL" in r.stderr
    assert (await _statuses(app, event))[event.id] == ("failed", "x")
