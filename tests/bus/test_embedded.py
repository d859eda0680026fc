"""The child-process supervisor against the real nats-server and temporal binaries."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nats
import pytest
from temporalio.client import Client

from souk.bus.embedded import ChildProcess, ChildStartError, Supervisor, start_nats, start_temporal


def _gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return state == "Z"


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


async def _publish_and_count(url: str, stream: str, count: int) -> int:
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
        for i in range(count):
            ack = await js.publish(f"{stream.lower()}.x", f"m{i}".encode())
            assert ack.stream == stream
        return (await js.stream_info(stream)).state.messages
    finally:
        await nc.close()


async def test_nats_starts_serves_jetstream_and_stops(tmp_path: Path) -> None:
    child, url = start_nats(tmp_path / "data")
    try:
        assert child.alive and url.startswith("nats://127.0.0.1:")
        assert child.ready_seconds is not None and child.ready_seconds < 20
        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
        js = nc.jetstream()
        await js.add_stream(name="T", subjects=["t.>"])
        ack = await js.publish("t.hello", b"hi")
        assert (ack.stream, ack.seq) == ("T", 1)
        sub = await js.pull_subscribe("t.hello", durable="reader")
        [msg] = await sub.fetch(1, timeout=5)
        assert msg.data == b"hi"
        await msg.ack_sync()
        await nc.close()
        assert (tmp_path / "data" / "nats" / "jetstream").is_dir()
        assert (tmp_path / "data" / "logs" / "nats.log").read_text().strip()
    finally:
        pid = child.pid
        child.stop()
    assert pid is not None and _wait_gone(pid)
    assert not child.alive and child.stopped


async def test_two_nats_side_by_side(tmp_path: Path) -> None:
    first, url1 = start_nats(tmp_path / "one")
    try:
        second, url2 = start_nats(tmp_path / "two")
        try:
            assert url1 != url2
            assert await _publish_and_count(url1, "S", 2) == 2
            assert await _publish_and_count(url2, "S", 1) == 1  # same stream name, its own store
            assert (tmp_path / "one" / "nats" / "jetstream").is_dir()
            assert (tmp_path / "two" / "nats" / "jetstream").is_dir()
        finally:
            second.stop()
    finally:
        first.stop()


async def test_temporal_starts_accepts_a_client_and_stops(tmp_path: Path) -> None:
    child, address = start_temporal(tmp_path / "data")
    try:
        assert address.startswith("127.0.0.1:")
        client = await Client.connect(address)
        assert await client.service_client.check_health()
        assert (tmp_path / "data" / "temporal.db").exists()
    finally:
        pid = child.pid
        child.stop()
    assert pid is not None and _wait_gone(pid)


def test_supervisor_reports_and_restarts_a_dead_child(tmp_path: Path) -> None:
    supervisor = Supervisor()
    child, url = start_nats(tmp_path / "data")
    supervisor.add(child)
    try:
        assert supervisor.monitor() == []
        old_pid = child.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while child.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        assert supervisor.monitor() == ["nats"]
        supervisor.restart("nats")
        assert child.alive and child.pid != old_pid and supervisor.monitor() == []
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # same command, same port
    finally:
        supervisor.stop_all()
    assert not child.alive and supervisor.monitor() == []


def test_taken_port_fails_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ChildStartError) as info:
            start_nats(tmp_path / "data", port=port)
    message = str(info.value)
    assert "nats-server" in message and str(tmp_path / "data" / "logs" / "nats.log") in message
    assert info.value.exited


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    child = ChildProcess("stubborn", ["sh", "-c", 'trap "" TERM; sleep 30'], tmp_path).start()
    time.sleep(0.2)  # let the shell install its trap
    started = time.monotonic()
    assert child.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 3


def test_kill_is_a_crash_the_supervisor_sees_and_stop_uses_the_childs_own_signal(tmp_path: Path) -> None:
    supervisor = Supervisor()
    # a Python child, not a shell: a shell cannot trap a signal ignored when it started (test runners' workers
    # may ignore SIGINT, and children inherit that)
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: (print('int', flush=True), sys.exit(3)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = supervisor.add(ChildProcess("clean", [sys.executable, "-c", script], tmp_path, stop_signal=signal.SIGINT))
    crash = supervisor.add(ChildProcess("crash", ["sleep", "30"], tmp_path))
    child.start()
    crash.start()
    deadline = time.monotonic() + 30
    while "ready" not in child.log_path.read_text().splitlines() and time.monotonic() < deadline:
        time.sleep(0.05)  # the handler is installed
    assert crash.kill() == -signal.SIGKILL
    assert supervisor.monitor() == ["crash"]  # killed, not stopped: reported as dead
    assert child.stop(timeout=30) == 3  # SIGINT, the child's clean shutdown, not SIGTERM
    assert "int" in child.log_path.read_text().splitlines()
    supervisor.stop_all()


def test_nats_url_may_list_several_servers() -> None:
    from souk.bus.client import server_list

    assert server_list("nats://a:4222, nats://b:4222,") == ["nats://a:4222", "nats://b:4222"]
    assert server_list("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]


_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from souk.bus.embedded import ChildProcess
    child = ChildProcess("sleeper", ["sleep", "60"], Path(sys.argv[1])).start()
    print(child.pid, flush=True)
    if sys.argv[2] == "hang":
        time.sleep(60)
    """
)


@pytest.mark.parametrize("ending", ["exit", "sigkill"])
def test_children_do_not_outlive_the_parent(tmp_path: Path, ending: str) -> None:
    if ending == "sigkill" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    mode = "hang" if ending == "sigkill" else "exit"
    command = [sys.executable, "-c", _ORPHAN_SCRIPT, str(tmp_path), mode]
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    if ending == "sigkill":
        parent.kill()
    parent.wait(timeout=10)
    assert _wait_gone(pid), f"child {pid} survived its parent ({ending})"
