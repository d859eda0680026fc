"""RFC 9457 problem+json for every error, and domain errors that carry their HTTP status.

Services raise :class:`SoukError` subclasses; handlers never build error bodies by hand.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"
TYPE_BASE = "https://souk.dev/problems/"


class SoukError(Exception):
    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra

    def response(self) -> JSONResponse:
        """The problem response, for a handler that must answer an error *and* commit what it recorded."""
        extra = dict(self.extra)
        headers = extra.pop("headers", None)
        return problem(
            self.status, self.title, self.detail, slug=self.slug, errors=self.errors, headers=headers, **extra
        )


class NotFound(SoukError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(SoukError):
    status, title, slug = 409, "Conflict", "conflict"


class Unprocessable(SoukError):
    status, title, slug = 422, "Validation failed", "validation"


class Unauthorized(SoukError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(SoukError):
    status, title, slug = 403, "Forbidden", "forbidden"


class Gone(SoukError):
    status, title, slug = 410, "Gone", "gone"


class TooManyRequests(SoukError):
    status, title, slug = 429, "Too many requests", "rate-limited"


class BadGateway(SoukError):
    status, title, slug = 502, "Upstream platform error", "bad-gateway"


def field_error(field: str, message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"field": field, "message": message, "type": kind}


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if where == "body" and rest else ".".join([where, *rest]) if where != "body" else "body"
    return ".".join(parts)


#: Tags of discriminated unions in request bodies (e.g. channel types). Pydantic puts the chosen tag in an error's
#: path; users named the field, not the tag, so it is dropped from the ``field`` we report.
UNION_TAGS: set[str] = set()


def validation_errors(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for err in raw:
        loc = list(err.get("loc", ()))
        if len(loc) > 2 and loc[0] == "body" and loc[1] in UNION_TAGS:
            del loc[1]
        # pydantic puts the union tag in the path of discriminated unions; keep the user's field names only
        loc = [p for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
        out.append(field_error(_loc_to_field(loc), err.get("msg", "invalid"), err.get("type", "value_error")))
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SoukError)
    async def _souk(_: Request, exc: SoukError) -> JSONResponse:
        headers = exc.extra.pop("headers", None)
        return problem(
            exc.status, exc.title, exc.detail, slug=exc.slug, errors=exc.errors, headers=headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(list(exc.errors()))
        names = ", ".join(e["field"] for e in errors)
        return problem(422, "Validation failed", f"invalid fields: {names}", slug="validation", errors=errors)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        # What JSON can carry in any field but PostgreSQL cannot store, and was a 500 there: the NUL character in
        # text (SQLSTATE 22021, "invalid byte sequence for encoding UTF8: 0x00") or in JSONB (22P05, "unsupported
        # Unicode escape sequence"), and, inside free-form JSON, an unpaired UTF-16 surrogate such as \ud833 or a
        # number beyond a double (1e400 parses as infinity) (22P02, "invalid input syntax for type json").
        # Anything else stays a server error.
        state, message = getattr(exc.orig, "sqlstate", None), str(exc.orig)
        if state in ("22021", "22P05"):
            what = "the NUL character (\\u0000)"
        elif state == "22P02" and "type json" in message:
            what = "an unpaired surrogate (\\ud800-\\udfff) or a number out of range"
        else:
            raise exc
        return problem(
            422,
            "Validation failed",
            f"the body holds {what}, which cannot be stored",
            slug="validation",
            errors=[field_error("body", f"contains {what}", "value_unstorable")],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}
        return problem(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )
