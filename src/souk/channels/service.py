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


def check_vendor(channel_type: str, vendor_name: str | None) -> None:
    """``vendor.name`` is the detection key (seed 002), so it must be the vendor of the channel's own type: a
    telegram channel naming ``chotot`` would otherwise be validated, activated and sent through as Chotot."""
    if vendor_name is None:
        return
    expected = registry.get(channel_type).vendor
    if vendor_name != expected:
        known = ", ".join(registry.vendors())
        raise Unprocessable(
            f"vendor.name {vendor_name!r} does not fit a {channel_type} channel, whose vendor is {expected!r}",
            errors=[
                field_error(
                    "vendor.name", f"must be {expected!r} for a {channel_type} channel (known vendors: {known})"
                )
            ],
        )


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
    """The channel's URL under ``base_url``; a base that already is the channel's URL is kept as it is."""
    path = f"/webhooks/{channel.channel_type}/{channel.id}"
    base = base_url.rstrip("/")
    return base if base.endswith(path) else base + path


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
    check_vendor(body.channel_type, body.vendor.name if body.vendor else None)
    project_id = body.project_id
    if project_id is None:
        from souk.core.service import default_project

        project_id = (await default_project(session, tenant_id)).id
    elif await session.get(Project, project_id) is None:
        raise NotFound("no such project", errors=[{"field": "project_id", "message": "not found", "type": "missing"}])
    await check_pipeline(session, body.pipeline_id)
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
    if changes.get("vendor") is not None:
        check_vendor(channel.channel_type, changes["vendor"].get("name"))
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


async def _flush(session: AsyncSession, **extra: Any) -> None:
    try:
        await session.flush()
    except StaleDataError:
        raise Conflict(
            "the channel was changed at the same time by another request; reload and retry", **extra
        ) from None


def check_transition(channel: Channel, target: ChannelStatus) -> None:
    current = ChannelStatus(channel.status)
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"a channel cannot go from {current.value} to {target.value}",
            current_status=current.value,
            requested_status=target.value,
        )


def check_not_raced(channel: Channel, target: ChannelStatus, arrived: datetime | None) -> None:
    """409 when the status changed after this request arrived: the request was decided on a status it never saw.

    Two status commands sent together are both legal one after the other (activate, then deactivate), and the
    database may well run them one after the other (SQLite always does). The one that commits second finds a change
    newer than itself and loses; with overlapping transactions the version column catches the same race.
    """
    changed = channel.status_changed_at
    if arrived is not None and changed is not None and changed > arrived:
        raise Conflict(
            f"the channel's status changed to {channel.status} while this request was in flight; reload and retry",
            current_status=channel.status,
            requested_status=target.value,
        )


async def set_status(
    session: AsyncSession,
    channel: Channel,
    target: ChannelStatus,
    *,
    error: str | None = None,
    arrived: datetime | None = None,
) -> None:
    """Move along the state machine. A change made since the request ``arrived`` (committed first) or made at the
    same time (the version column, compared in the UPDATE) makes this one fail with 409."""
    check_not_raced(channel, target, arrived)
    check_transition(channel, target)
    channel.status = target
    if target == ChannelStatus.error and error:
        channel.last_error, channel.last_error_at = error, utcnow()
    channel.updated_at = utcnow()
    await _flush(session, requested_status=target.value)


async def activate(session: AsyncSession, channel: Channel, *, arrived: datetime | None = None) -> datetime:
    platform = platform_of(channel)
    check_not_raced(channel, ChannelStatus.active, arrived)
    if platform.needs_webhook and not channel.webhook_configured_at:
        raise Conflict(
            "configure the channel's webhook first (POST …/configure-webhook): "
            "a channel cannot receive messages without it"
        )
    await set_status(session, channel, ChannelStatus.active, arrived=arrived)
    events.emit(session, channel.tenant_id, "channel.activated", event_payload(channel))
    return channel.updated_at


async def deactivate(session: AsyncSession, channel: Channel, *, arrived: datetime | None = None) -> datetime:
    await set_status(session, channel, ChannelStatus.inactive, arrived=arrived)
    events.emit(session, channel.tenant_id, "channel.deactivated", event_payload(channel))
    return channel.updated_at


def client_for(channel: Channel, http: httpx.AsyncClient) -> VendorClient:
    return platform_of(channel).client(channel.config, channel.secrets, http)


def check_receives_webhooks(platform: Platform, channel: Channel) -> None:
    """409 for a platform that delivers on the broker: there is no webhook to set up, and a URL shown as if there
    were would be one Souk refuses."""
    subject = platform.broker_subject(channel.id)
    if subject is not None:
        raise Conflict(
            f"{platform.display_name} delivers inbound messages on the broker subject {subject}, not through a "
            "webhook: there is no webhook to configure",
            broker_subject=subject,
        )


async def configure_webhook(
    session: AsyncSession, channel: Channel, http: httpx.AsyncClient, base_url: str
) -> tuple[str, bool]:
    """Give the channel its URL and register it with the platform where the platform allows.

    Returns ``(url, registered_with_platform)``. Raises ``PlatformError`` when the platform refuses.
    """
    platform = platform_of(channel)
    check_receives_webhooks(platform, channel)
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
    platform = platform_of(channel)
    check_receives_webhooks(platform, channel)
    secrets = dict(channel.secrets)
    secrets[WEBHOOK_SECRET] = new_webhook_secret()
    if platform.can_register_webhook and channel.webhook_url:
        await platform.client(channel.config, secrets, http).configure_webhook(
            channel.webhook_url, secrets[WEBHOOK_SECRET]
        )
    channel.secrets = secrets
    channel.updated_at = utcnow()
    await _flush(session)
    events.emit(session, channel.tenant_id, "channel.updated", {**event_payload(channel), "fields": ["secret"]})


async def check_pipeline(session: AsyncSession, pipeline_id: uuid.UUID | None) -> None:
    """404 naming ``pipeline_id`` unless it is one of the tenant's pipelines (the session sees no other tenant's)."""
    if pipeline_id is None:
        return
    from souk.automation.models import Pipeline  # routing builds on channels

    if await session.get(Pipeline, pipeline_id) is None:
        raise NotFound("no such pipeline", errors=[field_error("pipeline_id", "not a pipeline of this tenant")])


async def associate_pipeline(session: AsyncSession, channel: Channel, pipeline_id: uuid.UUID | None) -> None:
    await check_pipeline(session, pipeline_id)
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
            await client_for(channel, http).delete_webhook(channel.webhook_url)
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
