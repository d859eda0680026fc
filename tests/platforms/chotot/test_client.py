"""The Chotot vendor client against the fake partner API (tests/support/fakes/chotot.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from souk.platforms.base import Message, SentBy
from souk.platforms.chotot import PLATFORM
from souk.platforms.chotot.client import ChototClient
from souk.platforms.plugin import PlatformError, Vendor
from tests.support.fakes.chotot import FakeChotot

BUYER = "2000001"
SHOP = "1000001"


@pytest.fixture
def fake() -> Iterator[FakeChotot]:
    with FakeChotot(account_id=SHOP) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        yield client


def _client(
    fake: FakeChotot, http: httpx.AsyncClient, *, api_key: str = "chotot-test-key", **config: Any
) -> ChototClient:
    client = PLATFORM.client(
        {"baseURL": fake.url, "partnerID": "partner-souk", "accountID": SHOP, **config}, {"apiKey": api_key}, http
    )
    assert isinstance(client, ChototClient)
    return client


def test_client_is_a_seed_002_vendor(http: httpx.AsyncClient) -> None:
    client = PLATFORM.client({"baseURL": "https://x", "partnerID": "p", "accountID": SHOP}, {"apiKey": "k"}, http)
    assert isinstance(client, Vendor) and client.vendor_type == "chotot"


# -- get_channel_info ---------------------------------------------------------------------------------------


async def test_channel_info_checks_the_credentials(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    info = await _client(fake, http).get_channel_info()
    assert (info.external_id, info.name) == (SHOP, "Souk Shop")
    (request,) = fake.requests
    assert request.path == f"/v1/accounts/{SHOP}"
    assert request.headers["authorization"] == "Bearer chotot-test-key"
    assert request.headers["x-partner-id"] == "partner-souk"


async def test_channel_info_of_the_account_itself(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    """A second test-connection passes the channel's external id, the account the first one stored: not a chat."""
    info = await _client(fake, http).get_channel_info(SHOP)
    assert (info.external_id, info.name) == (SHOP, "Souk Shop")
    assert [r.path for r in fake.requests] == [f"/v1/accounts/{SHOP}"]


async def test_channel_info_of_a_chat_room(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat(buyer_name="Trần Thị B")
    info = await _client(fake, http).get_channel_info(chat["id"])
    assert (info.external_id, info.name) == (chat["id"], "Trần Thị B")
    assert info.details["item"]["list_id"] == 112233445


async def test_wrong_api_key_is_401(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http, api_key="wrong").get_channel_info()
    assert (err.value.status, err.value.code, err.value.retryable) == (401, "UNAUTHORIZED", False)
    assert "invalid partner credentials" in err.value.message


async def test_account_of_another_partner_is_403(http: httpx.AsyncClient) -> None:
    with FakeChotot(account_id=SHOP) as fake:
        fake.accounts["999"] = {"id": "999", "name": "Someone else"}
        client = PLATFORM.client(
            {"baseURL": fake.url, "partnerID": "partner-souk", "accountID": "999"}, {"apiKey": "chotot-test-key"}, http
        )
        with pytest.raises(PlatformError) as err:
            await client.get_channel_info()
    assert (err.value.status, err.value.code) == (403, "FORBIDDEN")


async def test_unknown_chat_is_404(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_channel_info("nope")
    assert (err.value.status, err.value.code) == (404, "NOT_FOUND")


async def test_server_error_is_retryable(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    fake.respond("GET", f"/v1/accounts/{SHOP}", 503, json={"error": {"code": "UNAVAILABLE", "message": "down"}})
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_channel_info()
    assert (err.value.status, err.value.code, err.value.retryable) == (503, "UNAVAILABLE", True)


async def test_rate_limit_honours_retry_after(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    fake.respond(
        "GET",
        f"/v1/accounts/{SHOP}",
        429,
        json={"error": {"code": "RATE_LIMITED", "message": "slow"}},
        headers={"Retry-After": "12"},
    )
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_channel_info()
    assert (err.value.retryable, err.value.retry_after, err.value.code) == (True, 12.0, "RATE_LIMITED")


async def test_non_json_error_body(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    fake.respond("GET", f"/v1/accounts/{SHOP}", 502, json=None)
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_channel_info()
    assert (err.value.status, err.value.code, err.value.retryable) == (502, "502", True)


async def test_non_json_success_body_is_an_error(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    fake.respond("GET", f"/v1/accounts/{SHOP}", 200, json=None)
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_channel_info()
    assert err.value.code == "bad_response"


async def test_network_error_is_retryable(http: httpx.AsyncClient) -> None:
    with FakeChotot() as fake:
        url = fake.url
    client = PLATFORM.client({"baseURL": url, "partnerID": "p", "accountID": SHOP}, {"apiKey": "k"}, http)
    with pytest.raises(PlatformError) as err:
        await client.get_channel_info()
    assert (err.value.retryable, err.value.code) == (True, "network")


# -- list_messages ------------------------------------------------------------------------------------------


async def test_list_messages_newest_first_before_a_time(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat(n_messages=5, start_ms=1_700_000_000_000, step_ms=60_000)
    before = datetime.fromtimestamp(1_700_000_180, UTC)
    messages = await _client(fake, http).list_messages(chat["id"], 2, before)
    assert [m.text for m in messages] == ["tin nhắn 3", "tin nhắn 2"]
    assert messages[0].sender_id == BUYER
    assert messages[0].timestamp == datetime.fromtimestamp(1_700_000_120, UTC)
    assert messages[0].external_id == fake.chat_messages[chat["id"]][2]["id"]
    request = fake.requests[-1]
    assert request.path == f"/v1/chats/{chat['id']}/messages"


async def test_list_messages_without_before(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat(n_messages=3)
    messages = await _client(fake, http).list_messages(chat["id"], 10, None)
    assert [m.text for m in messages] == ["tin nhắn 3", "tin nhắn 2", "tin nhắn 1"]


async def test_list_messages_with_a_bad_limit_is_400(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat()
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).list_messages(chat["id"], 500, None)
    assert (err.value.status, err.value.code, err.value.retryable) == (400, "INVALID_REQUEST", False)


async def test_list_messages_of_an_unknown_chat_is_404(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).list_messages("missing", 10, None)
    assert err.value.status == 404


# -- send_message -------------------------------------------------------------------------------------------


async def test_send_text(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat(n_messages=1)
    question = fake.chat_messages[chat["id"]][0]["id"]
    result = await _client(fake, http).send_message(
        chat["id"], BUYER, {"type": "text", "text": "Còn bạn nhé", "reply_to": question}
    )
    (sent,) = fake.sent
    assert result.external_id == sent["id"] and result.raw == {"message": sent}
    body = fake.requests[-1].json
    assert body["sender_id"] == SHOP and body["recipient_id"] == BUYER
    assert body["text"] == "Còn bạn nhé" and body["reply_to"] == question and body["client_message_id"]


async def test_the_echo_of_a_send_parses_as_our_own(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat()
    result = await _client(fake, http).send_message(chat["id"], BUYER, {"type": "text", "text": "Xin chào"})
    echo = fake.published[-1]
    (event,) = PLATFORM.parse(json.dumps(echo).encode(), {})
    assert isinstance(event, Message)
    assert event.external_id == result.external_id
    assert (event.direction, event.sent_by) == ("outbound", SentBy.souk)
    assert event.echo_marker == fake.requests[-1].json["client_message_id"]


async def test_a_retried_send_is_not_duplicated(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat()
    content = {"type": "text", "text": "Một lần", "client_message_id": "outbox-42"}
    first = await _client(fake, http).send_message(chat["id"], BUYER, content)
    second = await _client(fake, http).send_message(chat["id"], BUYER, content)
    assert first.external_id == second.external_id and len(fake.sent) == 1


async def test_send_image(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat()
    content = {"type": "image", "url": "https://cdn.example/a.jpg", "mimetype": "image/jpeg", "caption": "Ảnh"}
    await _client(fake, http).send_message(chat["id"], BUYER, content)
    body = fake.requests[-1].json
    assert body["attachments"] == [{"type": "image", "url": "https://cdn.example/a.jpg", "mime_type": "image/jpeg"}]
    assert body["text"] == "Ảnh"


async def test_send_document_as_file(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat()
    content = {"type": "document", "media": {"url": "https://cdn.example/a.pdf", "filename": "a.pdf"}}
    await _client(fake, http).send_message(chat["id"], BUYER, content)
    assert fake.sent[0]["attachments"] == [{"type": "file", "url": "https://cdn.example/a.pdf", "name": "a.pdf"}]


async def test_send_unsupported_content_is_refused_locally(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).send_message("room", BUYER, {"type": "location", "latitude": 1})
    assert err.value.code == "unsupported_content" and fake.requests == []


async def test_send_to_someone_outside_the_chat_is_400(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat()
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).send_message(chat["id"], "3000003", {"type": "text", "text": "hi"})
    assert (err.value.status, err.value.code) == (400, "INVALID_REQUEST")


async def test_send_empty_text_is_400(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    chat = fake.add_chat()
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).send_message(chat["id"], BUYER, {"type": "text", "text": ""})
    assert err.value.status == 400 and "text or attachments" in err.value.message


# -- get_user_products --------------------------------------------------------------------------------------


async def test_get_user_products_pages(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    fake.add_ads(SHOP, 5)
    client = _client(fake, http)
    page1 = await client.get_user_products(SHOP, 2, 1)
    page3 = await client.get_user_products(SHOP, 2, 3)
    assert [p.external_id for p in page1] == ["100000001", "100000002"]
    assert [p.name for p in page3] == ["Sản phẩm 5"]
    product = page1[0]
    assert (product.price, product.currency, product.url, product.image) == (
        "100000",
        "VND",
        "https://www.chotot.com/100000001.htm",
        "https://cdn.chotot.example/100000001.jpg",
    )
    assert fake.requests[0].path == f"/v1/users/{SHOP}/ads"


async def test_get_user_products_from_the_products_url(http: httpx.AsyncClient) -> None:
    with FakeChotot() as chat_api, FakeChotot() as ads_api:
        ads_api.add_ads(BUYER, 1)
        client = _client(chat_api, http, productsBaseURL=ads_api.url + "/")
        (product,) = await client.get_user_products(BUYER, 10, 1)
        assert product.name == "Sản phẩm 1"
        assert chat_api.requests == [] and len(ads_api.requests) == 1


async def test_get_user_products_bad_page_is_400(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http).get_user_products(SHOP, 10, 0)
    assert (err.value.status, err.value.code) == (400, "INVALID_REQUEST")


async def test_get_user_products_unauthorized(fake: FakeChotot, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as err:
        await _client(fake, http, api_key="bad").get_user_products(SHOP, 10, 1)
    assert err.value.status == 401
