"""The AI agent's settings through one resource: read with the key masked, change a few fields at a time, wrong
values named by field, an incomplete provider refused whole, and another tenant's settings untouched."""

from __future__ import annotations

import httpx

from souk.agent.llm import system_prompt
from tests.conftest import TenantFixture, make_tenant

URL = "/api/v1/ai-agent/settings"


async def test_defaults_then_a_partial_change_keeps_the_rest(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.get(URL, headers=tenant.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["provider"] == "offline" and body["reply_budget"] == 30 and body["hours_mode"] == "always"
    assert body["languages"] == ["en", "ar"] and body["problems"] == [] and body["api_key"] is None
    r = await client.put(URL, json={"reply_budget": 5, "instructions": "Be warm; we close on Fridays."},
                         headers=tenant.headers)  # fmt: skip
    assert r.status_code == 200, r.text
    r = await client.put(URL, json={"timezone": "Asia/Riyadh", "handoff_assignee": tenant.owner_email.upper()},
                         headers=tenant.headers)  # fmt: skip
    assert r.status_code == 200, r.text
    body = (await client.get(URL, headers=tenant.headers)).json()
    assert body["reply_budget"] == 5 and body["instructions"] == "Be warm; we close on Fridays."
    assert body["timezone"] == "Asia/Riyadh" and body["handoff_assignee"] == tenant.owner_email
    # the same values are the app settings the agent reads (and the settings API lists)
    listed = (await client.get("/api/v1/settings?category=ai", headers=tenant.headers)).json()["items"]
    assert {s["key"] for s in listed} >= {"ai_reply_budget", "ai_instructions", "ai_timezone"}
    # null clears a field back to its default
    r = await client.put(URL, json={"reply_budget": None}, headers=tenant.headers)
    assert r.json()["reply_budget"] == 30 and r.json()["timezone"] == "Asia/Riyadh"


async def test_the_provider_key_is_write_only(client: httpx.AsyncClient, tenant: TenantFixture):
    key = "sk-test-0123456789abcdef0123456789"
    r = await client.put(
        URL,
        json={"provider": "openai", "base_url": "https://llm.example/v1", "model": "small", "api_key": key},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    masked = r.json()["api_key"]
    assert masked and key not in r.text and key not in (await client.get(URL, headers=tenant.headers)).text
    # sending the masked value back (a form saved as it was shown) keeps the stored key
    r = await client.put(URL, json={"api_key": masked, "model": "bigger"}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["api_key"] == masked and r.json()["model"] == "bigger"


async def test_wrong_values_are_named_by_field(client: httpx.AsyncClient, tenant: TenantFixture):
    bad = {"timezone": "Mars/Olympus", "business_hours": "sometimes", "handoff_assignee": "nobody@acme.test"}
    r = await client.put(URL, json=bad, headers=tenant.headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in r.json()["errors"]} == {"timezone", "business_hours", "handoff_assignee"}
    r = await client.put(URL, json={"provider": "skynet", "reply_budget": 0}, headers=tenant.headers)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"provider", "reply_budget"}
    # openai without a base URL and model would be misconfigured: refused whole, nothing stored
    r = await client.put(URL, json={"provider": "openai"}, headers=tenant.headers)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"base_url", "model"}
    assert (await client.get(URL, headers=tenant.headers)).json()["provider"] == "offline"


async def test_admins_only_and_tenants_apart(app, client: httpx.AsyncClient, tenant: TenantFixture):
    other = await make_tenant(app, "globex")
    await client.put(URL, json={"instructions": "Acme only"}, headers=tenant.headers)
    assert (await client.get(URL, headers=other.headers)).json()["instructions"] is None
    agent_key = await make_tenant(app, "hooli", role="agent")
    assert (await client.put(URL, json={"reply_budget": 3}, headers=agent_key.headers)).status_code == 403


def test_the_shops_instructions_follow_the_rules_in_the_prompt():
    prompt = system_prompt("sales", "en", "Always greet with Ahlan.")
    assert prompt.index("never") < prompt.index("Always greet with Ahlan.")
    assert system_prompt("sales", "en", "  ") == system_prompt("sales", "en")
