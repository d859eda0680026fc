"""The tenant-isolation matrix: tenant B's owner key against tenant A's objects, on every route of the OpenAPI
schema, sees none of A's data and changes none of it.

1. Every route that names an object in its path gets the id of a real object of A of that kind (a channel,
   customer, identity, conversation, message, media, inbound event, product, order, import, knowledge base
   document, setting, agent thread, API key, user, invite, merge proposal, post, ad campaign, pipeline, team,
   automation rule, webhook subscription and delivery, canned response, labels), so a refusal proves a wall and not
   a typo; no route is probed with an id that exists nowhere. A write is sent a valid body (naming B's own objects
   where it names any), so what refuses it is the tenant check (403/404), never validation (422). Routes whose
   only parameters are names inside a tenant (a setting key, a knowledge base ``doc_id``, a canned shortcut) may
   answer about B's own object of that name; they too must show nothing of A's and change nothing of A's.
2. Every route that takes ids in its query is given A's ids: it answers an empty result or a refusal.
3. Every write whose body names objects is sent, on B's own objects, a body naming A's: refused (403/404/422: a
   reference to an object B cannot see is a field error naming it).
Afterwards A sees its objects exactly as before.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from souk.core.models import ApiKey
from souk.core.service import default_project
from souk.messaging.models import Message
from souk.settings import Settings
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows

MARK = "alpha-private"
REFUSED = {401, 403, 404, 405, 409, 422}
WALL = {403, 404}  # what a valid request for another tenant's object gets
SKIP_PREFIXES = ("/webhooks/",)  # platforms authenticate there by signature, not by API key (own tests)
#: parameters that are names inside a tenant, not ids: B may have (or create) its own object of that name
NAMES = {"key", "doc_id", "shortcut", "name"}
#: not stored by Souk: a history import's Temporal workflow id, in the form Souk gives it, for A's channel
UNSTORED = {"workflow_id"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": False})


async def objects_of_a(app: FastAPI, client: httpx.AsyncClient, a: TenantFixture) -> dict[str, str]:
    rows = Rows(app.state.db, a.id)
    channel = await rows.channel("telegram", name=f"{MARK} channel")
    customer = await rows.customer(first_name=MARK)
    await rows.identity(channel, customer, "a-user-1")
    conv = await rows.conversation(channel, customer)
    message = await rows.message(conv, datetime(2026, 3, 1, tzinfo=UTC), message_text=f"{MARK} message")
    media = await rows.media(message)
    event = await rows.event(channel)
    h = a.headers
    product = (
        await client.post(
            "/api/v1/products",
            json={"name": f"{MARK} product", "price": "10.00", "currency": "EGP", "stock": 5, "sku": "A-1"},
            headers=h,
        )
    ).json()
    order = (
        await client.post(
            "/api/v1/orders",
            json={"customer_id": str(customer.id), "items": [{"product_id": product["id"], "quantity": 1}]},
            headers=h,
        )
    ).json()
    doc = {"doc_id": "alpha-doc", "title": f"{MARK} doc", "content": f"{MARK} policy"}
    assert (await client.post("/api/v1/knowledge-base", json=doc, headers=h)).status_code == 201
    assert (await client.put("/api/v1/settings/alpha_setting", json={"value": MARK}, headers=h)).status_code in (
        200,
        201,
    )
    invoke = {"customer_id": str(customer.id), "message": "hello", "channel": "telegram"}
    thread = (await client.post("/api/v2/agent/invoke", json=invoke, headers=h)).json()["thread_id"]
    async with app.state.db.system_session() as s:
        key_id = (await s.scalars(select(ApiKey.id).where(ApiKey.tenant_id == a.id))).first()
    return {
        "channel_id": str(channel.id),
        "channel_type": "telegram",
        "customer_id": str(customer.id),
        "conversation_id": str(conv.id),
        "message_id": str(message.id),
        "media_id": str(media.id),
        "event_id": str(event.id),
        "product_id": product["id"],
        "order_id": order["id"],
        "doc_id": "alpha-doc",
        "key": "alpha_setting",
        "thread_id": thread,
        "key_id": str(key_id),
        "user_id": str(a.owner_id),
    }


async def more_objects_of(app: FastAPI, client: httpx.AsyncClient, t: TenantFixture, mark: str) -> dict[str, str]:
    """The objects of every other kind, made through the API where it makes them (rows for what only the worker
    writes: a webhook delivery, a merge proposal)."""
    from souk.automation.models import WebhookDelivery
    from souk.crm.models import MergeProposal

    h = t.headers

    async def made(method: str, path: str, **kw: Any) -> dict[str, Any]:
        r = await client.request(method, path, headers=h, **kw)
        assert r.status_code in (200, 201, 202), (method, path, r.status_code, r.text)
        return r.json()

    rows = Rows(app.state.db, t.id)
    channel = await rows.channel("telegram", name=f"{mark} channel")
    customer = await rows.customer(first_name=mark)
    other = await rows.customer(first_name=f"{mark} twin")
    conv = await rows.conversation(channel, customer)
    product = await made(
        "POST", "/api/v1/products", json={"name": f"{mark} item", "price": "5", "currency": "EGP", "stock": 100}
    )
    pipeline = await made(
        "POST", "/api/v1/pipelines", json={"name": f"{mark} pipeline", "stages": [{"name": f"{mark} stage"}]}
    )
    team = await made("POST", "/api/v1/teams", json={"name": f"{mark} team", "member_ids": [str(t.owner_id)]})
    subscription = await made(
        "POST", "/api/v1/webhooks", json={"url": "https://erp.example.com/souk-events", "events": ["message.created"]}
    )
    rule = await made(
        "POST",
        "/api/v1/automation-rules",
        json={"name": f"{mark} rule", "event": "message.created", "actions": [{"type": "label", "labels": ["x"]}]},
    )
    post = await made("POST", "/api/v1/posts", json={"facebook_post_id": f"{mark}-post", "post_content": mark})
    ad = await made("POST", "/api/v1/ad-campaigns", json={"facebook_ad_id": f"{mark}-ad", "campaign_name": mark})
    await made("POST", "/api/v1/canned-responses", json={"shortcut": f"/{mark}", "content": mark})
    invite = await made("POST", "/api/v1/invites", json={"email": f"{mark}@example.com"})
    csv = ("items.csv", b"name,price,currency\n" + f"{mark} imported,3,EGP\n".encode(), "text/csv")
    job = await made("POST", "/api/v1/products/import", files={"file": csv})
    await made("POST", f"/api/v1/conversations/{conv.id}/labels", json={"labels": [f"{mark}-label"]})
    await made("POST", f"/api/v1/customers/{customer.id}/labels", json={"labels": [f"{mark}-label"]})
    delivery = await rows._add(
        WebhookDelivery(subscription_id=uuid.UUID(subscription["id"]), event_id=f"{mark}-ev", event_type="x.y")
    )
    proposal = await rows._add(MergeProposal(customer_id=customer.id, other_id=other.id, phone="+201000000001"))
    async with app.state.db.tenant_session(t.id) as s:
        project_id = (await default_project(s, t.id)).id
    return {
        "project_id": str(project_id),
        "channel_id": str(channel.id),
        "customer_id": str(customer.id),
        "other_customer_id": str(other.id),
        "conversation_id": str(conv.id),
        "product_id": product["id"],
        "pipeline_id": pipeline["id"],
        "stage_id": pipeline["stages"][0]["id"],
        "team_id": team["id"],
        "subscription_id": subscription["id"],
        "delivery_id": str(delivery.id),
        "rule_id": rule["id"],
        "post_id": post["id"],
        "ad_id": ad["id"],
        "shortcut": mark,  # stored without its slash
        "invite_id": invite["id"],
        "proposal_id": str(proposal.id),
        "import_id": job["id"],
        "name": f"{mark}-label",
        "user_id": str(t.owner_id),
        "more_conversation_id": str(conv.id),
        "more_customer_id": str(customer.id),
        "workflow_id": f"telegram-import-{channel.id}-1",
    }


#: a valid body per write route; "{x}" is the id x of the tenant the request is made as (phase 1) or of A (phase 3)
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/users/{user_id}"): {"name": "probe"},
    ("PUT", "/api/v1/settings/{key}"): {"value": "probe"},
    ("PATCH", "/api/v1/channels/{channel_id}"): {"name": "probe"},
    ("POST", "/api/v1/channels/{channel_id}/configure-webhook"): {},
    ("POST", "/api/v1/channels/{channel_id}/associate-pipeline"): {"pipeline_id": "{pipeline_id}"},
    ("POST", "/api/v1/channels/{channel_id}/activate-waha"): {},
    ("POST", "/api/v1/channels/{channel_id}/import-history"): {},
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): {"text": "probe"},
    ("POST", "/api/v1/conversations/{conversation_id}/typing"): {"typing": True},
    ("PATCH", "/api/v1/customers/{customer_id}"): {"governorate": "probe"},
    ("POST", "/api/v1/customers/{customer_id}/merge"): {"other_id": "{other_customer_id}"},
    ("POST", "/api/v1/customers/{customer_id}/unmerge"): {},
    ("PATCH", "/api/v1/posts/{post_id}"): {"post_content": "probe"},
    ("PATCH", "/api/v1/ad-campaigns/{ad_id}"): {"campaign_name": "probe"},
    ("PATCH", "/api/v1/products/{product_id}"): {"name": "probe"},
    ("POST", "/api/v1/orders/{order_id}/status"): {"status": "confirmed"},
    ("PATCH", "/api/v1/knowledge-base/{doc_id}"): {"title": "probe"},
    ("POST", "/api/v1/conversations/{conversation_id}/handoff"): {"reason": "probe"},
    ("PUT", "/api/v1/conversations/{conversation_id}/ai-agent"): {"agent": "sales"},
    ("PATCH", "/api/v1/pipelines/{pipeline_id}"): {"name": "probe", "team_id": "{team_id}"},
    ("PATCH", "/api/v1/teams/{team_id}"): {"name": "probe", "member_ids": ["{user_id}"]},
    ("PUT", "/api/v1/agents/{user_id}/availability"): {"availability": "online"},
    ("PUT", "/api/v1/conversations/{conversation_id}/assignee"): {"assignee_id": "{user_id}", "team_id": "{team_id}"},
    ("PUT", "/api/v1/conversations/{conversation_id}/status"): {"status": "resolved"},
    ("PUT", "/api/v1/conversations/{conversation_id}/stage"): {"stage_id": "{stage_id}"},
    ("POST", "/api/v1/conversations/{target_id}/labels"): {"labels": ["probe"]},
    ("POST", "/api/v1/customers/{target_id}/labels"): {"labels": ["probe"]},
    ("POST", "/api/v1/conversations/{conversation_id}/notes"): {"body": "probe"},
    ("PUT", "/api/v1/canned-responses/{shortcut}"): {"shortcut": "/probe", "content": "probe"},
    ("PATCH", "/api/v1/webhooks/{subscription_id}"): {"description": "probe"},
    ("PUT", "/api/v1/automation-rules/{rule_id}"): {
        "name": "probe",
        "event": "message.created",
        "actions": [{"type": "assign", "user_id": "{user_id}"}],
    },
    # writes without an object in the path whose body names objects (phase 3 only)
    ("POST", "/api/v1/orders"): {
        "customer_id": "{customer_id}",
        "items": [{"product_id": "{product_id}", "quantity": 1}],
    },
    ("POST", "/api/v1/channels"): {
        "name": "probe",
        "channel_type": "telegram",
        "project_id": "{project_id}",
        "pipeline_id": "{pipeline_id}",
        "config": {"botToken": "123:probe"},
    },
    ("POST", "/api/v1/pipelines"): {"name": "probe", "project_id": "{project_id}", "team_id": "{team_id}"},
    ("POST", "/api/v1/teams"): {"name": "probe", "member_ids": ["{user_id}"]},
    ("POST", "/api/v1/automation-rules"): {
        "name": "probe",
        "event": "message.created",
        "actions": [{"type": "assign", "user_id": "{user_id}", "team_id": "{team_id}"}],
    },
    ("POST", "/api/v1/canned-responses/render"): {"conversation_id": "{conversation_id}", "text": "probe"},
    ("POST", "/api/v2/agent/invoke"): {"customer_id": "{customer_id}", "message": "hello", "channel": "telegram"},
}
#: a query id's value: the id of that name, or the one it stands for
#: body fields that are free text, not references (seed 003: an order's customer_id, like the legacy instagram_user,
#: is the string the caller gives): B may write A's id there; the proof is that A sees nothing of it (snapshot)
FREE_TEXT = {("POST", "/api/v1/orders", "customer_id")}
#: ``target_id`` is the labelled object: a conversation or a customer, by the path
TARGETS = {"/api/v1/conversations/": "more_conversation_id", "/api/v1/customers/": "more_customer_id"}
QUERY_IDS = {"entity_id": "customer_id", "assignee_id": "user_id", "external_id": "message_external_id"}


PLACEHOLDER = re.compile(r'"\{(\w+)\}"')


def fill(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every "{x}" string replaced by ``ids[x]``."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def path_of(template: str, ids: dict[str, str], names: dict[str, str] | None = None) -> str:
    """``template`` with its parameters set from ``ids`` (``names`` first for the name parameters, if given)."""
    target = next((key for prefix, key in TARGETS.items() if template.startswith(prefix + "{target_id}")), None)

    def value(m: re.Match[str]) -> str:
        p = m.group(1)
        if names is not None and p in NAMES:
            return names.get(p, "probe")
        return ids[target] if p == "target_id" and target else ids[p]

    return re.sub(r"{(\w+)}", value, template)


def operations(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """(method, path template, the ids it takes in its query) of every operation probed."""
    found = []
    for path, ops in app.openapi()["paths"].items():
        if path.startswith(SKIP_PREFIXES):
            continue
        for method, op in ops.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                query = [
                    p["name"] for p in op.get("parameters", []) if p["in"] == "query" and p["name"].endswith("_id")
                ]
                found.append((method.upper(), path, query))
    return found


async def snapshot(client: httpx.AsyncClient, a: TenantFixture, ids: dict[str, str]) -> dict[str, Any]:
    """What A sees of its objects (compared before and after B's attempts)."""
    paths = [
        f"/api/v1/channels/{ids['channel_id']}",
        f"/api/v1/customers/{ids['customer_id']}",
        f"/api/v1/products/{ids['product_id']}",
        f"/api/v1/orders/{ids['order_id']}",
        f"/api/v1/customers/{ids['customer_id']}/orders",
        f"/api/v1/customers/{ids['customer_id']}/order-stats",
        f"/api/v1/orders?customer_id={ids['customer_id']}",
        f"/api/v1/knowledge-base/{ids['doc_id']}",
        f"/api/v1/settings/{ids['key']}",
        f"/api/v1/conversations/{ids['conversation_id']}/messages",
        f"/api/v1/conversations/{ids['more_conversation_id']}",
        f"/api/v1/conversations/{ids['more_conversation_id']}/labels",
        f"/api/v1/pipelines/{ids['pipeline_id']}",
        f"/api/v1/teams/{ids['team_id']}",
        f"/api/v1/automation-rules/{ids['rule_id']}",
        f"/api/v1/webhooks/{ids['subscription_id']}",
        f"/api/v1/webhook-deliveries/{ids['delivery_id']}",
        f"/api/v1/posts/{ids['post_id']}",
        f"/api/v1/ad-campaigns/{ids['ad_id']}",
        f"/api/v1/products/imports/{ids['import_id']}",
        "/api/v1/canned-responses",
        "/api/v1/invites",
        "/api/v1/customers/merge-proposals",
        "/api/v1/users",
        "/api/v1/agents",
        "/api/v1/channels",
    ]
    seen = {}
    for path in paths:
        r = await client.get(path, headers=a.headers)
        assert r.status_code == 200, (path, r.text)
        seen[path] = _stable(r.json())
    return seen


def _stable(value: Any) -> Any:
    """Without the fields that move on their own (times a read refreshes)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in {"last_used_at", "updated_at"}}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


async def test_no_route_lets_another_tenant_read_or_change_an_object(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    a, b = tenant, other_tenant
    first = await objects_of_a(app, client, a)
    more = await more_objects_of(app, client, a, MARK)
    # A's ids: the objects_of_a ones where both have one (its conversation has messages, media, an order)
    ids = {**more, **first}
    async with app.state.db.tenant_session(a.id) as s:
        ids["message_external_id"] = (await s.get(Message, uuid.UUID(ids["message_id"]))).external_id
    own = await more_objects_of(app, client, b, "beta-own")  # B's own, named by B's valid bodies
    before = await snapshot(client, a, ids)
    secrets = {MARK, *(v for k, v in ids.items() if k not in {"channel_type", "key", "shortcut", "name"})}

    def leaks(r: httpx.Response, sent: str) -> list[str]:
        return [s for s in secrets if s in r.text and s not in sent]  # an id B sent may be echoed in the 404

    checked: dict[str, list[tuple[str, str, int]]] = {"path": [], "query": [], "body": []}
    for method, template, query in operations(app):
        params = re.findall(r"{(\w+)}", template)
        body = BODIES.get((method, template))
        if params:
            # 1. A's object in the path, a valid body
            assert all(p in ids or p == "target_id" for p in params), f"{method} {template}: no object of A"
            path = path_of(template, ids)
            if method in {"POST", "PUT", "PATCH"} and body is None:
                body = {}
            r = await client.request(method, path, json=fill(body, own), headers=b.headers)
            only_names = set(params) <= NAMES
            if only_names:
                assert r.status_code < 500, f"{method} {template}: {r.status_code} {r.text[:200]}"
            else:
                assert r.status_code in WALL, f"{method} {template}: {r.status_code} {r.text[:300]}"
            assert not leaks(r, path), f"{method} {template} leaks {leaks(r, path)}: {r.text[:300]}"
            checked["path"].append((method, template, r.status_code))
        if query:
            # 2. A's ids in the query, on B's own objects in the path
            path = path_of(template, own, names={})
            values = {q: ids[QUERY_IDS.get(q, q)] for q in query}
            r = await client.request(
                method, path, params=values, json=fill(body, own) if body else None, headers=b.headers
            )
            assert r.status_code in REFUSED | {200}, f"{method} {template}?{query}: {r.status_code} {r.text[:200]}"
            sent = path + json.dumps(values)
            assert not leaks(r, sent), f"{method} {template}?{query} leaks {leaks(r, sent)}: {r.text[:300]}"
            checked["query"].append((method, template, r.status_code))
    # after the reads: these writes, when a field is free text, leave B objects that name A's ids
    for method, template, _ in operations(app):
        body = BODIES.get((method, template))
        for ref in sorted(set(PLACEHOLDER.findall(json.dumps(body)))) if body else []:
            # 3. B's own object in the path and in the body, except one reference: A's
            path = path_of(template, own, names={})
            sent = fill(body, {**own, ref: ids[ref]})
            r = await client.request(method, path, json=sent, headers=b.headers)
            allowed = WALL | {422} | ({201} if (method, template, ref) in FREE_TEXT else set())
            assert r.status_code in allowed, f"{method} {template} with A's {ref}: {r.status_code} {r.text[:300]}"
            assert not leaks(r, json.dumps(sent)), f"{method} {template} leaks: {r.text[:300]}"
            checked["body"].append((method, f"{template} {ref}", r.status_code))
    assert len(checked["path"]) >= 90 and len(checked["query"]) >= 10 and len(checked["body"]) >= 19, checked
    assert await snapshot(client, a, ids) == before
