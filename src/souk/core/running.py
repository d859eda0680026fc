"""Where a running `souk run` serves, for the other `souk` commands on the same data directory (decision 0032).

`souk run` picks free ports for the NATS and Temporal servers it starts, and ``--host``/``--port`` may differ from
``SOUK_HOST``/``SOUK_PORT``, so another process cannot work the addresses out from the configuration. While it
serves, `souk run` keeps ``<data_dir>/souk-run.json``: its pid and the URLs of its API, NATS and Temporal. It removes
the file when it stops; a file left by a process that died (its pid no longer runs) is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from souk.settings import Settings

RUNNING = "souk-run.json"


@dataclass(frozen=True)
class Running:
    """A `souk run`: its pid, the base URL of its API and inbox, and the NATS and Temporal it uses."""

    pid: int
    url: str
    nats_url: str | None = None
    temporal_address: str | None = None


def running_path(data_dir: Path) -> Path:
    return Path(data_dir) / RUNNING


def connect_host(host: str) -> str:
    """The address to reach a server listening on ``host`` from this machine (not the any-address), URL-ready."""
    from souk.bus.embedded import url_host

    return url_host({"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host))


def write_running(data_dir: Path, running: Running) -> Path:
    """Record ``running`` in the data directory, atomically and readable by its owner only (a NATS URL may hold a
    password)."""
    path = running_path(data_dir)
    partial = path.with_name(f".{RUNNING}.{running.pid}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(running), fh, indent=2)
    os.replace(partial, path)
    return path


def remove_running(data_dir: Path, pid: int | None = None) -> None:
    """Remove the record if it is ``pid``'s (default: this process's): a second `souk run` on the same data
    directory may have replaced it."""
    found = _read(running_path(data_dir))
    if found is not None and found.pid == (os.getpid() if pid is None else pid):
        with contextlib.suppress(FileNotFoundError):
            running_path(data_dir).unlink()


def find_running(data_dir: Path) -> Running | None:
    """The `souk run` serving from ``data_dir``, or None: no record, an unreadable one, or one whose process is
    gone (killed before it could remove it)."""
    found = _read(running_path(data_dir))
    return found if found is not None and pid_alive(found.pid) else None


def with_running(settings: Settings) -> Settings:
    """``settings`` with the NATS and Temporal of the `souk run` serving from its data directory where they are
    unset (what is configured wins), for a command that must reach the same servers as the running Souk."""
    running = find_running(settings.data_dir)
    if running is None:
        return settings
    update = {
        name: getattr(running, name)
        for name in ("nats_url", "temporal_address")
        if not getattr(settings, name) and getattr(running, name)
    }
    return settings.model_copy(update=update) if update else settings


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _read(path: Path) -> Running | None:
    try:
        data = json.loads(path.read_text())
        return Running(
            pid=int(data["pid"]),
            url=str(data["url"]),
            nats_url=data.get("nats_url") or None,
            temporal_address=data.get("temporal_address") or None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
