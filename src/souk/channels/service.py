"""Channel commands (seed 004): create, update, activate/deactivate with the status state machine, webhooks,
pipelines, test-connection. Services never commit; every change emits its domain event in the same transaction."""

from __future__ import annotations

import secrets as pysecrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from souk.channels.models import TRANSITIONS, Channel, ChannelStatus
from souk.core import events
from souk.core.errors import BadGateway, Conflict, NotFound, Unprocessable, field_error, validation_errors
from souk.core.models import Project
from souk.core.secrets import mask
from souk.db.types import utcnow
from souk.platforms import registry
from souk.platforms.plugin import Platform, PlatformError, VendorClient

WEBHOOK_SECRET = "webhookSecret"


def platform_of(channel: Channel) -> Platform:
    return registry.detect(channel.vendor_name, channel.channel_type)


def new_webhook_secret() -> str:
    # Telegram's secret_token allows only A-Za-z0-9_- and at most 256 characters
    return pysecrets.token_urlsafe(32)


def split_config(platform: Platform, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain config, secret config) by the platform's ``secret_fields``."""
    plain = {k: v for k, v in config.items() if k not in platform.secret_fields}
    secret = {k: v for k, v in config.items() if k in platform.secret_fields}
    return plain, secret


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: (v if k == "type" else _mask_value(v)) for k, v in value.items()}
    return "…"


#: config keys the history import keeps on a channel (see souk.workflows.history_import)
IMPORT_STATE_KEYS = (
    "importRuns",
    "importWorkflowId",
    "importStrategy",
    "lastImport",
    "importCompleted",
    "importedUntil",
)


def masked_config(channel: Channel) -> dict[str, Any]:
    """The config as the API shows it: plain keys as stored, secret keys masked, never the webhook secret."""
    shown = dict(channel.config or {})
    for key, value in (channel.secrets or {}).items():
        if key != WEBHOOK_SECRET:
            shown[key] = _mask_value(value)
    return shown


def webhook_url_for(base_url: str, channel: Channel) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{channel.channel_type}/{channel.id}"


def _validate_config(platform: Platform, config: Mapping[str, Any]) -> BaseModel:
    try:
        return platform.config_model.model_validate(dict(config))
    except ValidationError as exc:
        errors = validation_errors(list(exc.errors()))
        for e in errors:
            e["field"] = "config." + e["field"] if e["field"] not in ("", "body") else "config"
        raise Unprocessable(
            f"invalid config for a {platform.channel_type} channel: " + ", ".join(e["field"] for e in errors),
            errors=errors,
        ) from None


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def event_payload(channel: Channel) -> dict[str, Any]:
    return {
        "channel_id": str(channel.id),
        "channel_type": channel.channel_type,
        "status": channel.status,
        "name": channel.name,
        "project_id": str(channel.project_id),
    }


async def create_channel(
    session: AsyncSession, tenant_id: uuid.UUID, body: Any, *, user_id: uuid.UUID | None
) -> Channel:
    platform = registry.get(body.channel_type)
    project_id = body.project_id
    if project_id is None:
        from souk.core.service import default_project

        project_id = (await default_project(session, tenant_id)).id
    elif await session.get(Project, project_id) is None:
        raise NotFound("no such project", errors=[{"field": "project_id", "message": "not found", "type": "missing"}])
    await _check_pipeline(session, body.pipeline_id)
    plain, secret = split_config(platform, _dump(body.config))
    secret[WEBHOOK_SECRET] = new_webhook_secret()
    channel = Channel(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        user_id=user_id,
        project_id=project_id,
        name=body.name,
        channel_type=body.channel_type,
        status=ChannelStatus.connecting,
        external_id=body.external_id,
        config=plain,
        secrets=secret,
        pipeline_id=body.pipeline_id,
        default_session_timeout_minutes=body.default_session_timeout_minutes,
        ai_enabled=body.ai_enabled,
        ai_agents_enabled=body.ai_agents_enabled,
        vendor_channel_id=body.vendor.channel_id if body.vendor else None,
        vendor_name=(body.vendor.name if body.vendor and body.vendor.name else None),
        meta=body.metadata,
    )
    channel.webhook_id = str(channel.id)
    session.add(channel)
    await session.flush()
    events.emit(session, tenant_id, "channel.created", event_payload(channel))
    return channel


def channels_query(
    *,
    channel_type: str | None = None,
    status: str | None = None,
    q: str | None = None,
    project_id: uuid.UUID | None = None,
) -> Select[tuple[Channel]]:
    stmt = select(Channel).where(Channel.deleted_at.is_(None)).order_by(Channel.created_at.desc())
    if channel_type:
        stmt = stmt.where(Channel.channel_type == channel_type)
    if status:
        stmt = stmt.where(Channel.status == status)
    if project_id:
        stmt = stmt.where(Channel.project_id == project_id)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Channel.name).like(like),
                func.lower(Channel.external_id).like(like),
                func.lower(Channel.vendor_channel_id).like(like),
            )
        )
    return stmt


async def get_channel(session: AsyncSession, channel_id: uuid.UUID) -> Channel:
    channel = await session.scalar(select(Channel).where(Channel.id == channel_id, Channel.deleted_at.is_(None)))
    if channel is None:
        raise NotFound("no such channel")
    return channel


def _merge_secret(old: Any, new: Any) -> Any:
    """A masked value sent back unchanged means "keep what is stored"."""
    if isinstance(new, str) and isinstance(old, str) and new == mask(old):
        return old
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: _merge_secret(old.get(k), v) for k, v in new.items()}
    return new


async def patch_channel(session: AsyncSession, channel: Channel, body: Any) -> Channel:
    platform = platform_of(channel)
    changes = body.model_dump(exclude_unset=True)
    if "config" in changes and changes["config"] is not None:
        current = {**channel.config, **{k: v for k, v in channel.secrets.items() if k != WEBHOOK_SECRET}}
        merged = dict(current)
        for key, value in changes["config"].items():
            merged[key] = _merge_secret(current.get(key), value) if key in platform.secret_fields else value
        # what Souk keeps in the config for history imports is not the user's to validate (nor to lose)
        kept = {
            k: merged.pop(k) for k in IMPORT_STATE_KEYS if k in merged and k not in platform.config_model.model_fields
        }
        plain, secret = split_config(platform, _dump(_validate_config(platform, merged)))
        plain.update(kept)
        secret[WEBHOOK_SECRET] = channel.secrets.get(WEBHOOK_SECRET) or new_webhook_secret()
        channel.config, channel.secrets = plain, secret
    for field in ("name", "external_id", "default_session_timeout_minutes", "ai_enabled", "ai_agents_enabled"):
        if field in changes and changes[field] is not None:
            setattr(channel, field, changes[field])
    if changes.get("metadata") is not None:
        channel.meta = changes["metadata"]
    if changes.get("vendor") is not None:
        channel.vendor_channel_id = changes["vendor"].get("channel_id")
        channel.vendor_name = changes["vendor"].get("name")
    channel.updated_at = utcnow()
    await _flush(session)
    events.emit(session, channel.tenant_id, "channel.updated", {**event_payload(channel), "fields": sorted(changes)})
    return channel


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except StaleDataError:
        raise Conflict("the channel was changed at the same time by another request; reload and retry") from None


def check_transition(channel: Channel, target: ChannelStatus) -> None:
    current = ChannelStatus(channel.status)
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"a channel cannot go from {current.value} to {target.value}",
            current_status=current.value,
            requested_status=target.value,
        )


async def set_status(
    session: AsyncSession, channel: Channel, target: ChannelStatus, *, error: str | None = None
) -> None:
    """Move along the state machine; the version column makes a concurrent change fail with 409."""
    check_transition(channel, target)
    channel.status = target
    if target == ChannelStatus.error and error:
        channel.last_error, channel.last_error_at = error, utcnow()
    channel.updated_at = utcnow()
    await _flush(session)


async def activate(session: AsyncSession, channel: Channel) -> datetime:
    platform = platform_of(channel)
    if platform.needs_webhook and not channel.webhook_configured_at:
        raise Conflict(
            "configure the channel's webhook first (POST …/configure-webhook): "
            "a channel cannot receive messages without it"
        )
    await set_status(session, channel, ChannelStatus.active)
    events.emit(session, channel.tenant_id, "channel.activated", event_payload(channel))
    return channel.updated_at


async def deactivate(session: AsyncSession, channel: Channel) -> datetime:
    await set_status(session, channel, ChannelStatus.inactive)
    events.emit(session, channel.tenant_id, "channel.deactivated", event_payload(channel))
    return channel.updated_at


def client_for(channel: Channel, http: httpx.AsyncClient) -> VendorClient:
    return platform_of(channel).client(channel.config, channel.secrets, http)


async def configure_webhook(
    session: AsyncSession, channel: Channel, http: httpx.AsyncClient, base_url: str
) -> tuple[str, bool]:
    """Give the channel its URL and register it with the platform where the platform allows.

    Returns ``(url, registered_with_platform)``. Raises ``PlatformError`` when the platform refuses.
    """
    platform = platform_of(channel)
    url = webhook_url_for(base_url, channel)
    registered = False
    if platform.can_register_webhook:
        await client_for(channel, http).configure_webhook(url, channel.secrets[WEBHOOK_SECRET])
        registered = True
    channel.webhook_url = url
    channel.webhook_configured_at = utcnow()
    channel.webhook_active = True
    channel.updated_at = utcnow()
    await _flush(session)
    events.emit(session, channel.tenant_id, "channel.updated", {**event_payload(channel), "fields": ["webhook_url"]})
    return url, registered


def verify_token(channel: Channel) -> str | None:
    """The token a person pastes into Meta's dashboard (only platforms with a GET handshake have one)."""
    if not platform_of(channel).has_handshake:
        return None
    return channel.secrets.get("webhookToken") or channel.secrets.get(WEBHOOK_SECRET)


async def rotate_webhook_secret(session: AsyncSession, channel: Channel, http: httpx.AsyncClient) -> None:
    """A new webhook secret; re-registered with the platform at once where Souk registered it."""
    secrets = dict(channel.secrets)
    secrets[WEBHOOK_SECRET] = new_webhook_secret()
    platform = platform_of(channel)
    if platform.can_register_webhook and channel.webhook_url:
        await platform.client(channel.config, secrets, http).configure_webhook(
            channel.webhook_url, secrets[WEBHOOK_SECRET]
        )
    channel.secrets = secrets
    channel.updated_at = utcnow()
    await _flush(session)
    events.emit(session, channel.tenant_id, "channel.updated", {**event_payload(channel), "fields": ["secret"]})


async def _check_pipeline(session: AsyncSession, pipeline_id: uuid.UUID | None) -> None:
    """A pipeline named for a channel must be one of the tenant's (the session sees no other tenant's rows)."""
    if pipeline_id is not None:
        from souk.automation.models import Pipeline  # routing builds on channels

        if await session.get(Pipeline, pipeline_id) is None:
            raise NotFound("no such pipeline", errors=[field_error("pipeline_id", "not a pipeline of this tenant")])


async def associate_pipeline(session: AsyncSession, channel: Channel, pipeline_id: uuid.UUID | None) -> None:
    await _check_pipeline(session, pipeline_id)
    channel.pipeline_id = pipeline_id
    channel.updated_at = utcnow()
    await _flush(session)
    name = "channel.pipeline.associated" if pipeline_id else "channel.pipeline.disassociated"
    events.emit(
        session,
        channel.tenant_id,
        name,
        {**event_payload(channel), "pipeline_id": str(pipeline_id) if pipeline_id else None},
    )


async def delete_channel(session: AsyncSession, channel: Channel, http: httpx.AsyncClient) -> str | None:
    """Soft-delete (conversations keep their channel); removes the platform-side webhook where Souk set one.

    Returns a warning when the platform could not be reached: the channel is deleted anyway and Souk refuses its
    webhooks from now on.
    """
    warning = None
    platform = platform_of(channel)
    if platform.can_register_webhook and channel.webhook_url:
        try:
            await client_for(channel, http).delete_webhook()
        except (PlatformError, NotImplementedError, httpx.HTTPError) as exc:
            warning = f"the platform-side webhook could not be removed: {exc}"
    channel.deleted_at = utcnow()
    channel.status = ChannelStatus.inactive
    channel.webhook_active = False
    await _flush(session)
    events.emit(session, channel.tenant_id, "channel.deleted", event_payload(channel))
    return warning


def note_error(channel: Channel, message: str, *, to_status: ChannelStatus | None = None) -> None:
    """Remember a platform error on the channel (and move it to ``to_status`` when the state machine allows)."""
    channel.last_error, channel.last_error_at = message[:2000], utcnow()
    if to_status is not None and to_status in TRANSITIONS[ChannelStatus(channel.status)]:
        channel.status = to_status


def platform_failure(exc: PlatformError | httpx.HTTPError, platform: str) -> BadGateway:
    if isinstance(exc, PlatformError):
        return BadGateway(f"{platform} refused: {exc.message}", platform_status=exc.status, platform_code=exc.code)
    return BadGateway(f"{platform} unreachable: {exc}")
