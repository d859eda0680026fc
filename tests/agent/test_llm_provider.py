"""The OpenAI-compatible provider against a local fake chat-completions server that calls tools: the answer goes
through the same tools and guardrails, and every provider failure falls back to the offline agent."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from souk.crm.channel_metadata import get_channel_metadata
from souk.crm.models import TelegramOrderMetadata
from tests.agent.conftest import Shop, put_setting
from tests.conftest import TenantFixture
from tests.support.fakes.openai_chat import FakeChatCompletions

INVOKE = "/api/v2/agent/invoke"


@pytest.fixture
def llm() -> Iterator[FakeChatCompletions]:
    with FakeChatCompletions() as fake:
        yield fake


@pytest.fixture
async def configured(client: httpx.AsyncClient, tenant: TenantFixture, llm: FakeChatCompletions) -> None:
    await put_setting(client, tenant.headers, "ai_provider", "openai")
    await put_setting(client, tenant.headers, "ai_base_url", llm.base_url)
    await put_setting(client, tenant.headers, "ai_model", llm.model)
    await put_setting(client, tenant.headers, "ai_api_key", llm.api_key, is_sensitive=True)
    await put_setting(client, tenant.headers, "ai_timeout_seconds", "2")


async def ask(client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, message: str, **kw: Any) -> dict:
    body = {"customer_id": str(shop.customer.id), "message": message, "channel": "telegram", **kw}
    r = await client.post(INVOKE, json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.usefixtures("configured")
async def test_the_model_answers_through_the_tools(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, llm: FakeChatCompletions
) -> None:
    out = await ask(client, tenant, shop, "How much is the leather wallet?")
    assert out["provider"] == "openai" and out["fallback_reason"] is None
    assert out["reply"] == "Leather wallet costs 199.99 EGP."
    assert out["tools_called"][0]["name"] == "search_products"
    first, second = llm.completions
    assert first["tool_choice"] == "auto" and {t["function"]["name"] for t in first["tools"]} >= {"search_products"}
    assert second["messages"][-1]["role"] == "tool" and "199.99" in second["messages"][-1]["content"]
    # the key is sent to the provider and never returned by the settings API
    r = await client.get("/api/v1/settings/ai_api_key", headers=tenant.headers)
    assert llm.api_key not in r.text


@pytest.mark.usefixtures("configured")
async def test_an_invented_price_is_replaced_by_the_catalogs(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, llm: FakeChatCompletions
) -> None:
    llm.lie_about_prices = True
    out = await ask(client, tenant, shop, "How much is the leather wallet?")
    assert "209.99" not in out["reply"] and "199.99 EGP" in out["reply"]
    assert out["provider"] == "offline" and "209.99" in out["fallback_reason"]


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize("status", [429, 500, 503])
async def test_provider_errors_fall_back_to_the_offline_agent(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, llm: FakeChatCompletions, status: int
) -> None:
    llm.fail(status)
    out = await ask(client, tenant, shop, "How much is the leather wallet?")
    assert out["provider"] == "offline" and str(status) in out["fallback_reason"]
    assert "199.99 EGP" in out["reply"]


@pytest.mark.usefixtures("configured")
async def test_a_provider_timeout_falls_back(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, llm: FakeChatCompletions
) -> None:
    llm.stall(5)
    out = await ask(client, tenant, shop, "How much is the leather wallet?")
    assert out["provider"] == "offline" and "did not answer within 2 s" in out["fallback_reason"]
    assert "199.99 EGP" in out["reply"]


@pytest.mark.usefixtures("configured")
async def test_a_wrong_key_falls_back_and_the_model_can_hand_over(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, llm: FakeChatCompletions
) -> None:
    await put_setting(client, tenant.headers, "ai_api_key", "sk-wrong", is_sensitive=True)
    out = await ask(client, tenant, shop, "How much is the leather wallet?")
    assert out["provider"] == "offline" and "401" in out["fallback_reason"]
    await put_setting(client, tenant.headers, "ai_api_key", llm.api_key, is_sensitive=True)
    llm.handoff_on = "lawyer"
    out = await ask(client, tenant, shop, "my lawyer wants the invoice for the wallet")
    assert out["handoff"] is True and out["provider"] == "openai" and out["reply"]


@pytest.mark.usefixtures("configured")
async def test_a_malformed_answer_or_an_unreachable_provider_falls_back(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, llm: FakeChatCompletions
) -> None:
    """A model's answer in the wrong shape is the provider's failure like a 5xx: the customer gets the offline
    answer, never a 500, and no tool of a half-valid answer runs."""
    search = {"name": "search_products", "arguments": '{"query": "wallet"}'}
    malformed = {
        "choices[0].message is not an object": "Leather wallet costs 1.00 EGP.",
        "tool_calls is not a list": {"role": "assistant", "tool_calls": {"id": "c1", "function": search}},
        "tool_calls is not a list of function calls": {"role": "assistant", "tool_calls": ["search_products"]},
        "not a list of function calls": {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": search}, {"id": "c2", "function": "x"}],
        },
        "the arguments of search_products are not JSON": {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {**search, "arguments": "{query: wallet"}}],
        },
        "are not a JSON object": {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {**search, "arguments": '["wallet"]'}}],
        },
    }
    for reason, message in malformed.items():
        llm.malformed(message)
        out = await ask(client, tenant, shop, "How much is the leather wallet?")
        assert out["provider"] == "offline" and reason in out["fallback_reason"], (reason, out)
        assert "199.99 EGP" in out["reply"]
        assert [t["name"] for t in out["tools_called"]] == ["search_products"]  # the offline agent's one search
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    await put_setting(client, tenant.headers, "ai_base_url", f"http://127.0.0.1:{closed}/v1")
    out = await ask(client, tenant, shop, "How much is the leather wallet?")
    assert out["provider"] == "offline" and "could not be reached" in out["fallback_reason"]
    assert "199.99 EGP" in out["reply"]


@pytest.mark.usefixtures("configured")
async def test_an_order_the_model_placed_is_told_when_the_turn_falls_back_and_not_drafted_again(
    app: Any, client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, llm: FakeChatCompletions
) -> None:
    llm.order_on, llm.after_order = "buy", 429
    out = await ask(client, tenant, shop, "I want to buy the leather wallet")
    assert out["provider"] == "offline" and "429" in out["fallback_reason"]
    orders = (await client.get(f"/api/v1/customers/{shop.customer.id}/orders", headers=tenant.headers)).json()
    assert orders["total"] == 1
    (order,) = orders["items"]
    number = order["id"][:8].upper()
    assert (
        out["reply"]
        == f"Your order {number} is placed: 1 × Leather wallet. Total 199.99 EGP. We'll confirm it shortly."
    )
    assert out["intent"] == "order_create" and out["agent_used"] == "sales"
    wallet = shop.products["WAL-1"]["id"]
    assert (await client.get(f"/api/v1/products/{wallet}", headers=tenant.headers)).json()["stock"] == 2
    # nothing was drafted: a "yes" now places nothing more
    llm.order_on, llm.after_order = None, None
    llm.fail(503)
    again = await ask(client, tenant, shop, "yes", thread_id=out["thread_id"])
    assert "placed" not in again["reply"]
    assert (await client.get("/api/v1/orders", headers=tenant.headers)).json()["total"] == 1
    # the agent's order went through seed 000's factory, with the conversation's Telegram ids
    assert order["channel_type"] == "telegram" and order["conversation_id"] == str(shop.conversation.id)
    async with app.state.db.tenant_session(tenant.id) as session:
        typed = await get_channel_metadata(session, "order", uuid.UUID(order["id"]), "telegram")
    assert isinstance(typed, TelegramOrderMetadata)
    assert (typed.tg_chat_id, typed.tg_user_id) == (shop.conversation.external_thread_id, "5550001")


async def test_the_gemini_key_is_the_providers_key_and_is_always_stored_encrypted(
    app: Any, client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, llm: FakeChatCompletions
) -> None:
    """Seed 001's ``gemini_api_key``, saved through the generic settings route without saying it is sensitive,
    is encrypted and masked all the same, and the agent sends it as its bearer key when ``ai_api_key`` is unset."""
    for key, value in (("ai_provider", "openai"), ("ai_base_url", llm.base_url), ("ai_model", llm.model)):
        await put_setting(client, tenant.headers, key, value)
    r = await client.put("/api/v1/settings/gemini_api_key", json={"value": llm.api_key}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["is_sensitive"] is True and llm.api_key not in r.text
    assert llm.api_key not in (await client.get("/api/v1/settings", headers=tenant.headers)).text
    async with app.state.db.engine.connect() as conn:
        raw = (await conn.execute(text("SELECT value, secret_value FROM app_settings"))).all()
    assert all(llm.api_key not in str(v) for row in raw for v in row)
    out = await ask(client, tenant, shop, "How much is the leather wallet?")
    assert out["provider"] == "openai" and out["reply"] == "Leather wallet costs 199.99 EGP."
