"""The Business Messaging client against the fake TikTok server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from souk.platforms.plugin import PlatformError
from souk.platforms.tiktok import PLATFORM
from souk.platforms.tiktok.client import TikTokClient
from tests.support.fakes.tiktok import TOO_FAST, FakeTikTok

CONV = "0:1:7000000000000000001:7311234567890123456"
SEND = "/open_api/v1.3/business/message/send/"


@pytest.fixture
def fake() -> Iterator[FakeTikTok]:
    with FakeTikTok() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        yield client


def client_for(fake: FakeTikTok, http: httpx.AsyncClient, token: str | None = None) -> TikTokClient:
    config = {"businessID": fake.business_id, "appKey": "key", "apiBaseURL": fake.url}
    secrets = {"appSecret": fake.app_secret, "accessToken": token or fake.access_token}
    client = PLATFORM.client(config, secrets, http)
    assert isinstance(client, TikTokClient)
    return client


async def test_get_channel_info_reads_the_business_account(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    info = await client_for(fake, http).get_channel_info()
    assert (info.external_id, info.name) == (fake.business_id, "Souk Shop")
    assert info.details["username"] == "souk.shop"
    [request] = fake.requests
    assert (request.method, request.path, request.headers["access-token"]) == (
        "GET",
        "/open_api/v1.3/business/get/",
        fake.access_token,
    )


async def test_bad_token_fails_despite_http_200(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as caught:
        await client_for(fake, http, token="act.revoked").get_channel_info()
    error = caught.value
    assert (error.status, error.code, error.retryable) == (200, "40105", False)
    assert "Access token is incorrect" in error.message


async def test_send_text(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    result = await client_for(fake, http).send_message(
        "ch", CONV, {"type": "text", "text": "500 EGP", "reply_to": None}
    )
    assert result.external_id == "tt-msg-000001"
    assert result.raw["code"] == 0 and result.raw["data"] == {"message": {"message_id": "tt-msg-000001"}}
    [request] = fake.requests_to("POST", SEND)
    assert request.headers["access-token"] == fake.access_token
    assert request.json == {
        "business_id": fake.business_id,
        "recipient_type": "CONVERSATION",
        "recipient": CONV,
        "message_type": "TEXT",
        "text": {"body": "500 EGP"},
    }
    assert [m["text"] for m in fake.messages_in(CONV)] == [{"body": "500 EGP"}]


async def test_reply_sets_the_referenced_message(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    content = {"type": "text", "text": "yes", "reply_to": "v2:msg-7311-0002"}
    await client_for(fake, http).send_message("ch", CONV, content)
    assert fake.requests[0].json["referenced_message_info"] == {"referenced_message_id": "v2:msg-7311-0002"}


async def test_send_image_uploads_from_a_url_first(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    fake.respond("GET", "/assets/jacket.png", 200, headers={"content-type": "image/png"})
    image = {"type": "image", "url": f"{fake.url}/assets/jacket.png"}
    result = await client_for(fake, http).send_message("ch", CONV, image)
    upload, send = fake.requests[1:]
    assert upload.path == "/open_api/v1.3/business/message/media/upload/"
    assert b'name="media_type"\r\n\r\nIMAGE' in upload.body and b'filename="jacket.png"' in upload.body
    media_id = send.json["image"]["media_id"]
    assert (send.json["message_type"], fake.media[media_id][0]) == ("IMAGE", "image/png")
    assert result.external_id == fake.sent[0]["message_id"]


async def test_send_image_by_media_id(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    media_id = fake.add_media(b"\xff\xd8jpeg")
    await client_for(fake, http).send_message("ch", CONV, {"type": "image", "media_id": media_id})
    assert fake.sent[0]["image"] == {"media_id": media_id}


async def test_sending_too_fast_is_retryable(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    fake.fail("message/send/", *TOO_FAST)
    client = client_for(fake, http)
    with pytest.raises(PlatformError) as caught:
        await client.send_message("ch", CONV, {"type": "text", "text": "hi"})
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (200, "40064", True)
    retried = await client.send_message("ch", CONV, {"type": "text", "text": "hi"})
    assert retried.external_id == "tt-msg-000001"


async def test_invalid_parameters_are_not_retryable(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as caught:
        await client_for(fake, http).send_message("ch", CONV, {"type": "text", "text": "x" * 6001})
    assert (caught.value.code, caught.value.retryable) == ("40002", False)


async def test_tiktok_side_errors_are_retryable(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    fake.fail("message/send/", 50002, "Internal service error.")
    fake.respond("POST", SEND, 503, headers={"Retry-After": "7"}, times=1)
    client = client_for(fake, http)
    with pytest.raises(PlatformError) as caught:
        await client.send_message("ch", CONV, {"type": "text", "text": "hi"})
    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (503, True, 7.0)
    with pytest.raises(PlatformError) as caught:
        await client.send_message("ch", CONV, {"type": "text", "text": "hi"})
    assert (caught.value.code, caught.value.retryable) == ("50002", True)


async def test_network_error_is_retryable(http: httpx.AsyncClient) -> None:
    gone = FakeTikTok().start()
    gone.stop()
    with pytest.raises(PlatformError) as caught:
        await client_for(gone, http).send_message("ch", CONV, {"type": "text", "text": "hi"})
    assert caught.value.retryable is True


async def test_media_download_url_then_bytes(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    media_id = fake.add_media(b"\xff\xd8customer-photo")
    client = client_for(fake, http)
    url = await client.media_download_url(CONV, "v2:msg-7311-0003", media_id)
    assert (await http.get(url)).content == b"\xff\xd8customer-photo"
    assert json.loads(fake.requests[0].body) == {
        "business_id": fake.business_id,
        "conversation_id": CONV,
        "message_id": "v2:msg-7311-0003",
        "media_id": media_id,
        "media_type": "IMAGE",
    }


async def test_unsupported_content_and_webhooks(fake: FakeTikTok, http: httpx.AsyncClient) -> None:
    client = client_for(fake, http)
    with pytest.raises(PlatformError, match="cannot send content type 'video'"):
        await client.send_message("ch", CONV, {"type": "video", "url": "https://x"})
    with pytest.raises(NotImplementedError):  # the webhook URL is set in the developer portal
        await client.configure_webhook("https://souk.example.com/webhooks/tiktok/ch", "secret")
    assert fake.requests == []
