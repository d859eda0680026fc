"""The Instagram client (Send API) against the fake Graph API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from souk.platforms.instagram import PLATFORM
from souk.platforms.instagram.client import InstagramClient
from souk.platforms.meta.graph import GraphError
from tests.support.fakes.graph import FakeGraphServer

IGSID = "1254459154682919"


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphServer]:
    with FakeGraphServer() as server:
        yield server


@pytest.fixture
async def http(graph: FakeGraphServer) -> AsyncIterator[httpx.AsyncClient]:
    graph.clear()
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        yield client


def make_client(graph: FakeGraphServer, http: httpx.AsyncClient, **config: str) -> InstagramClient:
    config = {"instagramAccountID": graph.IG_ID, "graphBaseURL": graph.url, **config}
    client = PLATFORM.client(config, {"pageAccessToken": graph.TOKEN, "webhookSecret": "w"}, http)
    assert isinstance(client, InstagramClient)
    return client


async def test_get_channel_info_looks_up_the_account(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    info = await make_client(graph, http).get_channel_info()
    assert (info.external_id, info.name) == (graph.IG_ID, graph.IG_USERNAME)
    assert graph.requests[0].path == f"/v21.0/{graph.IG_ID}"


async def test_unknown_account_is_a_permanent_error(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http, instagramAccountID="17840000000000000").get_channel_info()
    assert (caught.value.code, caught.value.subcode, caught.value.retryable) == ("100", "33", False)


async def test_send_text_through_me_without_a_page(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    result = await make_client(graph, http).send_message(
        "chan-1", IGSID, {"type": "text", "text": "450,000 VND", "marker": "souk:out_2"}
    )
    (request,) = graph.requests
    assert request.path == "/v21.0/me/messages"
    assert request.json == {
        "recipient": {"id": IGSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "450,000 VND", "metadata": "souk:out_2"},
    }
    assert result.external_id == graph.sent[0].message_id


async def test_send_text_through_the_linked_page(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    await make_client(graph, http, pageID=graph.PAGE_ID).send_message("chan-1", IGSID, {"type": "text", "text": "hi"})
    assert graph.requests[0].path == f"/v21.0/{graph.PAGE_ID}/messages"


async def test_instagram_login_sends_to_the_account_node(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    result = await make_client(graph, http, pageID=graph.IG_ID).send_message(
        "chan-1", IGSID, {"type": "text", "text": "hi"}
    )
    assert result.external_id is not None and result.external_id.startswith("aWdf")


async def test_react_to_a_message(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    result = await make_client(graph, http).send_message(
        "chan-1", IGSID, {"type": "reaction", "message_id": "aWdf_IN1"}
    )
    assert graph.requests[0].json == {
        "recipient": {"id": IGSID},
        "sender_action": "react",
        "payload": {"message_id": "aWdf_IN1", "reaction": "love"},
    }
    assert result.external_id is None


async def test_image_by_url(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    await make_client(graph, http).send_message(
        "chan-1", IGSID, {"type": "image", "url": "https://cdn.example.com/ring.jpg"}
    )
    assert graph.sent[0].body["message"] == {
        "attachment": {"type": "image", "payload": {"url": "https://cdn.example.com/ring.jpg", "is_reusable": True}}
    }


async def test_outside_the_window_is_not_retryable(graph: FakeGraphServer, http: httpx.AsyncClient) -> None:
    graph.fail_next(
        "POST",
        "/v21.0/me/messages",
        code=10,
        subcode=2534022,
        message="(#10) This message is sent outside of allowed window.",
    )
    with pytest.raises(GraphError) as caught:
        await make_client(graph, http).send_message("chan-1", IGSID, {"type": "text", "text": "late"})
    assert (caught.value.code, caught.value.subcode, caught.value.retryable) == ("10", "2534022", False)
