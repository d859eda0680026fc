"""`souk run` from nothing: migrates, loads the demo once (the shop and a living inbox), starts NATS and Temporal
children, serves, stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from souk.bus import embedded
from souk.bus.embedded import find_free_port
from souk.core.running import Running, find_running, running_path
from souk.simulate import PLATFORMS

pytestmark = pytest.mark.e2e


def start(
    data_dir: Path, port: int, *args: str, env: dict[str, str | None] | None = None, output: Path | None = None
) -> subprocess.Popen:
    """``souk run`` with ``args``; NATS and Temporal are its own children unless ``env`` names them (``None``
    unsets a variable). ``output`` takes its stdout and stderr in a file instead of a pipe (a chatty run would fill
    the pipe before it is read)."""
    env = {
        **os.environ,
        "SOUK_NATS_URL": None,
        "SOUK_TEMPORAL_ADDRESS": None,
        "SOUK_DATA_DIR": str(data_dir),
        "SOUK_PORT": str(port),
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "souk.cli", "run", *args],
        env={k: v for k, v in env.items() if v is not None},
        stdout=output.open("w") if output else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 90, host: str = "127.0.0.1") -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "souk run exited"
        try:
            if httpx.get(f"http://{host}:{port}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("souk run never became ready")


def stop(proc: subprocess.Popen) -> str:
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"children left running: {alive}"
    return out


def demo_inbox(port: int, key: str, host: str = "127.0.0.1") -> dict:
    """What the demo tenant's inbox holds: channel types, conversations, answers read, conversations waiting."""
    api = httpx.Client(base_url=f"http://{host}:{port}/api/v1", headers={"X-API-Key": key})
    channels = api.get("/channels", params={"limit": 100}).json()["items"]
    conversations = api.get("/conversations", params={"limit": 100}).json()["items"]
    read = waiting = 0
    for conversation in conversations:
        thread = api.get(f"/conversations/{conversation['id']}/messages", params={"latest": True}).json()["items"]
        read += sum(1 for m in thread if m["direction"] == "outbound" and m["status"] == "read")
        waiting += thread[-1]["direction"] == "inbound"
    return {
        "channels": sorted(c["channel_type"] for c in channels),
        "conversations": len(conversations),
        "read": read,
        "waiting": waiting,
    }


def test_run_serves_then_stops_everything_and_reuses_data(tmp_path: Path, nats_url: str, temporal_address: str):
    """The first run starts its own NATS and Temporal; the second reuses the data directory and is given the
    session's servers (SOUK_NATS_URL, SOUK_TEMPORAL_ADDRESS), so it starts no child, and ``--host``/``--port``
    win over SOUK_HOST/SOUK_PORT. Its stderr is not a terminal: every log line is JSON, and a request's line
    carries the request id the response's ``X-Request-ID`` header shows."""
    data = tmp_path / "data"
    port = find_free_port()
    proc = start(data, port)
    try:
        seconds = wait_ready(port, proc)
        print(f"souk run ready in {seconds:.1f}s")
        # ready means recorded: the other commands find this run's API, NATS and Temporal (decision 0032)
        running = find_running(data)
        assert running is not None and (running.pid, running.url) == (proc.pid, f"http://127.0.0.1:{port}")
        creds = json.loads((data / "demo-credentials.json").read_text())
        me = httpx.get(f"http://127.0.0.1:{port}/api/v1/auth/me", headers={"X-API-Key": creds["api_key"]})
        assert me.status_code == 200 and me.json()["tenant_slug"] == "demo"
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"email": creds["email"], "password": creds["password"]},
        )
        assert login.status_code == 200
        inbox = demo_inbox(port, creds["api_key"])
        # without --demo the inbox is already alive: customers on every simulated platform, answered and waiting
        assert (
            set(inbox["channels"])
            == set(PLATFORMS)
            == {*("whatsapp", "telegram", "messenger", "instagram", "waha", "tiktok", "chotot")}
        ), inbox
        customers = sum(len(stand_in.customers) for stand_in in PLATFORMS.values())  # 18, as the README says
        assert inbox["conversations"] == customers and inbox["read"] and inbox["waiting"], inbox
    finally:
        out = stop(proc)
    assert creds["api_key"] in out and creds["password"] in out and f"127.0.0.1:{port}" in out
    # the record holds the NATS and Temporal it started and printed, and is gone once it stopped
    assert f"NATS          {running.nats_url}   Temporal  {running.temporal_address}" in out
    assert not running_path(data).exists()

    # a second run reuses the data (same credentials, no duplicate demo tenant) and the servers it is given
    output = tmp_path / "second-run.log"
    env = {
        "SOUK_NATS_URL": nats_url,
        "SOUK_TEMPORAL_ADDRESS": temporal_address,
        "SOUK_HOST": "127.0.0.1",
        "SOUK_LOG_LEVEL": "debug",  # request lines are debug
        "SOUK_LOG_JSON": None,  # JSON or not is decided by stderr not being a terminal
    }
    env_port, port = port, find_free_port()
    proc = start(data, env_port, "--host", "127.0.0.2", "--port", str(port), env=env, output=output)
    try:
        wait_ready(port, proc, host="127.0.0.2")
        children = [c.name() for c in psutil.Process(proc.pid).children(recursive=True)]
        assert not [n for n in children if "nats" in n or "temporal" in n], children
        # --host and --port won over SOUK_HOST and SOUK_PORT
        assert not embedded.tcp_open("127.0.0.1", port) and not embedded.tcp_open("127.0.0.2", env_port)
        # what it serves, not what SOUK_PORT says; the servers it was given
        assert find_running(data) == Running(proc.pid, f"http://127.0.0.2:{port}", nats_url, temporal_address)
        assert json.loads((data / "demo-credentials.json").read_text()) == creds
        r = httpx.get(f"http://127.0.0.2:{port}/api/v1/api-keys", headers={"X-API-Key": creds["api_key"]})
        assert r.json()["total"] == 1
        request_id = r.headers["x-request-id"]
        assert demo_inbox(port, creds["api_key"], host="127.0.0.2") == inbox  # loaded once
    finally:
        stop(proc)
    assert not running_path(data).exists()
    text = output.read_text()
    assert proc.returncode in (0, 130) and "Traceback" not in text, text[-2000:]  # 130: ended by Ctrl-C
    assert f"NATS          {nats_url}   Temporal  {temporal_address}" in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    banner = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    assert banner[0].startswith("Souk is running") and len(banner) == 6, banner  # the rest is log lines, all JSON
    # the libraries' lines too (uvicorn's here), not only Souk's own
    assert {"event": "Application shutdown complete.", "logger": "uvicorn.error", "level": "info"} in [
        {k: line.get(k) for k in ("event", "logger", "level")} for line in lines
    ]
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert [(line["event"], line["path"], line["status"]) for line in mine] == [("request", "/api/v1/api-keys", 200)]


def test_two_instances_side_by_side(tmp_path: Path):
    ports = [find_free_port(), find_free_port()]
    procs = [start(tmp_path / f"d{i}", p) for i, p in enumerate(ports)]
    try:
        for p, proc in zip(ports, procs, strict=True):
            wait_ready(p, proc)
    finally:
        for proc in procs:
            stop(proc)
