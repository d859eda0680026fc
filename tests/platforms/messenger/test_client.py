"""The Messenger client (Send API) against the fake Graph API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from souk.platforms.messenger import PLATFORM
from souk.platforms.messenger.client import MessengerClient
from souk.platforms.meta.graph import GraphError
from souk.platforms.plugin import PlatformError
from tests.support.fakes.graph import FakeGraphServer

PSID = "6857413490973921"


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphServer]:
    with FakeGraphServer() as server:
        yield server


@pytest.fixture
async def http(graph: FakeGraphServer) -> AsyncIterator[httpx.AsyncClient]:
    graph.clear()
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        yield client


def make_client(graph: FakeGraphServer, http: httpx.AsyncClient, token: str = FakeGraphServer.TOKEN) -> MessengerClient:
    config = {"pageID": graph.PAGE_ID, "graphBaseURL": graph.url}
    client = PLATFORM.client(config, {"pageAccessToken": token, "appSecret": "s", "webhookSecret": "w"}, http)
    assert isinstance(client, MessengerClient)
    return client


def send_path(graph: FakeGraphServer) -> str:
    return f"/v21.0/{graph.PAGE_ID}/messages"


async def test_get_channel_info_looks_up_the_page(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    info = await make_client(graph, http).get_channel_info()
    assert (info.external_id, info.name) == (graph.PAGE_ID, graph.PAGE_NAME)
    (request,) = graph.requests
    assert (request.method, request.path) == ("GET", f"/v21.0/{graph.PAGE_ID}")
    assert request.headers["authorization"] == f"Bearer {graph.TOKEN}"


async def test_get_channel_info_with_another_pages_token_fails(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http, token="EAAx-other-page").get_channel_info()
    assert (caught.value.code, caught.value.retryable) == ("190", False)


async def test_send_text_with_marker_returns_the_mid(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    result = await make_client(graph, http).send_message(
        "chan-1", PSID, {"type": "text", "text": "Yes, in black", "reply_to": None, "marker": "souk:out_1"}
    )
    (sent,) = graph.sent
    assert sent.body == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, in black", "metadata": "souk:out_1"},
    }
    assert result.external_id == sent.message_id and result.external_id.startswith("m_")
    assert result.raw == {"recipient_id": PSID, "message_id": result.external_id}


async def test_send_text_without_marker_has_no_metadata(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    await make_client(graph, http).send_message("chan-1", PSID, {"type": "text", "text": "Hi"})
    assert graph.sent[0].body["message"] == {"text": "Hi"}


async def test_human_agent_tag_outside_the_window(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    await make_client(graph, http).send_message(
        "chan-1", PSID, {"type": "text", "text": "Update", "tag": "HUMAN_AGENT"}
    )
    body = graph.sent[0].body
    assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"type": "image", "url": "https://cdn.example.com/bag.jpg"},
            {
                "attachment": {
                    "type": "image",
                    "payload": {"url": "https://cdn.example.com/bag.jpg", "is_reusable": True},
                }
            },
        ),
        (
            {"type": "document", "attachment_id": "1857777774821032"},
            {"attachment": {"type": "file", "payload": {"attachment_id": "1857777774821032"}}},
        ),
        (
            {
                "type": "quick_replies",
                "text": "Colour?",
                "options": [{"title": "Black", "payload": "C_BLACK"}, {"title": "Brown"}],
            },
            {
                "text": "Colour?",
                "quick_replies": [
                    {"content_type": "text", "title": "Black", "payload": "C_BLACK"},
                    {"content_type": "text", "title": "Brown", "payload": "Brown"},
                ],
            },
        ),
        (
            {
                "type": "buttons",
                "text": "Ready?",
                "buttons": [{"id": "BUY_42", "title": "Buy"}, {"url": "https://shop.example.com/42", "title": "View"}],
            },
            {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": "Ready?",
                        "buttons": [
                            {"type": "postback", "title": "Buy", "payload": "BUY_42"},
                            {"type": "web_url", "url": "https://shop.example.com/42", "title": "View"},
                        ],
                    },
                }
            },
        ),
        (
            {"type": "template", "payload": {"template_type": "generic", "elements": [{"title": "Bag"}]}},
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "generic", "elements": [{"title": "Bag"}]},
                }
            },
        ),
    ],
)
async def test_richer_sends(graph: FakeGraphServer, http: httpx.AsyncClient, content: dict, message: dict) -> None:
    result = await make_client(graph, http).send_message("chan-1", PSID, content)
    assert graph.sent[0].body["message"] == message
    assert result.external_id == graph.sent[0].message_id


async def test_typing_indicator(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    await make_client(graph, http).sender_action(PSID, "typing_on")
    assert graph.sent[0].body == {"recipient": {"id": PSID}, "sender_action": "typing_on"}


async def test_reactions_are_not_offered_on_messenger(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    with pytest.raises(PlatformError) as caught:
        await make_client(graph, http).send_message("chan-1", PSID, {"type": "reaction", "message_id": "m_1"})
    assert caught.value.code == "unsupported_content"


async def test_outside_the_window_is_not_retryable(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    graph.fail_next(
        "POST",
        send_path(graph),
        code=10,
        subcode=2018278,
        message="(#10) This message is sent outside of allowed window.",
    )
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http).send_message("chan-1", PSID, {"type": "text", "text": "late"})
    error = caught.value
    assert (error.status, error.code, error.subcode, error.retryable) == (400, "10", "2018278", False)
    assert "allowed window" in error.message


@pytest.mark.parametrize(("code", "status"), [(613, 400), (1200, 500), (2, 500), (4, 400)])
async def test_rate_limits_and_temporary_failures_are_retryable(
    graph: FakeGraphServer, http: httpx.AsyncClient, code: int, status: int
) -> None:
    graph.fail_next("POST", send_path(graph), status=status, code=code, message="try later")
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http).send_message("chan-1", PSID, {"type": "text", "text": "hi"})
    assert (caught.value.code, caught.value.retryable) == (str(code), True)


async def test_too_long_text_is_a_permanent_error(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http).send_message("chan-1", PSID, {"type": "text", "text": "x" * 2001})
    assert (caught.value.code, caught.value.retryable) == ("100", False)
