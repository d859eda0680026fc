"""Activation, QR refresh and the session lifecycle against the fake WAHA (seed 004)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from souk.channels import waha as waha_service
from souk.db.types import utcnow
from tests.channels.conftest import configs, fakes  # noqa: F401 - the session-wide fakes for other channel types
from tests.channels.waha.conftest import create_waha_channel, load_channel
from tests.support.webhooks import wait_idle


async def test_activation_answers_the_seed_body_and_registers_the_signed_webhook(client, tenant, app, waha):
    channel = await create_waha_channel(client, tenant, waha)
    r = await client.post(
        f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers, json={"session_id": "shop"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "success",
        "qr_code",
        "qr_code_expires_at",
        "qr_code_expires_in",
        "session_status",
        "message",
    }
    assert body["success"] is True
    assert body["qr_code"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert body["session_status"] == "SCAN_QR_CODE"
    assert body["message"] == "Scan QR code with WhatsApp mobile app"
    expires = datetime.fromisoformat(body["qr_code_expires_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=55) < expires - utcnow() <= timedelta(seconds=60)
    assert 55 <= body["qr_code_expires_in"] <= 60  # the countdown a browser shows, whatever its own clock says

    stored = await load_channel(app, channel["id"])
    assert stored.status == "connecting"
    assert stored.config["sessionID"] == "shop"
    assert stored.config["sessionStatus"] == "SCAN_QR_CODE"
    assert waha_service.is_qr_code_valid(stored.config)
    hook = waha.sessions["shop"].config["webhooks"][0]
    assert hook["url"] == f"http://127.0.0.1:8000/webhooks/waha/{channel['id']}"
    assert hook["hmac"]["key"] == stored.secrets["webhookSecret"]
    assert "session.status" in hook["events"]


async def test_activation_of_a_non_waha_channel_is_422(client, tenant, fakes):  # noqa: F811
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": "bot", "channel_type": "telegram", "config": configs(fakes)["telegram"]},
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/channels/{r.json()['id']}/activate-waha", headers=tenant.headers, json={})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "channel_id"


async def test_activation_refuses_unknown_fields(client, tenant, waha):
    channel = await create_waha_channel(client, tenant, waha)
    r = await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers, json={"x": 1})
    assert r.status_code == 422


@pytest.mark.parametrize("breakage", ["wrong_key", "unreachable"])
async def test_waha_failure_is_502_and_the_channel_goes_to_error(client, tenant, app, waha, breakage):
    config = {"auth": {"type": "api_key", "apiKey": "wrong"}} if breakage == "wrong_key" else {}
    if breakage == "unreachable":
        config["baseURL"] = "http://127.0.0.1:9"
    channel = await create_waha_channel(client, tenant, waha, **config)
    r = await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers, json={})
    assert r.status_code == 502, r.text
    detail = r.json()["detail"]
    assert ("HTTP 401" in detail and "Unauthorized" in detail) if breakage == "wrong_key" else "unreachable" in detail
    stored = await load_channel(app, channel["id"])
    assert stored.status == "error"
    assert stored.last_error and ("401" in stored.last_error or "unreachable" in stored.last_error)


async def test_session_lifecycle_from_signed_session_status_webhooks(client, tenant, app, waha):
    channel = await create_waha_channel(client, tenant, waha)
    r = await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers, json={})
    assert r.status_code == 200, r.text

    async def deliver(status: str | None = None, data=None):
        if status:
            waha.sessions["default"].set_status(status)
        (response,) = await waha.emit("session.status", waha.session_status_payload(data=data), client=client)
        assert response.status_code == 200, response.text
        await wait_idle(app)
        return await load_channel(app, channel["id"])

    stored = await deliver("STARTING")
    assert (stored.status, stored.config["sessionStatus"]) == ("connecting", "STARTING")

    waha.mark_working()
    stored = await deliver()
    assert (stored.status, stored.config["sessionStatus"]) == ("active", "WORKING")
    assert "qrCode" not in stored.config and not waha_service.is_qr_code_valid(stored.config)

    waha.mark_failed()
    stored = await deliver(data={"error": "Connection Failure: stream errored out"})
    assert stored.status == "error"
    assert stored.last_error == "WAHA session FAILED: Connection Failure: stream errored out"  # WAHA's own words

    stored = await deliver("STOPPED")
    assert stored.status == "disconnected"

    stored = await deliver("UNAUTHORIZED")  # seed 004's status
    assert stored.status == "error"
    assert stored.last_error == "WAHA session UNAUTHORIZED (after FAILED → STOPPED)"  # no detail: what led to it

    stored = await deliver("STARTING")  # started again: out of error
    assert (stored.status, stored.config["sessionStatus"]) == ("connecting", "STARTING")


async def test_a_rotated_qr_code_is_dropped_then_fetched_again(client, tenant, app, waha):
    channel = await create_waha_channel(client, tenant, waha)
    first = (await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers)).json()
    # the SCAN_QR_CODE of the start itself, delivered late, is older than the stored code: it stays
    (response,) = await waha.emit("session.status", waha.session_status_payload(), client=client)
    assert response.status_code == 200
    await wait_idle(app)
    assert (await load_channel(app, channel["id"])).config["qrCode"] == first["qr_code"]

    waha.rotate_qr()  # WhatsApp replaced the code: WAHA says SCAN_QR_CODE again
    (response,) = await waha.emit("session.status", waha.session_status_payload(), client=client)
    assert response.status_code == 200
    await wait_idle(app)
    stored = await load_channel(app, channel["id"])
    assert "qrCode" not in stored.config and waha_service.needs_new_qr_code(stored.config)
    async with httpx.AsyncClient() as http:
        await waha_service.check_all_sessions(app.state.db, http)
    stored = await load_channel(app, channel["id"])
    assert waha_service.is_qr_code_valid(stored.config) and stored.config["qrCode"] != first["qr_code"]
    assert stored.status == "connecting"


async def test_activation_meeting_a_failed_session_goes_to_error_and_the_check_recovers_it(client, tenant, app, waha):
    waha.add_session("default").fails_on_start = True
    channel = await create_waha_channel(client, tenant, waha)
    r = await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["session_status"], r.json()["qr_code"]) == ("FAILED", None)
    stored = await load_channel(app, channel["id"])
    assert (stored.status, stored.last_error) == ("error", "WAHA session FAILED")

    waha.mark_working()  # fixed on the WAHA side; no webhook arrives
    async with httpx.AsyncClient() as http:
        assert await waha_service.check_all_sessions(app.state.db, http) == 1
    assert (await load_channel(app, channel["id"])).status == "active"


async def test_a_forged_session_status_webhook_changes_nothing(client, tenant, app, waha):
    channel = await create_waha_channel(client, tenant, waha)
    await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers, json={})
    waha.mark_working()
    waha.sessions["default"].config["webhooks"][0]["hmac"]["key"] = "not-the-secret"
    (response,) = await waha.emit("session.status", waha.session_status_payload(), client=client)
    assert response.status_code == 401
    assert (await load_channel(app, channel["id"])).status == "connecting"


async def test_refresh_qr_gives_a_new_code_per_attempt_and_none_once_working(client, tenant, app, waha):
    channel = await create_waha_channel(client, tenant, waha)
    first = (await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers)).json()
    waha.rotate_qr()
    r = await client.post(f"/api/v1/channels/{channel['id']}/refresh-qr", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["qr_code"] != first["qr_code"] and r.json()["session_status"] == "SCAN_QR_CODE"

    waha.sessions["default"].set_status("STOPPED")  # a stopped session is started again, with a new QR
    r = await client.post(f"/api/v1/channels/{channel['id']}/refresh-qr", headers=tenant.headers)
    assert r.json()["session_status"] == "SCAN_QR_CODE" and r.json()["qr_code"]

    waha.mark_working()
    r = await client.post(f"/api/v1/channels/{channel['id']}/refresh-qr", headers=tenant.headers)
    assert r.json() | {"qr_code_expires_at": None} == {
        "success": True,
        "qr_code": None,
        "qr_code_expires_at": None,
        "qr_code_expires_in": None,
        "session_status": "WORKING",
        "message": "WhatsApp is already connected",
    }
    assert (await load_channel(app, channel["id"])).status == "active"


async def test_periodic_check_applies_a_status_whose_webhook_was_lost(client, tenant, app, waha):
    channel = await create_waha_channel(client, tenant, waha)
    await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers)
    waha.mark_working()  # no webhook delivered
    async with httpx.AsyncClient() as http:
        assert await waha_service.check_all_sessions(app.state.db, http) == 1
        assert (await load_channel(app, channel["id"])).status == "active"
        assert await waha_service.check_all_sessions(app.state.db, http) == 0
        waha.sessions.pop("default")  # WAHA forgot the session: STOPPED
        assert await waha_service.check_all_sessions(app.state.db, http) == 1
        assert (await load_channel(app, channel["id"])).status == "disconnected"
        waha.add_session("default", working=True)  # back: a disconnected channel is still checked, and recovers
        assert await waha_service.check_all_sessions(app.state.db, http) == 1
    assert (await load_channel(app, channel["id"])).status == "active"


def test_qr_validity_rules():
    now = utcnow()
    fresh = {
        "qrCode": "data:…",
        "qrCodeExpiresAt": (now + timedelta(seconds=30)).isoformat(),
        "sessionStatus": "SCAN_QR_CODE",
    }
    expired = {**fresh, "qrCodeExpiresAt": (now - timedelta(seconds=1)).isoformat()}
    assert waha_service.is_qr_code_valid(fresh, now) and not waha_service.needs_new_qr_code(fresh, now)
    assert not waha_service.is_qr_code_valid(expired, now) and waha_service.needs_new_qr_code(expired, now)
    assert not waha_service.is_qr_code_valid({}, now) and waha_service.needs_new_qr_code({}, now)
    assert not waha_service.is_qr_code_valid({**fresh, "qrCodeExpiresAt": None}, now)
    working = {"sessionStatus": "WORKING"}
    assert not waha_service.needs_new_qr_code(working, now)  # scanned: no QR needed
