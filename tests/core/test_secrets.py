"""Secrets are encrypted at rest; rotation re-encrypts every value; the raw database holds no secret in clear."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from souk.core.rotation import reencrypt_all
from souk.core.secrets import Keyring, SecretsError, generate_key, install_keyring, key_file, load_keys, mask
from tests.conftest import make_tenant

SECRET = "EAAxSuperSecretPageToken4f2c"


def test_generated_key_file_is_private(tmp_path):
    keys = load_keys(None, tmp_path)
    path = key_file(tmp_path)
    assert len(keys) == 1 and path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keys(None, tmp_path) == keys  # reused, not regenerated


def test_wrong_key_fails_with_a_clear_message():
    with pytest.raises(SecretsError, match="not a valid key"):
        Keyring(["short"])
    a, b = Keyring([generate_key()]), Keyring([generate_key()])
    with pytest.raises(SecretsError, match="wrong or rotated-away"):
        b.decrypt(a.encrypt("x"))


def test_mask():
    assert mask("EAAxxxxxxxxxxxxx4f2c") == "EAAx…4f2c"
    assert SECRET not in mask(SECRET)


async def test_raw_database_holds_no_secret_in_clear(app, db_url):
    t = await make_tenant(app, "alpha")
    from souk.core import service

    async with app.state.db.tenant_session(t.id) as s:
        await service.put_setting(s, "page_token", SECRET, is_sensitive=True)
    if db_url.startswith("sqlite"):
        await app.state.db.engine.dispose()  # checkpoint the WAL so the file holds everything
        path = db_url.split("///", 1)[1]
        raw = b""
        for suffix in ("", "-wal"):
            if os.path.exists(path + suffix):
                with open(path + suffix, "rb") as fh:
                    raw += fh.read()
        assert SECRET.encode() not in raw
    async with app.state.db.engine.connect() as conn:
        dump = (await conn.execute(text("SELECT * FROM app_settings"))).all()
    assert SECRET not in repr(dump)


async def test_rotation_reencrypts_everything(app, db_url):
    t = await make_tenant(app, "alpha")
    from souk.core import service

    async with app.state.db.tenant_session(t.id) as s:
        for i in range(3):
            await service.put_setting(s, f"s{i}", f"{SECRET}{i}", is_sensitive=True)
    async with app.state.db.engine.connect() as conn:
        before = set((await conn.execute(text("SELECT secret_value FROM app_settings"))).scalars())
    old_keys = list(__import__("souk.core.secrets", fromlist=["keyring"]).keyring().keys)
    new = generate_key()
    done = await reencrypt_all(db_url, Keyring([new, *old_keys]))
    assert done == 3
    install_keyring([new])  # the old key is gone: values must still decrypt
    try:
        async with app.state.db.tenant_session(t.id) as s:
            assert await service.setting(s, "s1") == f"{SECRET}1"
        async with app.state.db.engine.connect() as conn:
            after = set((await conn.execute(text("SELECT secret_value FROM app_settings"))).scalars())
        assert not (before & after)
    finally:
        install_keyring(old_keys)


async def test_no_table_holds_a_channel_credential_api_key_or_sensitive_setting_in_clear(app, client, tenant):
    """Every row of every table, on both databases: channel credentials, API keys and sensitive settings are only
    ever stored encrypted (or hashed)."""
    from souk.db.registry import load_models

    bot_token = "987654321:AAH-clear-text-must-not-be-stored_00"
    body = {
        "name": "tg",
        "channel_type": "telegram",
        "config": {"botToken": bot_token, "apiBaseURL": "http://127.0.0.1:1"},
    }
    assert (await client.post("/api/v1/channels", json=body, headers=tenant.headers)).status_code == 201
    r = await client.put(
        "/api/v1/settings/ai_api_key", json={"value": SECRET, "is_sensitive": True}, headers=tenant.headers
    )
    assert r.status_code in (200, 201)
    r = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    new_key = r.json()["key"]
    needles = [bot_token, SECRET, new_key, tenant.key]
    async with app.state.db.engine.connect() as conn:
        for table in load_models().metadata.sorted_tables:
            name = f"{table.schema}.{table.name}" if table.schema and conn.dialect.name == "postgresql" else table.name
            rows = (await conn.execute(text(f"SELECT * FROM {name}"))).all()
            dump = repr(rows)
            assert not [n for n in needles if n in dump], f"{table.name} holds a secret in clear"


async def test_postgresql_data_files_hold_no_secret_in_clear(app, client, tenant, db_url):
    """At rest on PostgreSQL: after a CHECKPOINT, the database's relation files and the WAL written during the test
    hold the channel's name in clear (proof the scan reads the data) but none of its credentials, the sensitive
    setting or an API key. SQLite's file is read the same way in test_raw_database_holds_no_secret_in_clear."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's data files; SQLite's are read by test_raw_database_holds_no_secret_in_clear")
    import time
    import uuid
    from pathlib import Path

    started = time.time() - 2
    tag = uuid.uuid4().hex
    marker = f"at-rest-marker-{tag}"
    bot_token = f"987654321:AAH-at-rest-{tag}"
    setting = f"EAAxAtRest{tag}"
    body = {
        "name": marker,
        "channel_type": "telegram",
        "config": {"botToken": bot_token, "apiBaseURL": "http://127.0.0.1:1"},
    }
    assert (await client.post("/api/v1/channels", json=body, headers=tenant.headers)).status_code == 201
    r = await client.put(
        "/api/v1/settings/ai_api_key", json={"value": setting, "is_sensitive": True}, headers=tenant.headers
    )
    assert r.status_code in (200, 201)
    r = await client.post("/api/v1/api-keys", json={"name": "at-rest"}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    needles = [bot_token, setting, r.json()["key"], tenant.key]

    async with app.state.db.engine.connect() as conn:
        await conn.execute(text("CHECKPOINT"))  # every dirty page written to the relation files
        data_dir = Path(await conn.scalar(text("SELECT current_setting('data_directory')")))
        oid = await conn.scalar(text("SELECT oid FROM pg_database WHERE datname = current_database()"))
    if not (data_dir / "base" / str(oid)).is_dir():
        pytest.skip("the PostgreSQL server's data directory is not on this machine")
    files = [p for p in (data_dir / "base" / str(oid)).iterdir() if p.is_file()]
    files += [p for p in (data_dir / "pg_wal").iterdir() if p.is_file() and p.stat().st_mtime >= started]
    raw = b"".join(p.read_bytes() for p in files)
    assert marker.encode() in raw, "the scan does not see the data it should"
    assert not [n for n in needles if n.encode() in raw], "a secret is stored in clear in PostgreSQL's files"
