"""Seed 004's channel REST API, response bodies as the seed shows them."""

import uuid
from datetime import datetime
from typing import Any

import httpx
from fastapi import APIRouter, Body, Depends, Query, Request

from souk.channels import service
from souk.channels.forms import config_fields
from souk.channels.models import Channel, ChannelStatus
from souk.channels.schemas import (
    ChannelList,
    ChannelOut,
    ChannelPatch,
    ChannelTypeOut,
    ConfigureWebhookIn,
    ConfigureWebhookOut,
    PipelineIn,
    StatusChanged,
    TestConnectionOut,
    WebhookInfo,
    channel_create_model,
)
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import Unprocessable, field_error
from souk.core.models import Role
from souk.core.pagination import PageParams, page_params, paginate
from souk.db.types import utcnow
from souk.platforms import registry
from souk.platforms.plugin import PlatformError


def channel_out(channel: Channel) -> ChannelOut:
    platform = service.platform_of(channel)
    data = {c: getattr(channel, c) for c in ChannelOut.model_fields if hasattr(channel, c)}
    data.update(
        config=service.masked_config(channel),
        vendor={"channel_id": channel.vendor_channel_id, "name": channel.vendor_name or platform.vendor},
        metadata=channel.meta or {},
        requires_partner_credentials=platform.requires_partner_credentials,
        history_import=platform.history_import,
    )
    return ChannelOut.model_validate(data)


def _http(request: Request) -> httpx.AsyncClient:
    return request.app.state.http


async def arrival() -> datetime:
    """When the request arrived, taken before any database work: a status change committed after it is one this
    request could not have seen (see ``service.check_not_raced``)."""
    return utcnow()


def _changed(request: Request, channel: Channel) -> None:
    """This process's webhook receivers see the change at once (other processes within the cache TTL)."""
    request.app.state.channel_cache.forget(channel.id)


types_router = APIRouter(tags=["channels"])


@types_router.get(
    "/api/v1/channel-types",
    summary="The channel types this Souk knows, with their config schemas",
    response_model=list[ChannelTypeOut],
)
async def channel_types(ctx: Ctx = Depends(agent)) -> list[ChannelTypeOut]:
    out = []
    for name in registry.channel_types():
        p = registry.get(name)
        schema = p.config_model.model_json_schema()
        out.append(
            ChannelTypeOut(
                channel_type=name,
                display_name=p.display_name,
                vendor=p.vendor,
                requires_partner_credentials=p.requires_partner_credentials,
                history_import=p.history_import,
                needs_webhook=p.needs_webhook,
                receives_webhooks=p.receives_webhooks,
                registers_webhook=p.can_register_webhook,
                has_handshake=p.has_handshake,
                secret_fields=sorted(p.secret_fields),
                config_schema=schema,
                fields=config_fields(schema, p.secret_fields),
            )
        )
    return out


def build_router() -> APIRouter:
    """Built at app start, so the create schema covers every platform registered then (plugins included)."""
    router = APIRouter(prefix="/api/v1/channels", tags=["channels"])
    ChannelCreate = channel_create_model()

    @router.post(
        "",
        summary="Create a channel",
        status_code=201,
        response_model=ChannelOut,
        responses={422: {"description": "Unknown channel_type or a config that does not fit it"}},
    )
    async def create(
        body: ChannelCreate = Body(openapi_examples=_CREATE_EXAMPLES),  # type: ignore[valid-type]
        ctx: Ctx = Depends(admin),
    ) -> ChannelOut:
        channel = await service.create_channel(ctx.session, ctx.tenant_id, body.root, user_id=ctx.principal.user_id)
        audit.record(
            ctx,
            "channel.created",
            "channel",
            channel.id,
            after={
                "name": channel.name,
                "channel_type": channel.channel_type,
                "config": service.masked_config(channel),
            },
        )
        return channel_out(channel)

    @router.get("", summary="List channels (filters: type, status, text search)", response_model=ChannelList)
    async def list_channels(
        ctx: Ctx = Depends(agent),
        params: PageParams = Depends(page_params),
        type: str | None = Query(None, max_length=32, description="Only this channel type (any registered one)."),
        status: ChannelStatus | None = Query(None, description="Only this status."),
        q: str | None = Query(None, max_length=200, description="Search in name, external and vendor ids."),
        project_id: uuid.UUID | None = None,
    ) -> ChannelList:
        if type is not None and type not in registry.channel_types():
            known = ", ".join(registry.channel_types())
            raise Unprocessable(
                f"unknown channel type {type!r}; known: {known}",
                errors=[field_error("type", f"must be one of: {known}")],
            )
        stmt = service.channels_query(channel_type=type, status=status, q=q, project_id=project_id)
        rows, total = await paginate(ctx.session, stmt, params)
        items = [channel_out(c) for c in rows]
        return ChannelList(channels=items, items=items, total=total, page=params.page, limit=params.limit)

    @router.get("/{channel_id}", summary="Read a channel (secrets masked)", response_model=ChannelOut)
    async def get(channel_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> ChannelOut:
        return channel_out(await service.get_channel(ctx.session, channel_id))

    @router.patch(
        "/{channel_id}", summary="Change a channel's name, config, AI flags or metadata", response_model=ChannelOut
    )
    async def patch(
        channel_id: uuid.UUID, body: ChannelPatch, request: Request, ctx: Ctx = Depends(admin)
    ) -> ChannelOut:
        channel = await service.get_channel(ctx.session, channel_id)
        _changed(request, channel)
        before = channel_out(channel).model_dump(mode="json")
        await service.patch_channel(ctx.session, channel, body)
        after = channel_out(channel)
        audit.record(ctx, "channel.updated", "channel", channel.id, before=before, after=after.model_dump(mode="json"))
        return after

    @router.delete("/{channel_id}", summary="Delete a channel (and its platform-side webhook)", status_code=200)
    async def delete(channel_id: uuid.UUID, request: Request, ctx: Ctx = Depends(admin)) -> dict[str, Any]:
        channel = await service.get_channel(ctx.session, channel_id)
        warning = await service.delete_channel(ctx.session, channel, _http(request))
        _changed(request, channel)
        audit.record(ctx, "channel.deleted", "channel", channel.id, before={"name": channel.name})
        return {"success": True, "channel_id": channel.id, "warning": warning}

    @router.post(
        "/{channel_id}/activate",
        summary="Activate a channel",
        response_model=StatusChanged,
        responses={409: {"description": "Illegal transition, webhook not configured, or a concurrent change"}},
    )
    async def activate(
        channel_id: uuid.UUID,
        request: Request,
        arrived: datetime = Depends(arrival),
        ctx: Ctx = Depends(admin),
    ) -> StatusChanged:
        channel = await service.get_channel(ctx.session, channel_id)
        _changed(request, channel)
        at = await service.activate(ctx.session, channel, arrived=arrived)
        audit.record(ctx, "channel.activated", "channel", channel.id)
        return StatusChanged(channel_id=channel.id, status=channel.status, activated_at=at)

    @router.post(
        "/{channel_id}/deactivate",
        summary="Deactivate a channel",
        response_model=StatusChanged,
        responses={409: {"description": "Illegal transition or a concurrent change"}},
    )
    async def deactivate(
        channel_id: uuid.UUID,
        request: Request,
        arrived: datetime = Depends(arrival),
        ctx: Ctx = Depends(admin),
    ) -> StatusChanged:
        channel = await service.get_channel(ctx.session, channel_id)
        _changed(request, channel)
        at = await service.deactivate(ctx.session, channel, arrived=arrived)
        audit.record(ctx, "channel.deactivated", "channel", channel.id)
        return StatusChanged(channel_id=channel.id, status=channel.status, deactivated_at=at)

    @router.post(
        "/{channel_id}/configure-webhook",
        summary="Give the channel its webhook URL and register it",
        response_model=ConfigureWebhookOut,
        responses={
            409: {"description": "The platform delivers on the broker (Chotot): no webhook to configure"},
            422: {"description": "webhook_url is not an absolute http(s) URL"},
            502: {"description": "The platform refused the registration"},
        },
    )
    async def configure_webhook(
        channel_id: uuid.UUID, request: Request, body: ConfigureWebhookIn | None = None, ctx: Ctx = Depends(admin)
    ) -> ConfigureWebhookOut:
        channel = await service.get_channel(ctx.session, channel_id)
        base = (body.webhook_url if body and body.webhook_url else None) or request.app.state.settings.base_url
        try:
            url, registered = await service.configure_webhook(ctx.session, channel, _http(request), base)
        except (PlatformError, httpx.HTTPError) as exc:
            service.note_error(channel, str(exc))
            return service.platform_failure(exc, channel.channel_type).response()
        audit.record(ctx, "channel.webhook_configured", "channel", channel.id, after={"webhook_url": url})
        token = service.verify_token(channel)
        instructions = None
        if not registered and token:
            instructions = (
                "Paste this callback URL and verify token in your Meta app dashboard "
                "(Webhooks), and subscribe to the messages fields."
            )
        elif not registered:
            instructions = "Set this URL as the webhook in the platform's developer portal."
        return ConfigureWebhookOut(
            webhook_url=url, registered_with_platform=registered, verify_token=token, instructions=instructions
        )

    @router.get("/{channel_id}/webhook-info", summary="The channel's webhook state", response_model=WebhookInfo)
    async def webhook_info(channel_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> WebhookInfo:
        channel = await service.get_channel(ctx.session, channel_id)
        platform = service.platform_of(channel)
        token = service.verify_token(channel) if ctx.principal.role.rank >= Role.admin.rank else None
        return WebhookInfo(
            webhook_url=channel.webhook_url,
            webhook_active=channel.webhook_active,
            webhook_configured_at=channel.webhook_configured_at,
            last_webhook_received=channel.last_webhook_received_at,
            verify_token=token,
            registered_with_platform=bool(channel.webhook_url and platform.can_register_webhook),
            broker_subject=platform.broker_subject(channel.id),
        )

    @router.post(
        "/{channel_id}/rotate-webhook-secret",
        summary="Replace the webhook secret (re-registers it)",
        response_model=WebhookInfo,
        responses={409: {"description": "The platform delivers on the broker (Chotot): no webhook secret"}},
    )
    async def rotate_secret(channel_id: uuid.UUID, request: Request, ctx: Ctx = Depends(admin)) -> WebhookInfo:
        channel = await service.get_channel(ctx.session, channel_id)
        try:
            await service.rotate_webhook_secret(ctx.session, channel, _http(request))
            _changed(request, channel)
        except (PlatformError, httpx.HTTPError) as exc:
            raise service.platform_failure(exc, channel.channel_type) from None
        audit.record(ctx, "channel.webhook_secret_rotated", "channel", channel.id)
        return WebhookInfo(
            webhook_url=channel.webhook_url,
            webhook_active=channel.webhook_active,
            webhook_configured_at=channel.webhook_configured_at,
            last_webhook_received=channel.last_webhook_received_at,
            verify_token=service.verify_token(channel),
            registered_with_platform=bool(channel.webhook_url and service.platform_of(channel).can_register_webhook),
        )

    @router.post(
        "/{channel_id}/associate-pipeline",
        summary="Route this channel's conversations to a pipeline",
        response_model=ChannelOut,
    )
    async def associate(channel_id: uuid.UUID, body: PipelineIn, ctx: Ctx = Depends(admin)) -> ChannelOut:
        channel = await service.get_channel(ctx.session, channel_id)
        await service.associate_pipeline(ctx.session, channel, body.pipeline_id)
        audit.record(
            ctx, "channel.pipeline.associated", "channel", channel.id, after={"pipeline_id": str(body.pipeline_id)}
        )
        return channel_out(channel)

    @router.post(
        "/{channel_id}/disassociate-pipeline",
        summary="Stop routing to the channel's pipeline",
        response_model=ChannelOut,
    )
    async def disassociate(channel_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> ChannelOut:
        channel = await service.get_channel(ctx.session, channel_id)
        await service.associate_pipeline(ctx.session, channel, None)
        audit.record(ctx, "channel.pipeline.disassociated", "channel", channel.id)
        return channel_out(channel)

    @router.post(
        "/{channel_id}/test-connection",
        summary="Check the credentials against the platform",
        response_model=TestConnectionOut,
        responses={502: {"description": "The platform refused or could not be reached"}},
    )
    async def test_connection(channel_id: uuid.UUID, request: Request, ctx: Ctx = Depends(admin)) -> TestConnectionOut:
        channel = await service.get_channel(ctx.session, channel_id)
        try:
            info = await service.client_for(channel, _http(request)).get_channel_info(
                channel.vendor_channel_id or channel.external_id or ""
            )
        except (PlatformError, httpx.HTTPError) as exc:
            service.note_error(channel, str(exc))
            return service.platform_failure(exc, channel.channel_type).response()
        if not channel.external_id and info.external_id:
            channel.external_id = info.external_id
        return TestConnectionOut(
            success=True, channel_id=channel.id, external_id=info.external_id, name=info.name, details=info.details
        )

    return router


_CREATE_EXAMPLES = {
    "waha": {
        "summary": "WAHA (WhatsApp via WAHA)",
        "value": {
            "name": "Main WhatsApp",
            "channel_type": "waha",
            "config": {
                "baseURL": "https://waha.example.com",
                "sessionID": "main-whatsapp",
                "auth": {"type": "basic", "username": "admin", "password": "secret"},
                "importStrategy": "new_only",
            },
        },
    },
    "whatsapp": {
        "summary": "WhatsApp Business (Cloud API)",
        "value": {
            "name": "Shop WhatsApp",
            "channel_type": "whatsapp",
            "config": {
                "phoneNumberID": "123456789",
                "businessAccountID": "987654321",
                "accessToken": "EAAxxxxxxxxxxxxx",
                "webhookToken": "random-secret-token",
                "apiVersion": "v17.0",
                "appSecret": "app-secret-key",
            },
        },
    },
    "telegram": {
        "summary": "Telegram bot",
        "value": {
            "name": "Support bot",
            "channel_type": "telegram",
            "config": {"botToken": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11", "botUsername": "@MyCompanyBot"},
        },
    },
    "messenger": {
        "summary": "Facebook Messenger",
        "value": {
            "name": "Page inbox",
            "channel_type": "messenger",
            "config": {
                "pageID": "123456789012345",
                "pageAccessToken": "EAAxxxxxxxxxxxxx",
                "appSecret": "app-secret-key",
                "webhookToken": "verify-token",
            },
        },
    },
    "instagram": {
        "summary": "Instagram Direct",
        "value": {
            "name": "Instagram DMs",
            "channel_type": "instagram",
            "config": {
                "instagramAccountID": "123456789",
                "pageAccessToken": "EAAxxxxxxxxxxxxx",
                "webhookToken": "verify-token",
                "appSecret": "app-secret-key",
            },
        },
    },
}
