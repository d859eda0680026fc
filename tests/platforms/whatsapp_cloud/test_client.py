"""The WhatsApp Cloud API client against the fake Graph API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from souk.platforms.meta.graph import GraphError
from souk.platforms.plugin import PlatformError
from souk.platforms.whatsapp_cloud import PLATFORM
from souk.platforms.whatsapp_cloud.client import WhatsAppCloudClient
from tests.support.fakes.graph import FakeGraphServer

CUSTOMER = "16315551181"


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphServer]:
    with FakeGraphServer() as server:
        yield server


@pytest.fixture
async def http(graph: FakeGraphServer) -> AsyncIterator[httpx.AsyncClient]:
    graph.clear()
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        yield client


def make_client(
    graph: FakeGraphServer, http: httpx.AsyncClient, token: str = FakeGraphServer.TOKEN, **config: str
) -> WhatsAppCloudClient:
    config = {"phoneNumberID": graph.PHONE_NUMBER_ID, "graphBaseURL": graph.url, **config}
    client = PLATFORM.client(config, {"accessToken": token, "webhookSecret": "s"}, http)
    assert isinstance(client, WhatsAppCloudClient)
    return client


def messages_path(graph: FakeGraphServer) -> str:
    return f"/v21.0/{graph.PHONE_NUMBER_ID}/messages"


async def test_get_channel_info_looks_up_the_phone_number(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    info = await make_client(graph, http).get_channel_info("chan-1")
    assert info.external_id == graph.PHONE_NUMBER_ID
    assert info.name == graph.VERIFIED_NAME
    assert info.details["display_phone_number"] == graph.DISPLAY_PHONE_NUMBER
    (request,) = graph.requests
    assert (request.method, request.path) == ("GET", f"/v21.0/{graph.PHONE_NUMBER_ID}")
    assert request.headers["authorization"] == f"Bearer {graph.TOKEN}"


async def test_get_channel_info_with_a_wrong_token_is_not_retryable(
    graph: FakeGraphServer, http: httpx.AsyncClient
) -> None:
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http, token="EAAG-wrong").get_channel_info()
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (401, "190", False)
    assert caught.value.error_type == "OAuthException" and caught.value.fbtrace_id


async def test_configured_api_version_is_used(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    await make_client(graph, http, apiVersion="v17.0").get_channel_info()
    assert graph.requests[0].path == f"/v17.0/{graph.PHONE_NUMBER_ID}"


async def test_send_text_returns_the_wamid(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    result = await make_client(graph, http).send_message("chan-1", CUSTOMER, {"type": "text", "text": "Hello!"})
    (sent,) = graph.sent
    assert result.external_id == sent.message_id and result.external_id.startswith("wamid.")
    assert result.raw["messages"][0]["id"] == result.external_id
    assert sent.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": "Hello!", "preview_url": False},
    }


async def test_send_text_as_a_reply_with_a_marker(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    content = {"type": "text", "text": "Yes, size M", "reply_to": "wamid.QUOTED", "marker": "souk:out_1"}
    await make_client(graph, http).send_message("chan-1", CUSTOMER, content)
    body = graph.sent[0].body
    assert body["context"] == {"message_id": "wamid.QUOTED"}
    assert body["biz_opaque_callback_data"] == "souk:out_1"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"type": "image", "url": "https://cdn.example.com/a.jpg", "caption": "New"},
            {"type": "image", "image": {"link": "https://cdn.example.com/a.jpg", "caption": "New"}},
        ),
        (
            {"type": "document", "media_id": "123", "filename": "invoice.pdf", "caption": "Invoice"},
            {"type": "document", "document": {"id": "123", "caption": "Invoice", "filename": "invoice.pdf"}},
        ),
        (
            {"type": "audio", "media_id": "9", "caption": "dropped: audio has no caption"},
            {"type": "audio", "audio": {"id": "9"}},
        ),
        (
            {"type": "buttons", "text": "Size?", "buttons": [{"id": "m", "title": "M"}, {"id": "l", "title": "L"}]},
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Size?"},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": "m", "title": "M"}},
                            {"type": "reply", "reply": {"id": "l", "title": "L"}},
                        ]
                    },
                },
            },
        ),
        (
            {
                "type": "list",
                "text": "Shipping",
                "button": "Choose",
                "sections": [{"title": "Options", "rows": [{"id": "exp", "title": "Express"}]}],
            },
            {
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": "Shipping"},
                    "action": {
                        "button": "Choose",
                        "sections": [{"title": "Options", "rows": [{"id": "exp", "title": "Express"}]}],
                    },
                },
            },
        ),
        (
            {
                "type": "template",
                "name": "order_update",
                "language": "vi",
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "#42"}]}],
            },
            {
                "type": "template",
                "template": {
                    "name": "order_update",
                    "language": {"code": "vi"},
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": "#42"}]}],
                },
            },
        ),
        (
            {"type": "reaction", "message_id": "wamid.X", "emoji": "👍"},
            {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
        ),
        (
            {"type": "location", "latitude": 10.7, "longitude": 106.7, "name": "Shop"},
            {"type": "location", "location": {"latitude": 10.7, "longitude": 106.7, "name": "Shop"}},
        ),
    ],
)
async def test_richer_sends(graph: FakeGraphServer, http: httpx.AsyncClient, content: dict, expected: dict) -> None:
    result = await make_client(graph, http).send_message("chan-1", CUSTOMER, content)
    body = graph.sent[0].body
    assert {k: v for k, v in body.items() if k not in ("messaging_product", "recipient_type", "to")} == expected
    assert result.external_id == graph.sent[0].message_id


async def test_unknown_content_type_is_refused_before_calling(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as caught:
        await make_client(graph, http).send_message("chan-1", CUSTOMER, {"type": "hologram"})
    assert (caught.value.code, caught.value.retryable) == ("unsupported_content", False)
    with pytest.raises(PlatformError, match="text") as caught:
        await make_client(graph, http).send_message("chan-1", CUSTOMER, {"type": "text"})
    assert caught.value.code == "invalid_content"
    assert graph.requests == []


async def test_throughput_limit_is_retryable(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    graph.fail_next(
        "POST",
        messages_path(graph),
        code=130429,
        message="(#130429) Rate limit hit",
        details="Cloud API message throughput has been reached.",
    )
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http).send_message("chan-1", CUSTOMER, {"type": "text", "text": "hi"})
    error = caught.value
    assert (error.status, error.code, error.retryable) == (400, "130429", True)
    assert "throughput" in error.message
    assert graph.sent == []


async def test_outside_the_window_is_not_retryable(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    graph.fail_next("POST", messages_path(graph), code=131047, message="Re-engagement message")
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http).send_message("chan-1", CUSTOMER, {"type": "text", "text": "hi"})
    assert (caught.value.code, caught.value.retryable) == ("131047", False)


async def test_http_429_honours_retry_after(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    graph.fail_next(
        "POST",
        messages_path(graph),
        status=429,
        code=4,
        message="(#4) Application request limit reached",
        retry_after=30,
    )
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http).send_message("chan-1", CUSTOMER, {"type": "text", "text": "hi"})
    assert (caught.value.retryable, caught.value.retry_after) == (True, 30.0)


async def test_server_error_without_json_is_retryable(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    graph.respond("POST", messages_path(graph), 502)
    with pytest.raises(PlatformError) as caught:
        await make_client(graph, http).send_message("chan-1", CUSTOMER, {"type": "text", "text": "hi"})
    assert (caught.value.status, caught.value.retryable) == (502, True)


async def test_network_error_is_retryable(http: httpx.AsyncClient) -> None:
    client = PLATFORM.client({"phoneNumberID": "1", "graphBaseURL": "http://127.0.0.1:9"}, {"accessToken": "t"}, http)
    with pytest.raises(PlatformError) as caught:
        await client.send_message("chan-1", CUSTOMER, {"type": "text", "text": "hi"})
    assert caught.value.retryable and caught.value.status is None


async def test_missing_access_token_is_a_configuration_error(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    client = PLATFORM.client({"phoneNumberID": "1", "graphBaseURL": graph.url}, {"webhookSecret": "s"}, http)
    with pytest.raises(PlatformError, match="accessToken") as caught:
        await client.get_channel_info()
    assert caught.value.code == "not_configured"


async def test_mark_read_with_typing_indicator(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    await make_client(graph, http).mark_read("wamid.IN", typing=True)
    assert graph.requests[0].json == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
        "typing_indicator": {"type": "text"},
    }


async def test_media_upload_then_download(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    client = make_client(graph, http)
    media_id = await client.upload_media(b"\x89PNG fake image", mime="image/png", filename="a.png")
    info = await client.get_media(media_id)
    assert (info["id"], info["mime_type"], info["file_size"]) == (media_id, "image/png", 15)
    assert await client.download_media(media_id) == (b"\x89PNG fake image", "image/png")


async def test_download_of_a_customer_file(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    media_id = graph.add_media(b"OggS voice", "audio/ogg")
    data, mime = await make_client(graph, http).download_media(media_id)
    assert (data, mime) == (b"OggS voice", "audio/ogg")
