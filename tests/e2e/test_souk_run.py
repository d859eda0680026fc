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

from souk.bus.embedded import find_free_port

pytestmark = pytest.mark.e2e


def start(data_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "SOUK_DATA_DIR": str(data_dir), "SOUK_PORT": str(port), "COLUMNS": "200"}
    env.pop("SOUK_NATS_URL", None)
    env.pop("SOUK_TEMPORAL_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "souk.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 90) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
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


def demo_inbox(port: int, key: str) -> dict:
    """What the demo tenant's inbox holds: channel types, conversations, answers read, conversations waiting."""
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers={"X-API-Key": key})
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


def test_run_serves_then_stops_everything_and_reuses_data(tmp_path: Path):
    data = tmp_path / "data"
    port = find_free_port()
    proc = start(data, port)
    try:
        seconds = wait_ready(port, proc)
        print(f"souk run ready in {seconds:.1f}s")
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
        assert set(inbox["channels"]) == {"whatsapp", "telegram", "messenger", "instagram", "waha"}, inbox
        assert inbox["conversations"] >= 10 and inbox["read"] and inbox["waiting"], inbox
    finally:
        out = stop(proc)
    assert creds["api_key"] in out and creds["password"] in out and f"127.0.0.1:{port}" in out

    # a second run reuses the data: same credentials, no duplicate demo tenant
    proc = start(data, port)
    try:
        wait_ready(port, proc)
        again = json.loads((data / "demo-credentials.json").read_text())
        assert again == creds
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/api-keys", headers={"X-API-Key": creds["api_key"]})
        assert r.json()["total"] == 1
        assert demo_inbox(port, creds["api_key"]) == inbox  # loaded once
    finally:
        stop(proc)


def test_two_instances_side_by_side(tmp_path: Path):
    ports = [find_free_port(), find_free_port()]
    procs = [start(tmp_path / f"d{i}", p) for i, p in enumerate(ports)]
    try:
        for p, proc in zip(ports, procs, strict=True):
            wait_ready(p, proc)
    finally:
        for proc in procs:
            stop(proc)
