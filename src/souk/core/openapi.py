"""What the OpenAPI document says about errors: what the application answers, RFC 9457 problem+json.

FastAPI documents a 422 with its own ``HTTPValidationError`` body as ``application/json`` and no other error. Souk
answers every error as ``application/problem+json`` (:mod:`souk.core.errors`), a 422 with ``errors[]`` naming each
field, and every authenticated route can answer 401 (no key or session, or a wrong one) and 429 (the key's rate
limit). This rewrites the generated document once so that a client generated from it, and a reader of ``/docs``,
expect what they will get: each error response refers to one ``Problem`` schema, and routes whose path names a
resource say they can answer 404 (which is also what another tenant's id gets).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` lists each invalid field of a 422.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong and, where it can, what to do next"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "type"],
                "properties": {
                    "field": {
                        "type": "string",
                        "description": "A body field by its name (`items.0.sku`), else `query.limit`, `path.id`",
                    },
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_ADDED = {
    "401": "No API key or session, or one that is not valid (any more)",
    "429": "The API key's rate limit is spent; `Retry-After` says when to try again",
}
_NOT_FOUND = "No such resource in this tenant (another tenant's id is not found either)"


def describe_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite ``schema`` in place (and return it): every 4xx/5xx response is a ``Problem``."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = {"description": "A field is invalid: `errors[]` names each one"}
            if operation.get("security"):
                for code, description in _ADDED.items():
                    responses.setdefault(code, {"description": description})
            if path.startswith("/api/") and "{" in path:
                responses.setdefault("404", {"description": _NOT_FOUND})
            for code, response in responses.items():
                if code[:1] in ("4", "5") and isinstance(response, dict):
                    response["content"] = _CONTENT
    schemas = schema["components"]["schemas"]
    text = repr(schema["paths"])
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}'" not in text:
            schemas.pop(name, None)
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (``/openapi.json``, ``/docs``) describe errors as problem+json."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
