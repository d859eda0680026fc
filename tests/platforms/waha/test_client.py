"""The WAHA client against the fake WAHA server (tests/support/fakes/waha.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from souk.platforms.base import Message, SessionStatus
from souk.platforms.plugin import PlatformError
from souk.platforms.waha import PLATFORM
from souk.platforms.waha.client import WAHAClient, message_id_from_response
from tests.support.fakes.waha import FakeWAHA, post_webhook, wamessage

API_KEY = "waha-test-key"
HOOK_URL = "https://souk.example.com/webhooks/waha/ch_01"
HOOK_KEY = "whsec-0123456789"
CUSTOMER = "15551234567@c.us"


@pytest.fixture
def fake() -> Iterator[FakeWAHA]:
    with FakeWAHA(api_key=API_KEY) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        yield client


def _client(fake: FakeWAHA, http: httpx.AsyncClient, auth: dict[str, Any] | None = None, **config: Any) -> WAHAClient:
    client = PLATFORM.client(
        {"baseURL": fake.url + "/", "sessionID": "default", **config},
        {"auth": auth or {"type": "api_key", "apiKey": API_KEY}, "webhookSecret": HOOK_KEY},
        http,
    )
    assert isinstance(client, WAHAClient)
    return client


# -- auth and channel info -------------------------------------------------------------------------------------


async def test_get_channel_info_reports_the_logged_in_account(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    info = await _client(fake, http).get_channel_info()
    assert info.external_id == "15550009999@c.us" and info.name == "Souk Shop"
    assert info.details == {
        "session": "default",
        "status": "WORKING",
        "engine": "WEBJS",
        "me": {"id": "15550009999@c.us", "pushName": "Souk Shop"},
    }
    (request,) = fake.requests
    assert (request.method, request.path, request.headers["x-api-key"]) == ("GET", "/api/sessions/default", API_KEY)


async def test_wrong_api_key_is_a_non_retryable_401(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    with pytest.raises(PlatformError) as err:
        await _client(fake, http, {"type": "api_key", "apiKey": "nope"}).get_channel_info()
    assert (err.value.status, err.value.retryable) == (401, False)
    assert "Unauthorized" in err.value.message


async def test_basic_auth(http: httpx.AsyncClient) -> None:
    with FakeWAHA(api_key=None, basic=("admin", "s3cret")) as fake:
        fake.add_session(working=True)
        good = {"type": "basic", "username": "admin", "password": "s3cret"}
        assert (await _client(fake, http, good).get_channel_info()).name == "Souk Shop"
        assert fake.requests[0].headers["authorization"].startswith("Basic ")
        with pytest.raises(PlatformError) as err:
            await _client(fake, http, {**good, "password": "wrong"}).get_channel_info()
        assert err.value.status == 401


async def test_missing_session_is_404(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_channel_info()
    assert (err.value.status, err.value.code, err.value.retryable) == (404, "Not Found", False)


async def test_server_errors_are_retryable(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.respond(
        "GET",
        "/api/sessions/default",
        500,
        json={"statusCode": 500, "exception": {"message": "Evaluation failed", "name": "Error"}},
    )
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_channel_info()
    assert (err.value.status, err.value.retryable, err.value.code) == (500, True, "Error")
    assert "Evaluation failed" in err.value.message


async def test_rate_limit_honours_retry_after(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.respond(
        "GET",
        "/api/sessions/default",
        429,
        json={"statusCode": 429, "message": "Too Many Requests"},
        headers={"Retry-After": "7"},
    )
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_channel_info()
    assert (err.value.retryable, err.value.retry_after) == (True, 7.0)


async def test_network_error_is_retryable(http: httpx.AsyncClient) -> None:
    with FakeWAHA() as fake:
        url = fake.url
    client = PLATFORM.client(
        {"baseURL": url, "sessionID": "default"}, {"auth": {"type": "api_key", "apiKey": "k"}}, http
    )
    with pytest.raises(PlatformError) as err:
        await client.get_channel_info()
    assert (err.value.retryable, err.value.code) == (True, "network")


# -- sessions and QR --------------------------------------------------------------------------------------------


async def test_create_session_registers_the_signed_webhook(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    session = await _client(fake, http).create_or_start_session(HOOK_URL, HOOK_KEY, {"souk.channel": "ch_01"})
    assert session["status"] == "STARTING"
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/api/sessions")
    assert request.json["name"] == "default" and request.json["start"] is True
    config = request.json["config"]
    assert config["webhooks"] == [
        {
            "url": HOOK_URL,
            "events": [
                "message",
                "message.any",
                "message.reaction",
                "message.ack",
                "message.edited",
                "message.revoked",
                "session.status",
                "presence.update",
            ],
            "hmac": {"key": HOOK_KEY},
            "retries": {"policy": "exponential", "delaySeconds": 2, "attempts": 15},
        }
    ]
    assert config["metadata"] == {"souk.channel": "ch_01"}
    assert config["noweb"] == {"store": {"enabled": True, "fullSync": False}}
    assert fake.sessions["default"].status == "SCAN_QR_CODE"


async def test_existing_session_is_updated_and_started(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(config={"proxy": {"server": "proxy:3128"}, "metadata": {"team": "sales"}})
    session = await _client(fake, http, importStrategy="all").create_or_start_session(HOOK_URL, HOOK_KEY)
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/api/sessions"),
        ("GET", "/api/sessions/default"),
        ("PUT", "/api/sessions/default"),
        ("POST", "/api/sessions/default/start"),
    ]
    put = fake.requests[2].json
    assert put["config"]["proxy"] == {"server": "proxy:3128"}  # the rest of the config is kept
    assert put["config"]["metadata"] == {"team": "sales"}
    assert put["config"]["webhooks"][0]["hmac"] == {"key": HOOK_KEY}
    assert put["config"]["noweb"]["store"]["fullSync"] is True
    assert session["status"] == "SCAN_QR_CODE"


async def test_create_refused_for_another_reason_is_reported(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.respond(
        "POST",
        "/api/sessions",
        422,
        json={
            "statusCode": 422,
            "message": "WAHA Core support only 'default' session.",
            "error": "Unprocessable Entity",
        },
    )
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).create_or_start_session(HOOK_URL, HOOK_KEY)
    assert err.value.status == 422 and "only 'default'" in err.value.message


async def test_get_qr_returns_a_png_data_uri(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    client = _client(fake, http)
    await client.create_or_start_session(HOOK_URL, HOOK_KEY)
    qr = await client.get_qr()
    prefix = "data:image/png;base64,"
    assert qr.startswith(prefix)
    assert base64.b64decode(qr[len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")
    assert fake.requests[-1].headers["accept"] == "application/json"
    fake.rotate_qr()
    assert await client.get_qr() != qr


async def test_get_qr_accepts_a_binary_png_answer() -> None:
    """Versions that ignore ``Accept: application/json`` answer the PNG itself."""
    png = b"\x89PNG\r\n\x1a\nfake"
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=png, headers={"Content-Type": "image/png"})
    )
    async with httpx.AsyncClient(transport=transport) as http:
        client = PLATFORM.client(
            {"baseURL": "http://waha", "sessionID": "default"}, {"auth": {"type": "api_key", "apiKey": API_KEY}}, http
        )
        qr = await client.get_qr()
    assert qr == "data:image/png;base64," + base64.b64encode(png).decode()


async def test_get_qr_when_already_working_is_refused(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_qr()
    assert err.value.status == 422 and "SCAN_QR_CODE" in err.value.message


async def test_session_lifecycle_helpers(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    client = _client(fake, http)
    await client.create_or_start_session(HOOK_URL, HOOK_KEY)
    assert await client.session_status() == "SCAN_QR_CODE"
    fake.mark_working()
    assert await client.session_status() == "WORKING"
    assert (await client.stop_session())["status"] == "STOPPED"
    assert (await client.restart_session())["status"] == "WORKING"
    assert (await client.logout_session())["status"] == "SCAN_QR_CODE"
    assert fake.sessions["default"].me is None


async def test_configure_webhook_updates_an_existing_session(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    """Souk's earlier webhook for the channel (here under another base URL) is replaced; someone else's is kept."""
    earlier = "https://old.example" + urlsplit(HOOK_URL).path
    hooks = [{"url": "https://old", "events": ["message"]}, {"url": earlier, "events": ["message"]}]
    fake.add_session(working=True, config={"webhooks": hooks})
    await _client(fake, http).configure_webhook(HOOK_URL, HOOK_KEY)
    put = fake.requests_to("PUT", "/api/sessions/default")[0].json
    assert [hook["url"] for hook in put["config"]["webhooks"]] == ["https://old", HOOK_URL]
    assert fake.sessions["default"].config["webhooks"][1]["hmac"]["key"] == HOOK_KEY


async def test_a_channel_verified_by_api_key_registers_the_header_instead_of_an_hmac(
    fake: FakeWAHA, http: httpx.AsyncClient
) -> None:
    fake.add_session()
    await _client(fake, http, webhookVerification="api_key").configure_webhook(HOOK_URL, HOOK_KEY)
    [hook] = fake.sessions["default"].config["webhooks"]
    assert "hmac" not in hook and hook["customHeaders"] == [{"name": "X-Api-Key", "value": API_KEY}]
    basic = {"type": "basic", "username": "u", "password": "p"}  # no API key: the webhook secret is the key
    hook = _client(fake, http, basic, webhookVerification="api_key").webhook_config(HOOK_URL, HOOK_KEY)
    assert hook["customHeaders"] == [{"name": "X-Api-Key", "value": HOOK_KEY}]


async def test_configure_webhook_creates_a_missing_session_without_starting(
    fake: FakeWAHA, http: httpx.AsyncClient
) -> None:
    await _client(fake, http).configure_webhook(HOOK_URL, HOOK_KEY)
    create = fake.requests_to("POST", "/api/sessions")[0].json
    assert create["start"] is False and create["config"]["webhooks"][0]["url"] == HOOK_URL
    assert fake.sessions["default"].status == "STOPPED"


async def test_delete_webhook_removes_only_souks(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    theirs = {"url": "https://crm.example/hook", "events": ["message"]}
    fake.add_session(
        working=True, config={"webhooks": [theirs, {"url": HOOK_URL, "events": ["message"]}], "debug": True}
    )
    await _client(fake, http).delete_webhook(HOOK_URL)
    assert fake.sessions["default"].config == {"webhooks": [theirs], "debug": True}
    await _client(fake, http).delete_webhook(HOOK_URL)  # nothing of Souk's left: the session is not touched
    assert len(fake.requests_to("PUT", "/api/sessions/default")) == 1


# -- sending ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["webjs", "webjs_string", "noweb"])
async def test_send_text_returns_the_message_id_for_every_engine(http: httpx.AsyncClient, style: str) -> None:
    with FakeWAHA(api_key=API_KEY, send_style=style) as fake:  # type: ignore[arg-type]
        fake.add_session(working=True)
        result = await _client(fake, http).send_message("", CUSTOMER, {"type": "text", "text": "Hello!"})
        (sent,) = fake.sent
        assert result.external_id == sent["id"]
        assert result.external_id.startswith(f"true_{CUSTOMER}_3EB0")
        body = fake.requests_to("POST", "/api/sendText")[0].json
        assert body == {"session": "default", "chatId": CUSTOMER, "text": "Hello!"}


async def test_send_with_empty_answer_has_no_id(http: httpx.AsyncClient) -> None:
    with FakeWAHA(api_key=API_KEY, send_style="empty") as fake:
        fake.add_session(working=True)
        result = await _client(fake, http).send_message("", CUSTOMER, {"type": "text", "text": "Hi"})
        assert (result.external_id, result.raw) == (None, {})
        assert len(fake.sent) == 1


async def test_send_reply(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    target = f"false_{CUSTOMER}_3EB0C767D26A1D8E7F41"
    await _client(fake, http).send_message("", CUSTOMER, {"type": "text", "text": "Sure", "reply_to": target})
    assert fake.requests[-1].json["reply_to"] == target


async def test_send_image(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    content = {
        "type": "image",
        "url": "https://cdn.example.com/jacket.jpg",
        "mimetype": "image/jpeg",
        "caption": "The blue one",
    }
    result = await _client(fake, http).send_message("", CUSTOMER, content)
    body = fake.requests_to("POST", "/api/sendImage")[0].json
    assert body == {
        "session": "default",
        "chatId": CUSTOMER,
        "caption": "The blue one",
        "file": {"url": "https://cdn.example.com/jacket.jpg", "mimetype": "image/jpeg"},
    }
    assert result.external_id == fake.sent[0]["id"]


async def test_send_document_as_file(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    data = base64.b64encode(b"%PDF-1.4").decode()
    content = {"type": "document", "media": {"data": data, "mimetype": "application/pdf", "filename": "a.pdf"}}
    await _client(fake, http).send_message("", CUSTOMER, content)
    body = fake.requests_to("POST", "/api/sendFile")[0].json
    assert body["file"] == {"data": data, "mimetype": "application/pdf", "filename": "a.pdf"}
    assert fake.sent[0]["media"]["filename"] == "a.pdf"


async def test_send_media_without_source_is_refused_locally(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).send_message("", CUSTOMER, {"type": "image", "mimetype": "image/jpeg"})
    assert err.value.code == "invalid_content" and fake.requests == []


async def test_send_unsupported_content(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).send_message("", CUSTOMER, {"type": "poll", "url": "x"})
    assert err.value.code == "unsupported_content"


async def test_send_while_not_logged_in_is_refused(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session()
    fake.sessions["default"].start()
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).send_message("", CUSTOMER, {"type": "text", "text": "Hi"})
    assert (err.value.status, err.value.retryable) == (422, False)
    assert "SCAN_QR_CODE" in err.value.message


async def test_validation_errors_are_joined(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.respond(
        "POST",
        "/api/sendText",
        400,
        json={
            "statusCode": 400,
            "message": ["chatId must be a string", "text must be a string"],
            "error": "Bad Request",
        },
    )
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).send_message("", CUSTOMER, {"type": "text", "text": "x"})
    assert "chatId must be a string; text must be a string" in err.value.message
    assert err.value.code == "Bad Request"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"id": "true_1@c.us_AAA"}, "true_1@c.us_AAA"),
        ({"id": {"_serialized": "true_2@g.us_BBB_3@c.us"}}, "true_2@g.us_BBB"),
        ({"key": {"remoteJid": "4@s.whatsapp.net", "fromMe": True, "id": "CCC"}}, "true_4@c.us_CCC"),
        ({"key": {"id": "DDD"}}, "true_5@c.us_DDD"),
        ({"_data": {"id": {"_serialized": "true_5@c.us_EEE"}}}, "true_5@c.us_EEE"),
        ({}, None),
        (None, None),
        ([], None),
    ],
)
def test_message_id_from_response(data: Any, expected: str | None) -> None:
    assert message_id_from_response(data, "5@c.us") == expected


# -- chats and history ------------------------------------------------------------------------------------------


async def test_list_chats(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    fake.add_chat("15551110001@c.us", 2, start_ts=1_700_000_000)
    fake.add_chat("15551110002@c.us", 2, start_ts=1_700_100_000)
    fake.add_chat("120363000000000001@g.us", 1, start_ts=1_700_050_000, name="Buyers")
    chats = await _client(fake, http).list_chats(limit=2, offset=0)
    assert [chat["id"] for chat in chats] == ["15551110002@c.us", "120363000000000001@g.us"]
    rest = await _client(fake, http).list_chats(limit=2, offset=2)
    assert [chat["id"] for chat in rest] == ["15551110001@c.us"]
    assert fake.requests[0].path == "/api/default/chats"


async def test_list_chat_messages_encodes_the_chat_id_and_pages(fake: FakeWAHA) -> None:
    fake.add_session(working=True)
    fake.add_chat(CUSTOMER, 5, start_ts=1_700_000_000, step=60)
    raw_paths: list[bytes] = []

    async def record(request: httpx.Request) -> None:
        raw_paths.append(request.url.raw_path)

    async with httpx.AsyncClient(trust_env=False, event_hooks={"request": [record]}) as http:
        client = _client(fake, http)
        first = await client.list_chat_messages(CUSTOMER, limit=2, offset=0)
        second = await client.list_chat_messages(CUSTOMER, limit=2, offset=2)
        since = await client.list_chat_messages(CUSTOMER, since=datetime.fromtimestamp(1_700_000_180, UTC))
    assert [m["body"] for m in first + second] == ["message 5", "message 4", "message 3", "message 2"]
    assert [m["body"] for m in since] == ["message 5", "message 4"]
    assert raw_paths[0].startswith(b"/api/default/chats/15551234567%40c.us/messages?")
    assert b"downloadMedia=false" in raw_paths[0] and b"limit=2" in raw_paths[0] and b"offset=0" in raw_paths[0]
    assert b"filter.timestamp.gte=1700000180" in raw_paths[2]


async def test_list_messages_before_a_time(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    fake.add_chat(CUSTOMER, 6, start_ts=1_700_000_000, step=60, from_me_every=3, name="Layla")
    messages = await _client(fake, http).list_messages(CUSTOMER, 10, datetime.fromtimestamp(1_700_000_240, UTC))
    assert [m.text for m in messages] == ["message 4", "message 3", "message 2", "message 1"]
    assert all(m.timestamp < datetime.fromtimestamp(1_700_000_240, UTC) for m in messages)
    assert messages[0].sender_id == CUSTOMER and messages[1].sender_id == fake.me_id
    assert messages[0].external_id == fake.messages(CUSTOMER)[3]["id"]


async def test_group_history_ids_are_normalized(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    fake.add_session(working=True)
    group = "120363000000000001@g.us"
    fake.add_chat(group, 2)
    messages = await _client(fake, http).list_messages(group, 10, None)
    assert all(m.external_id.count("_") == 2 for m in messages)
    assert {m.sender_id for m in messages} == {"15550000000@c.us", "15550000001@c.us"}


# -- webhooks from the fake -------------------------------------------------------------------------------------


def _capture() -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


async def test_post_webhook_is_signed_and_parses() -> None:
    client, seen = _capture()
    async with client:
        payload = wamessage(CUSTOMER, "Is it in stock?")
        await post_webhook(HOOK_URL, "message", payload, HOOK_KEY, client=client)
    (request,) = seen
    headers = {key.lower(): value for key, value in request.headers.items()}
    assert headers["x-webhook-hmac-algorithm"] == "sha512" and headers["x-webhook-request-id"]
    PLATFORM.verify(
        config={}, secrets={"webhookSecret": HOOK_KEY}, headers=headers, body=request.content, now=datetime.now(UTC)
    )
    (event,) = PLATFORM.parse(request.content, headers)
    assert isinstance(event, Message) and event.text == "Is it in stock?"
    assert PLATFORM.event_key(request.content, headers).startswith("waha:evt_")


async def test_emit_delivers_to_the_configured_webhook(fake: FakeWAHA, http: httpx.AsyncClient) -> None:
    await _client(fake, http).create_or_start_session(HOOK_URL, HOOK_KEY, {"souk.channel": "ch_01"})
    fake.mark_working()
    client, seen = _capture()
    async with client:
        await fake.emit("session.status", fake.session_status_payload(), client=client)
        await fake.emit("call.received", {"id": "call-1", "from": CUSTOMER}, client=client)  # not subscribed
    (request,) = seen
    headers = {key.lower(): value for key, value in request.headers.items()}
    PLATFORM.verify(
        config={}, secrets={"webhookSecret": HOOK_KEY}, headers=headers, body=request.content, now=datetime.now(UTC)
    )
    (event,) = PLATFORM.parse(request.content, headers)
    assert isinstance(event, SessionStatus) and event.status == "WORKING"
    assert event.detail["me"]["id"] == fake.me_id
    assert [s["status"] for s in event.detail["statuses"]] == ["STARTING", "SCAN_QR_CODE", "WORKING"]
