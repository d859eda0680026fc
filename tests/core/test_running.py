"""How the other `souk` commands find a running `souk run` on the same data directory (decision 0032): its record
is found while its process lives, ignored once it is gone or unreadable, and what is configured wins over it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from souk.core.running import (
    Running,
    connect_host,
    find_running,
    remove_running,
    running_path,
    with_running,
    write_running,
)
from souk.settings import Settings


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped, as a `souk run` killed before its clean-up is."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_found_while_its_process_lives_and_removed_only_by_it(tmp_path: Path) -> None:
    running = Running(os.getpid(), "http://127.0.0.1:8123", "nats://127.0.0.1:4999", "127.0.0.1:7999")
    path = write_running(tmp_path, running)
    assert path == running_path(tmp_path) and path.stat().st_mode & 0o077 == 0  # a NATS URL may hold a password
    assert find_running(tmp_path) == running
    remove_running(tmp_path, pid=os.getpid() + 1)  # another `souk run` stopping leaves this one's record
    assert find_running(tmp_path) == running
    remove_running(tmp_path)
    assert not path.exists() and find_running(tmp_path) is None
    remove_running(tmp_path)  # nothing left to remove: no error


def test_a_stale_or_unreadable_record_is_ignored(tmp_path: Path) -> None:
    write_running(tmp_path, Running(_dead_pid(), "http://127.0.0.1:8123", "nats://127.0.0.1:4999"))
    assert running_path(tmp_path).exists() and find_running(tmp_path) is None
    for text in ("{", "[]", '{"pid": "x", "url": "http://h"}', '{"url": "http://h"}'):
        running_path(tmp_path).write_text(text)
        assert find_running(tmp_path) is None, text


def test_configured_servers_win_over_the_running_ones(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_url=None, temporal_address=None)
    assert with_running(settings) is settings  # nobody running: unchanged
    write_running(tmp_path, Running(os.getpid(), "http://127.0.0.1:8123", "nats://127.0.0.1:4999", "127.0.0.1:7999"))
    found = with_running(settings)
    assert (found.nats_url, found.temporal_address) == ("nats://127.0.0.1:4999", "127.0.0.1:7999")
    mine = with_running(settings.model_copy(update={"nats_url": "nats://elsewhere:4222"}))
    assert (mine.nats_url, mine.temporal_address) == ("nats://elsewhere:4222", "127.0.0.1:7999")


def test_the_any_address_is_reached_on_loopback() -> None:
    assert connect_host("0.0.0.0") == "127.0.0.1"
    assert connect_host("::") == "[::1]"
    assert connect_host("127.0.0.2") == "127.0.0.2"
    assert connect_host("fe80::1") == "[fe80::1]"
