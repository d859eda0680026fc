"""The `souk` command: help everywhere, config errors that name the variable, keys for scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SOUK = [sys.executable, "-m", "souk.cli"]


def souk(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*SOUK, *args], capture_output=True, text=True, env=full_env, timeout=120, input=input)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["api"],
        ["worker"],
        ["cluster"],
        ["migrate"],
        ["migrate", "upgrade"],
        ["demo"],
        ["users", "create"],
        ["api-keys", "create"],
        ["api-keys", "list"],
        ["api-keys", "revoke"],
        ["secrets", "rotate"],
        ["config", "show"],
        ["simulate"],
    ],
)
def test_every_command_has_help(command: list[str]):
    r = souk(*command, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout and len(r.stdout) > 200


def test_simulate_names_its_platforms_and_refuses_others(tmp_path: Path):
    r = souk("simulate", "--help", env={"COLUMNS": "200"})
    names = ("whatsapp", "telegram", "messenger", "instagram", "waha", "tiktok", "chotot", "--pause", "--nats-url")
    assert all(name in r.stdout for name in names)
    r = souk("simulate", "--platform", "zalo", "--api-key", "k", env={"SOUK_DATA_DIR": str(tmp_path)})
    assert r.returncode != 0 and "no simulated platform zalo" in r.stderr


def test_simulate_without_a_running_souk_says_what_to_do(tmp_path: Path):
    """A record left by a `souk run` that was killed (its pid is gone) does not count as a running Souk."""
    from souk.core.running import Running, write_running

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_running(tmp_path, Running(dead.pid, "http://127.0.0.1:9", "nats://127.0.0.1:9"))
    env = {k: v for k, v in os.environ.items() if k not in ("SOUK_HOST", "SOUK_PORT")}
    r = subprocess.run(
        [*SOUK, "simulate", "--api-key", "k"],
        capture_output=True,
        text=True,
        env={**env, "SOUK_DATA_DIR": str(tmp_path), "COLUMNS": "300"},
        timeout=120,
    )
    said = " ".join(r.stderr.split())
    assert r.returncode == 1 and f"no running `souk run` found in {tmp_path.resolve()}" in said, r.stderr
    assert "`make run`" in said and "--url/--nats-url" in said


def test_worker_names_its_tasks_and_refuses_an_unknown_one(tmp_path: Path):
    r = souk("worker", "--list")
    assert r.returncode == 0, r.stderr
    assert {"inbound", "inbound-sweeper", "outbox", "sender", "ai-responder"} <= set(r.stdout.split())
    r = souk("worker", "--only", "inbound,nope", env={"SOUK_DATA_DIR": str(tmp_path)})
    assert r.returncode == 1 and "no worker task nope" in r.stderr and "--list" in r.stderr


def test_wrong_config_value_names_the_variable(tmp_path: Path):
    r = souk("config", "show", env={"SOUK_PORT": "eighty", "SOUK_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2
    assert "SOUK_PORT" in r.stderr


def test_config_show_masks_secrets(tmp_path: Path):
    r = souk(
        "config",
        "show",
        env={
            "SOUK_SECRET_KEY": "supersecretvalue",
            "SOUK_DATA_DIR": str(tmp_path),
            "SOUK_DATABASE_URL": "postgresql://souk:hunter2@db/souk",
            "COLUMNS": "200",
        },
    )
    assert r.returncode == 0, r.stderr
    assert "supersecretvalue" not in r.stdout and "hunter2" not in r.stdout
    assert "SOUK_SECRET_KEY" in r.stdout


def test_toml_file_is_read(tmp_path: Path):
    (tmp_path / "souk.toml").write_text("port = 9123\n")
    r = subprocess.run(
        [*SOUK, "config", "show"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "SOUK_DATA_DIR": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert "9123" in r.stdout


def test_demo_users_and_keys_lifecycle(tmp_path: Path):
    env = {"SOUK_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    first = souk("demo", env=env)
    assert first.returncode == 0, first.stderr
    again = souk("demo", env=env)
    assert again.stdout == first.stdout  # same demo, no duplicate rows
    created = souk("api-keys", "create", "--tenant", "demo", "--name", "ci", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("souk_") and " " not in key
    listed = souk("api-keys", "list", "--tenant", "demo", env=env)
    assert key[:12] in listed.stdout and key not in listed.stdout
    key_id = next(line.split("│")[1].strip() for line in listed.stdout.splitlines() if " ci " in line)
    assert souk("api-keys", "revoke", key_id, env=env).returncode == 0
    assert souk("api-keys", "list", env=env).stdout != "-"
    user = souk("users", "create", "ann@demo.test", "--password", "longenough1", "--role", "agent", env=env)
    assert user.returncode == 0, user.stderr
    dup = souk("users", "create", "ann@demo.test", "--password", "longenough1", env=env)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    missing = souk("api-keys", "create", "--tenant", "nope", env=env)
    assert missing.returncode == 1 and "no tenant" in missing.stderr


def test_migrate_current_and_secrets_rotate(tmp_path: Path):
    env = {"SOUK_DATA_DIR": str(tmp_path)}
    assert souk("migrate", "upgrade", env=env).returncode == 0
    cur = souk("migrate", "current", env=env)
    assert "current:" in cur.stdout and "none" not in cur.stdout
    souk("demo", env=env)
    old_key = (tmp_path / "secret.key").read_text()
    r = souk("secrets", "rotate", env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "secret.key").read_text() != old_key
    # the demo still works after rotation: keys are hashed, settings re-encrypted
    assert souk("api-keys", "list", env=env).returncode == 0
