"""Errors are problem+json, bad input changes nothing, lists paginate, OpenAPI is complete, ops endpoints work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs

from souk.app import create_app
from souk.settings import Settings
from tests.conftest import TenantFixture


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.post(
        "/api/v1/projects",
        content=b"{not json",
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"]


async def test_wrong_type_names_the_field(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.post("/api/v1/projects", json={"name": 42}, headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"


async def test_wrong_content_type_is_415(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.post(
        "/api/v1/projects", content=b"name=x", headers={**tenant.headers, "content-type": "text/plain"}
    )
    assert r.status_code == 415
    assert r.json()["status"] == 415


async def test_oversized_body_is_413_and_changes_nothing(client: httpx.AsyncClient, tenant: TenantFixture, app):
    limit = app.state.settings.max_body_bytes
    r = await client.post(
        "/api/v1/projects",
        content=b'{"name":"' + b"x" * limit + b'"}',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert r.status_code == 413
    projects = (await client.get("/api/v1/projects", headers=tenant.headers)).json()
    assert projects["total"] == 1


async def test_oversized_chunked_body_without_length_is_413(client: httpx.AsyncClient, tenant: TenantFixture, app):
    limit = app.state.settings.max_body_bytes

    async def body():
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = await client.post(
        "/api/v1/projects", content=body(), headers={**tenant.headers, "content-type": "application/json"}
    )
    assert r.status_code == 413


async def test_lists_paginate(client: httpx.AsyncClient, tenant: TenantFixture):
    for i in range(5):
        assert (
            await client.post("/api/v1/projects", json={"name": f"p{i}"}, headers=tenant.headers)
        ).status_code == 201
    r = (await client.get("/api/v1/projects?page=2&limit=2", headers=tenant.headers)).json()
    assert (r["total"], r["page"], r["limit"], len(r["items"])) == (6, 2, 2, 2)
    bad = await client.get("/api/v1/projects?limit=100000", headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.limit"


async def test_a_page_beyond_any_offset_is_a_422_not_a_500(client: httpx.AsyncClient, tenant: TenantFixture):
    for path in ("/api/v1/projects", "/api/v1/inbound-events", "/api/v1/knowledge-base"):
        r = await client.get(f"{path}?page=10411695858902042464240722546717097984", headers=tenant.headers)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["errors"][0]["field"] == "query.page"
    assert (await client.get("/api/v1/projects?page=2147483647", headers=tenant.headers)).status_code == 200


async def test_the_nul_character_in_text_is_never_a_500(client: httpx.AsyncClient, tenant: TenantFixture, db_url):
    """Found by schemathesis: PostgreSQL refuses NUL in text, and a ``\\u0000`` in any JSON field was a 500 there.
    SQLite stores it; PostgreSQL answers a 422 problem."""
    headers = {**tenant.headers, "content-type": "application/json"}
    for path, body in (
        ("/api/v1/knowledge-base", b'{"doc_id": "d1", "title": "t", "content": "a\\u0000b"}'),
        ("/api/v1/products", b'{"name": "a\\u0000b", "price": "1", "currency": "EGP"}'),
    ):
        r = await client.post(path, content=body, headers=headers)
        if db_url.startswith("postgresql"):
            assert r.status_code == 422, (path, r.text)
            assert r.headers["content-type"] == "application/problem+json" and "NUL" in r.json()["detail"]
        else:
            assert r.status_code == 201, (path, r.text)


async def test_an_unpaired_surrogate_in_free_form_json_is_never_a_500(
    client: httpx.AsyncClient, tenant: TenantFixture, db_url
):
    """Found by schemathesis: PostgreSQL's JSON refuses ``\\ud833`` alone, which pydantic lets through in free-form
    ``metadata``; it was a 500 there. SQLite stores it; PostgreSQL answers a 422 problem."""
    headers = {**tenant.headers, "content-type": "application/json"}
    for n, (metadata, said) in enumerate(
        [
            (b'{"\\ud833x": 1}', "surrogate"),
            (b'{"x": 1e400}', "out of range"),
            (b'{"x": "a\\u0000b"}', "NUL"),  # JSONB refuses NUL too (SQLSTATE 22P05)
        ]
    ):
        body = b'{"doc_id": "d%d", "title": "t", "content": "c", "metadata": %b}' % (n, metadata)
        r = await client.post("/api/v1/knowledge-base", content=body, headers=headers)
        if db_url.startswith("postgresql"):
            assert r.status_code == 422 and said in r.json()["detail"], r.text
        else:
            assert r.status_code == 201, r.text


async def test_duplicate_project_is_409(client: httpx.AsyncClient, tenant: TenantFixture):
    assert (await client.post("/api/v1/projects", json={"name": "Shop"}, headers=tenant.headers)).status_code == 201
    r = await client.post("/api/v1/projects", json={"name": "Shop"}, headers=tenant.headers)
    assert r.status_code == 409


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient):
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _examples_of(schema: dict[str, Any], components: dict[str, Any]) -> list[Any] | None:
    """The examples a reader of ``/docs`` gets for a body: the schema's own, else those of its fields (``None`` when
    there are none). An optional body (``X | null``) and a union (one member per channel type) need one per member."""
    schema = _resolve(schema, components)
    if schema.get("examples") or "example" in schema:
        return schema.get("examples") or [schema["example"]]
    members = [m for m in schema.get("anyOf", schema.get("oneOf", [])) if m.get("type") != "null"]
    if members:
        found = [_examples_of(m, components) for m in members]
        return None if any(f is None for f in found) else []
    fields = [_resolve(f, components) for f in schema.get("properties", {}).values()]
    return [] if any(f.get("examples") or "example" in f for f in fields) else None


def test_openapi_every_operation_has_a_summary_and_every_body_an_example(tmp_path: Path):
    """``/docs`` shows each operation's summary and an example body to start from; a whole-body example must be
    one the schema accepts."""
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db", data_dir=tmp_path, env="test"))
    spec = app.openapi()
    components = spec["components"]["schemas"]
    operations = [(f"{m.upper()} {p}", op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    assert not [name for name, op in operations if not op.get("summary")], "operations without a summary"
    no_example, invalid = [], []
    for name, op in operations:
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if media.get("example") is not None or media.get("examples"):
                continue
            examples = _examples_of(media["schema"], components)
            if examples is None:
                no_example.append(f"{name} ({media_type})")
            validator = jsonschema_rs.Draft202012Validator({**media["schema"], "components": spec["components"]})
            invalid += [f"{name}: {e.message}" for ex in examples or [] for e in validator.iter_errors(ex)]
    assert not no_example, f"request bodies without an example: {no_example}"
    assert not invalid, f"examples the schema refuses: {invalid}"
    assert "X-API-Key" in str(spec["components"]["securitySchemes"])


async def test_docs_page_is_served(tmp_path: Path):
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db", data_dir=tmp_path, env="test"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/openapi.json")).json()["paths"]


async def test_openapi_documents_errors_as_the_problems_the_api_answers(client: httpx.AsyncClient, tenant):
    spec = (await client.get("/openapi.json")).json()
    operations = [(p, m, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    errors = [(p, m, code, r) for p, m, op in operations for code, r in op["responses"].items() if code[0] in "45"]
    assert errors and all(r.get("content") == problem for *_, r in errors), [
        e for e in errors if e[3].get("content") != problem
    ][:3]
    assert "HTTPValidationError" not in str(spec)
    secured = [(p, m, op) for p, m, op in operations if op.get("security")]
    assert secured and all({"401", "429"} <= set(op["responses"]) for *_, op in secured)
    assert all("404" in op["responses"] for p, _, op in operations if p.startswith("/api/") and "{" in p)
    # and that is what comes back: a 422 naming the field, a 401
    r = await client.post("/api/v1/channels", headers=tenant.headers, json={"name": ""})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert set(r.json()) >= set(spec["components"]["schemas"]["Problem"]["required"]) and r.json()["errors"]
    r = await client.get("/api/v1/channels")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


async def test_request_id_is_echoed(client: httpx.AsyncClient):
    r = await client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    assert (await client.get("/healthz")).headers["x-request-id"]


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient, tenant: TenantFixture):
    await client.get("/api/v1/projects", headers=tenant.headers)
    text = (await client.get("/metrics")).text
    assert 'souk_http_requests_total{method="GET",route="/api/v1/projects",status="200"}' in text
    assert "souk_http_request_duration_seconds_bucket" in text


async def test_healthz(client: httpx.AsyncClient):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
