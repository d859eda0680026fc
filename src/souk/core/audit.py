"""The audit log: who did what to which entity, when, with before/after (secrets masked)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from souk.core.auth import Ctx
from souk.core.models import AuditLog
from souk.core.secrets import mask

SECRET_HINTS = ("token", "secret", "password", "api_key", "apikey", "key_hash", "hmac", "auth")


def scrub(data: Any) -> Any:
    """A copy of ``data`` with every value under a secret-looking key masked."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if any(h in str(k).lower() for h in SECRET_HINTS) and isinstance(v, str):
                out[k] = mask(v)
            else:
                out[k] = scrub(v)
        return out
    if isinstance(data, list):
        return [scrub(v) for v in data]
    return data


def record(
    ctx: Ctx,
    action: str,
    entity_type: str,
    entity_id: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    return record_raw(
        ctx.session,
        actor_type=ctx.principal.actor_type,
        actor_id=str(ctx.principal.actor_id),
        actor_label=ctx.principal.label,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        request_id=ctx.request_id,
    )


def record_raw(
    session: AsyncSession,
    *,
    actor_type: str,
    actor_id: str | None,
    actor_label: str | None,
    action: str,
    entity_type: str,
    entity_id: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str | None = None,
    tenant_id: Any = None,
) -> AuditLog:
    row = AuditLog(
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        before=scrub(_jsonable(before)) if before is not None else None,
        after=scrub(_jsonable(after)) if after is not None else None,
        request_id=request_id,
    )
    if tenant_id is not None:
        row.tenant_id = tenant_id
    session.add(row)
    return row


def _jsonable(data: Any) -> Any:
    import json

    return json.loads(json.dumps(data, default=str))
