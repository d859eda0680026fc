"""The tenant-isolation matrix: for every route of the OpenAPI schema that names an object, tenant B's owner key on
tenant A's objects is refused (401/403/404/405/409/422), sees none of A's data, and changes none of it. Routes
that take a name (a setting key, a knowledge base ``doc_id``) may answer about B's own object of that name; they
too must show nothing of A's and change nothing of A's.

A's objects are real (a channel, customer, identity, conversation, message, media, inbound event, product, order,
knowledge base document, setting, agent thread, API key, user), so a refusal proves a wall and not a typo; a route
whose parameter has no object here gets an id that exists nowhere, which must be refused the same way.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from souk.core.models import ApiKey
from souk.settings import Settings
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows

MARK = "alpha-private"
REFUSED = {401, 403, 404, 405, 409, 422}
SKIP_PREFIXES = ("/webhooks/",)  # platforms authenticate there by signature, not by API key (own tests)
#: parameters that are names inside a tenant, not ids: B may have (or create) its own object of that name
NAMES = {"key", "doc_id"}


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


def routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for path, ops in app.openapi()["paths"].items():
        if "{" in path and not path.startswith(SKIP_PREFIXES):
            found += [(method.upper(), path) for method in ops if method in {"get", "post", "put", "patch", "delete"}]
    return found


async def snapshot(client: httpx.AsyncClient, a: TenantFixture, ids: dict[str, str]) -> dict[str, Any]:
    """What A sees of its objects (compared before and after B's attempts)."""
    paths = [
        f"/api/v1/channels/{ids['channel_id']}",
        f"/api/v1/customers/{ids['customer_id']}",
        f"/api/v1/products/{ids['product_id']}",
        f"/api/v1/orders/{ids['order_id']}",
        f"/api/v1/knowledge-base/{ids['doc_id']}",
        f"/api/v1/settings/{ids['key']}",
        f"/api/v1/conversations/{ids['conversation_id']}/messages",
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
    ids = await objects_of_a(app, client, tenant)
    before = await snapshot(client, tenant, ids)
    secrets = {MARK, *(v for k, v in ids.items() if k not in {"channel_type", "key"})}
    checked = []
    for method, template in routes(app):
        path = re.sub(r"{(\w+)}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), template)
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        r = await client.request(method, path, json=body, headers=other_tenant.headers)
        named = set(re.findall(r"{(\w+)}", template)) & NAMES
        assert r.status_code in REFUSED or (named and r.status_code < 500), f"{method} {template}: {r.status_code}"
        leaked = [s for s in secrets if s in r.text and s not in path]  # an id B sent may be echoed in the 404
        assert not leaked, f"{method} {template} leaks {leaked}: {r.text[:300]}"
        checked.append((method, template, r.status_code))
    assert len(checked) >= 40
    assert await snapshot(client, tenant, ids) == before
