"""Graph API error objects mapped to PlatformError, and the fake Graph API's own behaviour."""

from __future__ import annotations

import httpx
import pytest

from souk.platforms.meta.graph import GraphAPI, graph_error
from souk.platforms.plugin import PlatformError
from tests.support.fakes.graph import FakeGraphServer


def error(code: int, **extra: object) -> dict:
    return {"error": {"message": "boom", "type": "OAuthException", "code": code, "fbtrace_id": "AbC", **extra}}


@pytest.mark.parametrize("code", [2, 4, 613, 1200, 80007, 130429, 131056, 131057])
def test_throttling_and_temporary_codes_are_retryable(code: int) -> None:
    assert graph_error(400, error(code)).retryable


@pytest.mark.parametrize("code", [10, 100, 190, 131047, 131026, 131050, 368])
def test_permanent_codes_are_not_retryable(code: int) -> None:
    mapped = graph_error(400, error(code))
    assert (mapped.retryable, mapped.code, mapped.status) == (False, str(code), 400)


def test_is_transient_flag_makes_any_code_retryable() -> None:
    assert graph_error(400, error(100, is_transient=True)).retryable


@pytest.mark.parametrize("status", [429, 500, 503])
def test_429_and_5xx_are_retryable_even_without_a_body(status: int) -> None:
    mapped = graph_error(status, None, httpx.Headers({"Retry-After": "7"}))
    assert (mapped.retryable, mapped.retry_after, mapped.code) == (True, 7.0, None)
    assert str(status) in mapped.message


def test_subcode_details_and_trace_are_kept() -> None:
    mapped = graph_error(400, error(131026, error_subcode=2494010, error_data={"details": "Receiver is incapable"}))
    assert mapped.subcode == "2494010" and mapped.fbtrace_id == "AbC" and mapped.error_type == "OAuthException"
    assert mapped.message == "boom: Receiver is incapable (subcode 2494010)"


def test_unparseable_retry_after_is_ignored() -> None:
    assert graph_error(429, None, httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})).retry_after is None


async def test_error_object_in_a_200_answer_is_an_error() -> None:
    with FakeGraphServer() as graph:
        graph.respond("GET", "/v21.0/me", 200, json=error(100))
        async with httpx.AsyncClient(trust_env=False) as http:
            api = GraphAPI(http, token=graph.TOKEN, token_key="pageAccessToken", base_url=graph.url)
            with pytest.raises(PlatformError) as caught:
                await api.get("me")
    assert caught.value.code == "100"


async def test_non_object_answer_is_an_error() -> None:
    with FakeGraphServer() as graph:
        graph.respond("GET", "/v21.0/me", 200, json=[1, 2])
        async with httpx.AsyncClient(trust_env=False) as http:
            with pytest.raises(PlatformError, match="JSON object"):
                await GraphAPI(http, token="t", token_key="k", base_url=graph.url).get("me")


def test_missing_token_names_the_config_key() -> None:
    with pytest.raises(PlatformError, match="pageAccessToken") as caught:
        GraphAPI(httpx.AsyncClient(), token="", token_key="pageAccessToken")
    assert caught.value.code == "not_configured"


def test_fake_accepts_the_access_token_query_parameter_and_resolves_me() -> None:
    with FakeGraphServer() as graph, httpx.Client(base_url=graph.url, trust_env=False) as http:
        page = http.get("/v21.0/me", params={"access_token": graph.TOKEN, "fields": "name"}).json()
        assert page == {"id": graph.PAGE_ID, "name": graph.PAGE_NAME}
        denied = http.get(f"/v21.0/{graph.PAGE_ID}")
        assert denied.status_code == 400 and denied.json()["error"]["code"] == 2500
        missing = http.post(
            "/v21.0/me/messages",
            params={"access_token": graph.TOKEN},
            json={"recipient": {"id": "1"}, "message": {"text": "hi"}},
        )
        assert missing.json()["error"]["message"].startswith("(#100) param messaging_type")


def test_fake_media_download_needs_the_owners_token() -> None:
    with FakeGraphServer() as graph, httpx.Client(base_url=graph.url, trust_env=False) as http:
        media_id = graph.add_media(b"jpeg bytes", "image/jpeg")
        bearer = {"Authorization": f"Bearer {graph.TOKEN}"}
        url = http.get(f"/v21.0/{media_id}", headers=bearer).json()["url"]
        assert http.get(url).status_code == 401
        assert http.get(url, headers=bearer).content == b"jpeg bytes"
