"""The OpenAI-compatible provider against a local fake chat-completions server that calls tools: the answer goes
through the same tools and guardrails, and every provider failure falls back to the offline agent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

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


async def ask(client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, message: str) -> dict:
    body = {"customer_id": str(shop.customer.id), "message": message, "channel": "telegram"}
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
