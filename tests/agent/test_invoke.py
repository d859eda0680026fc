"""``POST /api/v2/agent/invoke`` with the offline agent: answers from the catalog, orders and knowledge base."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.agent.conftest import Shop, put_setting
from tests.conftest import TenantFixture, make_tenant

INVOKE = "/api/v2/agent/invoke"


async def ask(client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, message: str, **kw: Any) -> dict[str, Any]:
    body = {"customer_id": str(shop.customer.id), "message": message, "channel": "telegram", **kw}
    r = await client.post(INVOKE, json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_price_comes_from_the_catalog_in_the_customers_language(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    en = await ask(client, tenant, shop, "How much is the leather wallet?")
    assert en["agent_used"] == "sales" and en["intent"] == "price"
    assert "199.99 EGP" in en["reply"] and "Leather wallet" in en["reply"]
    assert [t["name"] for t in en["tools_called"]] == ["search_products"]
    assert en["provider"] == "offline" and en["handoff"] is False and en["response_time_ms"] >= 0

    ar = await ask(client, tenant, shop, "كم سعر الجاكيت الشتوي؟")
    assert "1250.00" in ar["reply"] and ar["reply"].startswith("سعر")
    # the thread remembers the conversation's language and the conversation records the agent (seed 003)
    r = await client.get(f"/api/v1/conversations/{shop.conversation.id}", headers=tenant.headers)
    conv = r.json()
    assert conv["agent_used"] == "sales" and conv["response_time_ms"] is not None
    assert conv["thread_id"] == ar["thread_id"] == en["thread_id"]


async def test_an_order_is_built_confirmed_and_followed_up(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    first = await ask(client, tenant, shop, "I want 2 leather wallets")
    assert first["intent"] == "order_create" and "399.98 EGP" in first["reply"]
    thread = first["thread_id"]
    placed = await ask(client, tenant, shop, "yes please", thread_id=thread)
    assert [t["name"] for t in placed["tools_called"]] == ["create_order"]
    assert "399.98 EGP" in placed["reply"]
    r = await client.get(f"/api/v1/customers/{shop.customer.id}/orders", headers=tenant.headers)
    (order,) = r.json()["items"]
    assert order["total_price"] == "399.98" and order["status"] == "pending"
    assert order["conversation_id"] == str(shop.conversation.id)
    assert order["id"][:8].upper() in placed["reply"]
    # stock was reserved by the commerce service, not by the agent
    r = await client.get(f"/api/v1/products/{shop.products['WAL-1']['id']}", headers=tenant.headers)
    assert r.json()["stock"] == 1

    status = await ask(client, tenant, shop, "Where is my order?", thread_id=thread)
    assert status["agent_used"] == "support" and status["intent"] == "order_status"
    assert order["id"][:8].upper() in status["reply"] and "pending" in status["reply"]

    r = await client.get(f"/api/v2/agent/threads/{thread}", headers=tenant.headers)
    turns = r.json()["turns"]
    assert [t["intent"] for t in turns] == ["order_create", "order_create", "order_status"]


async def test_declining_drops_the_draft_and_too_many_is_refused(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    draft = await ask(client, tenant, shop, "I want 2 leather wallets")
    dropped = await ask(client, tenant, shop, "no", thread_id=draft["thread_id"])
    assert "didn't place" in dropped["reply"] and dropped["tools_called"] == []
    too_many = await ask(client, tenant, shop, "I want 9 leather wallets")
    assert "only 3" in too_many["reply"]
    r = await client.get(f"/api/v1/customers/{shop.customer.id}/orders", headers=tenant.headers)
    assert r.json()["items"] == []


async def test_policy_questions_cite_the_knowledge_base(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    en = await ask(client, tenant, shop, "What is your return policy?")
    assert en["agent_used"] == "support" and "14 days" in en["reply"]
    assert [c["doc_id"] for c in en["citations"]] == ["returns-en"]
    ar = await ask(client, tenant, shop, "ما هي سياسة الاسترجاع؟")
    assert [c["doc_id"] for c in ar["citations"]] == ["returns-ar"]
    # an inactive document is never used
    r = await client.patch("/api/v1/knowledge-base/returns-en", json={"is_active": False}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    again = await ask(client, tenant, shop, "What is your return policy?")
    assert "returns-en" not in [c["doc_id"] for c in again["citations"]]


async def test_bestsellers_and_out_of_stock(client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop) -> None:
    best = await ask(client, tenant, shop, "What do you recommend?")
    assert best["intent"] == "recommend" and "1250.00" in best["reply"]
    dress = await ask(client, tenant, shop, "Is the summer dress available?")
    assert "out of stock" in dress["reply"]


@pytest.mark.parametrize(
    ("message", "reason"),
    [("I want to talk to a human", "asked for a person"), ("THIS IS THE WORST SERVICE EVER!!!", "complaint")],
)
async def test_handoff_stops_the_bot_until_released(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, message: str, reason: str
) -> None:
    out = await ask(client, tenant, shop, message)
    assert out["handoff"] is True and reason in out["handoff_reason"] and out["agent_used"] == "support"
    r = await client.get(f"/api/v1/conversations/{shop.conversation.id}", headers=tenant.headers)
    assert r.json()["handoff_at"] is not None
    body = {"customer_id": str(shop.customer.id), "message": "hello?", "channel": "telegram"}
    r = await client.post(INVOKE, json=body, headers=tenant.headers)
    assert r.status_code == 409 and "release" in r.json()["detail"]
    r = await client.post(f"/api/v1/conversations/{shop.conversation.id}/release", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["handoff_at"] is None
    assert (await ask(client, tenant, shop, "hello"))["intent"] == "greeting"


async def test_two_unanswerable_questions_hand_over(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    first = await ask(client, tenant, shop, "qwzx plorb")
    assert first["handoff"] is False and first["intent"] == "unknown"
    second = await ask(client, tenant, shop, "zzyx vrumt", thread_id=first["thread_id"])
    assert second["handoff"] is True and "low confidence" in second["handoff_reason"]


async def test_a_customer_can_be_named_by_platform_id(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    out = await ask(client, tenant, shop, "hi", customer_id="5550001")
    assert out["intent"] == "greeting" and out["conversation_id"] == str(shop.conversation.id)


@pytest.mark.parametrize(
    ("message", "status", "field"),
    [("", 422, "message"), ("   ", 422, "message"), ("x" * 5000, 422, "message"), ("x" * 20_001, 422, "message")],
)
async def test_bad_messages_are_clear_errors(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop, message: str, status: int, field: str
) -> None:
    body = {"customer_id": str(shop.customer.id), "message": message}
    r = await client.post(INVOKE, json=body, headers=tenant.headers)
    assert r.status_code == status
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(field in str(e.get("field") or e.get("loc")) for e in problem["errors"])


async def test_unknown_customer_and_other_tenants_are_walls(
    app: Any, client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    body = {"customer_id": "nobody-here", "message": "hi"}
    r = await client.post(INVOKE, json=body, headers=tenant.headers)
    assert r.status_code == 404 and "nobody-here" in r.json()["detail"]
    thread = (await ask(client, tenant, shop, "hi"))["thread_id"]
    other = await make_tenant(app, "other-shop")
    r = await client.post(INVOKE, json={"customer_id": str(shop.customer.id), "message": "hi"}, headers=other.headers)
    assert r.status_code == 404
    r = await client.get(f"/api/v2/agent/threads/{thread}", headers=other.headers)
    assert r.status_code == 404
    # the other tenant's own customer naming this tenant's thread (or a thread nobody started): 404, nothing made
    from tests.messaging.api.conftest import Rows

    theirs = await Rows(app.state.db, other.id).customer(first_name="Omar")
    for key in (thread, "made-up-thread"):
        body = {"customer_id": str(theirs.id), "message": "hi", "thread_id": key}
        r = await client.post(INVOKE, json=body, headers=other.headers)
        assert r.status_code == 404 and r.json()["errors"][0]["field"] == "thread_id", r.text
        assert (await client.get(f"/api/v2/agent/threads/{key}", headers=other.headers)).status_code == 404


async def test_a_thread_of_another_customer_is_refused(
    app: Any, client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    from tests.messaging.api.conftest import Rows

    thread = (await ask(client, tenant, shop, "hi"))["thread_id"]
    stranger = await Rows(app.state.db, tenant.id).customer(first_name="Sara")
    body = {"customer_id": str(stranger.id), "message": "hi", "thread_id": thread}
    r = await client.post(INVOKE, json=body, headers=tenant.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "thread_id"


async def test_a_misconfigured_provider_names_the_setting(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    await put_setting(client, tenant.headers, "ai_provider", "openai")
    body = {"customer_id": str(shop.customer.id), "message": "hi"}
    r = await client.post(INVOKE, json=body, headers=tenant.headers)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"ai_base_url", "ai_model"}
    await put_setting(client, tenant.headers, "ai_provider", "skynet")
    r = await client.post(INVOKE, json=body, headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ai_provider"


async def test_tenant_templates_override_the_defaults(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    await put_setting(client, tenant.headers, "ai_templates", '{"en": {"greeting": "Welcome to Ahmed\'s shop!"}}')
    assert (await ask(client, tenant, shop, "hello"))["reply"] == "Welcome to Ahmed's shop!"


async def test_bad_hours_and_time_zone_settings_are_named(
    client: httpx.AsyncClient, tenant: TenantFixture, shop: Shop
) -> None:
    await put_setting(client, tenant.headers, "ai_business_hours", "every day")
    await put_setting(client, tenant.headers, "ai_timezone", "Mars/Olympus")
    r = await client.post(INVOKE, json={"customer_id": str(shop.customer.id), "message": "hi"}, headers=tenant.headers)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"ai_business_hours", "ai_timezone"}
