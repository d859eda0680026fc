"""The Bot API client against the fake Telegram server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from souk.platforms.plugin import PlatformError
from souk.platforms.telegram import PLATFORM
from souk.platforms.telegram.client import ALLOWED_UPDATES, TelegramClient
from tests.support.fakes.telegram import FakeTelegram

CHAT = 5012345678
BC = "AQADBQADc2xvd2Jvb2tzAAEBAAAA"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        yield client


def client_for(fake: FakeTelegram, http: httpx.AsyncClient, token: str | None = None) -> TelegramClient:
    client = PLATFORM.client({"apiBaseURL": fake.url}, {"botToken": token or fake.token}, http)
    assert isinstance(client, TelegramClient)
    return client


def text(body: str, **extra: object) -> dict[str, object]:
    return {"type": "text", "text": body, "reply_to": None, **extra}


async def test_get_channel_info_is_get_me(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    info = await client_for(fake, http).get_channel_info("channel-1")
    assert (info.external_id, info.name, info.details["username"]) == (
        "123456789",
        "Souk Test Bot",
        "souk_test_bot",
    )
    assert info.details["can_connect_to_business"] is True
    assert [r.path for r in fake.requests] == [f"/bot{fake.token}/getMe"]


async def test_wrong_token_is_final_and_hidden(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as caught:
        await client_for(fake, http, token="999:wrong-token").get_channel_info()
    error = caught.value
    assert (error.status, error.code, error.retryable) == (401, "401", False)
    assert "Unauthorized" in error.message
    assert "wrong-token" not in str(error)


async def test_send_text_returns_chat_scoped_ids(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    client = client_for(fake, http)
    first = await client.send_message("channel-1", str(CHAT), text("Hello Layla"))
    second = await client.send_message("channel-1", str(CHAT), text("Anything else?"))
    other = await client.send_message("channel-1", "-1001987654321", text("Hi group"))
    assert (first.external_id, second.external_id, other.external_id) == (
        f"{CHAT}:1",
        f"{CHAT}:2",
        "-1001987654321:1",
    )
    assert first.raw["ok"] is True and first.raw["result"]["text"] == "Hello Layla"
    assert fake.requests[0].json == {"chat_id": CHAT, "text": "Hello Layla"}
    assert [m["text"] for m in fake.messages_in(CHAT)] == ["Hello Layla", "Anything else?"]


async def test_reply_and_forum_topic(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    client = client_for(fake, http)
    topic_reply = text("on it", reply_to="-1001555000111:77", message_thread_id=42)
    await client.send_message("c", "-1001555000111", topic_reply)
    await client.send_message("c", str(CHAT), text("quoting the group", reply_to="-1001555000111:77"))
    same_chat, other_chat = (r.json for r in fake.requests)
    assert same_chat == {
        "chat_id": -1001555000111,
        "message_thread_id": 42,
        "reply_parameters": {"message_id": 77, "allow_sending_without_reply": True},
        "text": "on it",
    }
    assert other_chat["reply_parameters"] == {
        "message_id": 77,
        "allow_sending_without_reply": True,
        "chat_id": -1001555000111,
    }


async def test_a_forum_topics_conversation_posts_in_its_topic(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    """The thread of a topic's conversation is ``<chat>/<topic>``: the chat is addressed, in that topic."""
    client = client_for(fake, http)
    sent = await client.send_message("c", "-1001555000111/42", text("in the topic"))
    await client.send_typing("-1001555000111/42")
    post, typing = (r.json for r in fake.requests)
    assert post == {"chat_id": -1001555000111, "message_thread_id": 42, "text": "in the topic"}
    assert typing == {"chat_id": "-1001555000111", "action": "typing", "message_thread_id": 42}
    assert sent.external_id.startswith("-1001555000111:")  # message ids stay the chat's


async def test_business_thread_uses_the_connection(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    thread = f"{CHAT}@{BC}"
    content = text("Yes, in stock", reply_to=f"{thread}:9001")
    result = await client_for(fake, http).send_message("c", thread, content)
    assert result.external_id == f"{thread}:1"
    assert fake.requests[0].json == {
        "chat_id": CHAT,
        "business_connection_id": BC,
        "reply_parameters": {"message_id": 9001, "allow_sending_without_reply": True},
        "text": "Yes, in stock",
    }


async def test_media_by_url_and_by_file_id(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    client = client_for(fake, http)
    photo = {"type": "image", "url": "https://cdn.example.com/jacket.jpg", "caption": "500 EGP"}
    sent_photo = await client.send_message("c", str(CHAT), photo)
    file_id = fake.add_file(b"%PDF-1.7", "documents/invoice.pdf")
    sent_doc = await client.send_message("c", str(CHAT), {"type": "document", "media_id": file_id})
    assert (sent_photo.external_id, sent_doc.external_id) == (f"{CHAT}:1", f"{CHAT}:2")
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == ["sendPhoto", "sendDocument"]
    assert fake.requests[0].json == {"chat_id": CHAT, "photo": photo["url"], "caption": "500 EGP"}
    assert sent_doc.raw["result"]["document"]["file_name"] == "invoice.pdf"


async def test_unsupported_content_type_is_refused(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError, match="cannot send content type 'carousel'"):
        await client_for(fake, http).send_message("c", str(CHAT), {"type": "carousel"})
    assert fake.requests == []


async def test_flood_control_429_is_retryable(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    client = client_for(fake, http)
    fake.throttle(times=2, retry_after=5)
    for _ in range(2):
        with pytest.raises(PlatformError) as caught:
            await client.send_message("c", str(CHAT), text("hi"))
        error = caught.value
        assert (error.status, error.code, error.retryable, error.retry_after) == (429, "429", True, 5.0)
        assert "Too Many Requests: retry after 5" in error.message
    assert (await client.send_message("c", str(CHAT), text("hi"))).external_id == f"{CHAT}:1"


async def test_blocked_user_is_a_non_retryable_403(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    fake.block(CHAT)
    with pytest.raises(PlatformError) as caught:
        await client_for(fake, http).send_message("c", str(CHAT), text("hi"))
    error = caught.value
    assert (error.status, error.retryable, error.retry_after) == (403, False, None)
    assert "bot was blocked by the user" in error.message


async def test_bad_request_is_not_retryable(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as caught:
        await client_for(fake, http).send_message("c", str(CHAT), text("x" * 4097))
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert "message is too long" in caught.value.message


async def test_group_migration_names_the_new_chat(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    params = {"migrate_to_chat_id": -1001987654321}
    description = "Bad Request: group chat was upgraded to a supergroup chat"
    fake.fail("sendMessage", 400, description, parameters=params)
    with pytest.raises(PlatformError, match=r"now chat -1001987654321") as caught:
        await client_for(fake, http).send_message("c", "-4001234", text("hi"))
    assert caught.value.retryable is False


async def test_server_and_network_errors_retry(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    fake.respond("POST", f"/bot{fake.token}/sendMessage", 502, headers={"Retry-After": "3"})
    with pytest.raises(PlatformError) as caught:
        await client_for(fake, http).send_message("c", str(CHAT), text("hi"))
    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (502, True, 3.0)

    gone = FakeTelegram().start()
    gone.stop()
    with pytest.raises(PlatformError) as caught:
        await client_for(gone, http).get_channel_info()
    assert caught.value.retryable is True
    assert fake.token not in str(caught.value)


async def test_configure_inspect_and_delete_webhook(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    client = client_for(fake, http)
    url = "https://souk.example.com/webhooks/telegram/ch_1"
    answer = await client.configure_webhook(url, "s3cr3t-Token_generated-by-souk")
    assert answer == {"ok": True, "result": True, "description": "Webhook was set"}
    sent = fake.requests[-1].json
    assert (sent["url"], sent["secret_token"]) == (url, "s3cr3t-Token_generated-by-souk")
    assert {"message_reaction", "callback_query", "business_message", "deleted_business_messages"} <= set(
        sent["allowed_updates"]
    )
    assert fake.webhook_secret == "s3cr3t-Token_generated-by-souk"

    info = await client.get_webhook_info()
    assert (info["url"], info["pending_update_count"], info["allowed_updates"]) == (url, 0, ALLOWED_UPDATES)

    await client.delete_webhook()
    assert (await client.get_webhook_info())["url"] == ""
    assert fake.webhook_secret is None


async def test_set_webhook_refusal_is_reported(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError, match="HTTPS URL must be provided") as caught:
        await client_for(fake, http).configure_webhook("http://insecure.example.com/hook", "secret")
    assert (caught.value.status, caught.value.retryable) == (400, False)


async def test_download_media_and_answer_callback(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    client = client_for(fake, http)
    file_id = fake.add_file(b"\x89PNG fake", "photos/file_7.jpg")
    assert await client.download_media(file_id) == b"\x89PNG fake"
    with pytest.raises(PlatformError, match="invalid file_id"):
        await client.download_media("nope")

    await client.answer_callback_query("4382bfdwdsb323b2d9", text="Added to cart")
    assert fake.answered_callbacks == [{"callback_query_id": "4382bfdwdsb323b2d9", "text": "Added to cart"}]


async def test_missing_token_fails_before_any_call(fake: FakeTelegram, http: httpx.AsyncClient) -> None:
    client = PLATFORM.client({"apiBaseURL": fake.url}, {}, http)
    with pytest.raises(PlatformError, match="no botToken"):
        await client.get_channel_info()
    assert fake.requests == []
