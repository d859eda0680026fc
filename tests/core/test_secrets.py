"""Secrets are encrypted at rest; rotation re-encrypts every value; the raw database holds no secret in clear."""

from __future__ import annotations

import asyncio
import os
import stat
import uuid

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from souk.core.rotation import encrypted_columns
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


async def _stored_secrets(app) -> dict[tuple[str, str, str], str]:
    """Every encrypted value as the database holds it, by (table, column, row id)."""
    found = {}
    async with app.state.db.engine.connect() as conn:
        for table, column in encrypted_columns():
            rows = await conn.execute(text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"))
            found.update({(table, column, str(row_id)): stored for row_id, stored in rows})
    return found


async def _dump(app) -> str:
    from souk.db.registry import load_models

    dump = []
    async with app.state.db.engine.connect() as conn:
        for table in load_models().metadata.sorted_tables:
            name = f"{table.schema}.{table.name}" if table.schema and conn.dialect.name == "postgresql" else table.name
            dump.append(repr((await conn.execute(text(f"SELECT * FROM {name}"))).all()))
    return "\n".join(dump)


async def test_secrets_rotate_reencrypts_everything_and_it_decrypts_with_the_new_key_alone(app, client, tenant, db_url):
    """`souk secrets rotate` itself, on both databases: a channel's credentials, an outgoing webhook's secret and a
    sensitive setting are re-encrypted and the old key leaves the key file; with only the new key in force the API
    still shows them (masked, so decrypted), they decrypt to what was stored, and none is in the database in clear."""
    from souk.automation.models import WebhookSubscription
    from souk.channels.models import Channel
    from souk.cli import app as cli
    from souk.core import service

    bot_token = "987654321:AAH-rotated-token-never-in-clear_00"
    config = {"botToken": bot_token, "apiBaseURL": "http://127.0.0.1:1"}
    channel = await client.post(
        "/api/v1/channels", json={"name": "tg", "channel_type": "telegram", "config": config}, headers=tenant.headers
    )
    assert channel.status_code == 201, channel.text
    hook = {"url": "https://erp.example.com/souk-events", "events": ["order.*"]}
    subscription = await client.post("/api/v1/webhooks", json=hook, headers=tenant.headers)
    assert subscription.status_code == 201, subscription.text
    setting = await client.put(
        "/api/v1/settings/ai_api_key", json={"value": SECRET, "is_sensitive": True}, headers=tenant.headers
    )
    assert setting.status_code in (200, 201), setting.text
    channel_id, hook_id, hook_secret = channel.json()["id"], subscription.json()["id"], subscription.json()["secret"]
    before = await _stored_secrets(app)
    data_dir = app.state.settings.data_dir
    old_keys = load_keys(None, data_dir, create=False)

    env = {"SOUK_DATABASE_URL": db_url, "SOUK_DATA_DIR": str(data_dir), "SOUK_SECRET_KEY": None}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["secrets", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    assert f"re-encrypted {len(before)} secrets" in result.output
    new_keys = load_keys(None, data_dir, create=False)
    assert len(new_keys) == 1 and new_keys[0] not in old_keys

    install_keyring(new_keys)  # what the next start of Souk reads: the old key is gone
    try:
        after = await _stored_secrets(app)
        assert after.keys() == before.keys() and not [k for k in after if after[k] == before[k]]
        got = (await client.get(f"/api/v1/channels/{channel_id}", headers=tenant.headers)).json()
        assert got["config"]["botToken"] == mask(bot_token)
        got = (await client.get(f"/api/v1/webhooks/{hook_id}", headers=tenant.headers)).json()
        assert got["secret"] == mask(hook_secret)
        got = (await client.get("/api/v1/settings/ai_api_key", headers=tenant.headers)).json()
        assert got["value"] == mask(SECRET)
        async with app.state.db.tenant_session(tenant.id) as s:
            assert (await s.get(Channel, uuid.UUID(channel_id))).secrets["botToken"] == bot_token
            assert (await s.get(WebhookSubscription, uuid.UUID(hook_id))).secret == hook_secret
            assert await service.setting(s, "ai_api_key") == SECRET
        dump = await _dump(app)
        assert not [n for n in (bot_token, hook_secret, SECRET) if n in dump]
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
