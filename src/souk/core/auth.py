"""Who is calling: API keys (``X-API-Key`` or ``Authorization: Bearer``) and web session cookies.

:func:`current` resolves the caller into a :class:`Principal` and opens a tenant session for the request;
:func:`require` adds a role check. A wrong, expired or revoked key is a 401; a role too low is a 403.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from souk.core.errors import Forbidden, Unauthorized
from souk.core.models import ApiKey, Role, User, WebSession
from souk.core.observability import log
from souk.core.security import sha256_hex
from souk.db.engine import Database
from souk.db.types import utcnow

SESSION_COOKIE = "souk_session"
LAST_USED_RESOLUTION = timedelta(seconds=60)

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="A tenant API key.")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


@dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    role: Role
    actor_type: str  # "api_key" | "user"
    actor_id: uuid.UUID
    label: str
    user_id: uuid.UUID | None = None


@dataclass
class Ctx:
    """What a handler gets: the caller, a session walled to the caller's tenant, and the request id."""

    principal: Principal
    session: AsyncSession
    request_id: str | None
    request: Request

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.principal.tenant_id


_touches: set[asyncio.Task[None]] = set()


async def _touch(db: Database, key_id: uuid.UUID, now: datetime) -> None:
    """Record when a key was last used. Best effort, after the lookup: a request never waits for this write."""
    try:
        async with db.system_session() as session:
            await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
    except Exception as exc:  # a busy database: the next request a minute later records it
        log.debug("last_used_at not recorded", key=str(key_id), error=str(exc))


async def _from_api_key(db: Database, session: AsyncSession, key: str) -> Principal:
    row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == sha256_hex(key)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise Unauthorized("invalid, expired or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        task = asyncio.create_task(_touch(db, row.id, now))
        _touches.add(task)
        task.add_done_callback(_touches.discard)
    return Principal(row.tenant_id, Role(row.role), "api_key", row.id, f"key {row.prefix}…")


async def _from_cookie(session: AsyncSession, token: str) -> Principal | None:
    ws = await session.scalar(select(WebSession).where(WebSession.token_hash == sha256_hex(token)))
    if ws is None or ws.expires_at <= utcnow():
        return None
    user = await session.get(User, ws.user_id)
    if user is None or not user.is_active:
        return None
    return Principal(user.tenant_id, Role(user.role), "user", user.id, user.email, user_id=user.id)


async def resolve_principal(request: Request, *, allow_cookie: bool = True) -> Principal | None:
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    db = request.app.state.db
    async with db.system_read_session() as session:
        if key:
            return await _from_api_key(db, session, key)
        token = request.cookies.get(SESSION_COOKIE) if allow_cookie else None
        if token:
            return await _from_cookie(session, token)
    return None


async def current(
    request: Request,
    _k: Any = Depends(_api_key_header),
    _b: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> AsyncIterator[Ctx]:
    principal = await resolve_principal(request)
    if principal is None:
        raise Unauthorized(
            "send an API key in X-API-Key (or Authorization: Bearer), or log in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    if principal.actor_type == "api_key":
        request.app.state.key_limiter.take(principal.actor_id)
    db = request.app.state.db
    # reads (GET, HEAD) never take SQLite's write lock, so the inbox stays quick while workers write
    opened = db.read_session if request.method in ("GET", "HEAD") else db.tenant_session
    async with opened(principal.tenant_id) as session:
        yield Ctx(principal, session, getattr(request.state, "request_id", None), request)


def require(role: Role) -> Callable[..., Any]:
    """A dependency that lets through callers with at least ``role``.

    The tenant session is closed (committed or rolled back) *before* the response is sent, so a client never
    reads an answer for a change that did not commit.
    """

    async def _dep(ctx: Ctx = Depends(current, scope="function")) -> Ctx:
        if ctx.principal.role.rank < role.rank:
            raise Forbidden(f"this needs the {role.value} role; you are {ctx.principal.role.value}")
        return ctx

    return _dep


agent = require(Role.agent)
admin = require(Role.admin)
owner = require(Role.owner)
