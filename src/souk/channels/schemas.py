"""Channel API shapes. ``ChannelCreate`` is a discriminated union over ``channel_type``, one member per platform,
built from the platform registry so a third-party platform gets its typed config schema too."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model, field_validator

from souk.channels.forms import ConfigField
from souk.core.errors import UNION_TAGS
from souk.core.schemas import Strict
from souk.platforms import registry


class VendorIn(Strict):
    channel_id: str | None = Field(None, max_length=255, description="The channel's id at the vendor.")
    name: str | None = Field(None, max_length=64, description="Vendor name (chotot, facebook, …); detection key.")


class ChannelCommon(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Main WhatsApp"])
    project_id: uuid.UUID | None = Field(None, description="Defaults to the tenant's default project.")
    external_id: str | None = Field(None, max_length=255)
    pipeline_id: uuid.UUID | None = None
    default_session_timeout_minutes: int | None = Field(None, ge=1, le=60 * 24 * 90)
    ai_enabled: bool = False
    ai_agents_enabled: bool = False
    vendor: VendorIn | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free metadata (seed 002).")


def _create_member(channel_type: str, config_model: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        f"{config_model.__name__.removesuffix('Config')}ChannelCreate",
        __base__=ChannelCommon,
        channel_type=(Literal[channel_type], Field(description="The platform.")),  # type: ignore[valid-type]
        config=(config_model, Field(description="Platform configuration, in the seed's camelCase keys.")),
    )


def channel_create_model() -> type[RootModel[Any]]:
    """A root model over ``Annotated[Union[…], discriminator]`` of every registered platform: the tag picks the
    member, so errors name only the chosen platform's fields and an unknown tag lists the known ones."""
    members = [_create_member(t, registry.get(t).config_model) for t in registry.channel_types()]
    UNION_TAGS.update(registry.channel_types())
    union = Annotated[Union[tuple(members)], Field(discriminator="channel_type")]  # noqa: UP007
    return RootModel[union]  # type: ignore[valid-type]


class ChannelPatch(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Main WhatsApp",
                    "config": {"accessToken": "EAAG…new"},
                    "ai_enabled": True,
                    "default_session_timeout_minutes": 1440,
                }
            ]
        }
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = Field(
        None,
        description="Keys to change; merged into the current config and validated again. Masked secret "
        "values sent back unchanged keep the stored secret.",
    )
    external_id: str | None = Field(None, max_length=255)
    default_session_timeout_minutes: int | None = Field(None, ge=1, le=60 * 24 * 90)
    ai_enabled: bool | None = None
    ai_agents_enabled: bool | None = None
    vendor: VendorIn | None = None
    metadata: dict[str, Any] | None = None


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID | None
    project_id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    channel_type: str
    status: str
    external_id: str | None
    config: dict[str, Any] = Field(description="Configuration with every secret masked.")
    webhook_id: str | None
    webhook_url: str | None
    webhook_configured_at: datetime | None
    webhook_active: bool
    pipeline_id: uuid.UUID | None
    default_session_timeout_minutes: int | None
    ai_enabled: bool
    ai_agents_enabled: bool
    messages_received: int
    messages_sent: int
    last_message_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    vendor: dict[str, str | None]
    metadata: dict[str, Any]
    requires_partner_credentials: bool = False
    history_import: bool = Field(False, description="The platform gives past messages: `import-history` works.")
    created_at: datetime
    updated_at: datetime


class ChannelList(BaseModel):
    channels: list[ChannelOut] = Field(description="The page of channels (seed 004's key).")
    items: list[ChannelOut] = Field(description="The same page (the API's common list key).")
    total: int
    page: int
    limit: int


class StatusChanged(BaseModel):
    success: bool = True
    channel_id: uuid.UUID
    status: str
    activated_at: datetime | None = None
    deactivated_at: datetime | None = None


class ConfigureWebhookIn(Strict):
    webhook_url: str | None = Field(
        None,
        max_length=2000,
        examples=["https://custom.domain.com/webhook"],
        description="The public base URL (http or https) at which platforms reach this Souk, instead of "
        "SOUK_PUBLIC_URL (e.g. a custom domain or tunnel): the channel's URL is this base followed by "
        "`/webhooks/{channel_type}/{channel_id}`. The channel's full URL is also accepted as it is.",
    )

    @field_validator("webhook_url")
    @classmethod
    def _absolute_http_url(cls, v: str | None) -> str | None:
        """A platform must be able to call it: an absolute http(s) URL with a host, nothing else."""
        if v is None:
            return v
        try:
            parts = urlsplit(v)
            _ = parts.port  # raises on a port that is not a number in range
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not (parts.query or parts.fragment)
        except ValueError:
            ok = False
        if not ok or any(c.isspace() for c in v):
            raise ValueError("must be an absolute http:// or https:// URL (no query or fragment)")
        return v


class WebhookInfo(BaseModel):
    webhook_url: str | None
    webhook_active: bool
    webhook_configured_at: datetime | None
    last_webhook_received: datetime | None
    verify_token: str | None = Field(
        None, description="For Meta platforms: the verify token to paste in the app dashboard (admins only)."
    )
    registered_with_platform: bool = Field(
        False, description="True when Souk registered the URL with the platform itself (Telegram, WAHA)."
    )
    broker_subject: str | None = Field(
        None, description="For platforms that deliver on the broker (Chotot): the subject, and there is no webhook."
    )


class ConfigureWebhookOut(BaseModel):
    success: bool = True
    webhook_url: str
    webhook_configured: bool = True
    registered_with_platform: bool
    verify_token: str | None = None
    instructions: str | None = None


class PipelineIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"pipeline_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}]})
    pipeline_id: uuid.UUID


class TestConnectionOut(BaseModel):
    success: bool
    channel_id: uuid.UUID
    external_id: str | None = None
    name: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ChannelTypeOut(BaseModel):
    channel_type: str
    display_name: str
    vendor: str
    requires_partner_credentials: bool = Field(
        description="The platform has no public API: the channel needs credentials from a partner agreement."
    )
    history_import: bool = Field(False, description="The platform gives past messages: `import-history` works.")
    needs_webhook: bool = Field(description="Activation needs a configured webhook.")
    receives_webhooks: bool = Field(True, description="Inbound arrives on a webhook (else on the broker).")
    registers_webhook: bool = Field(description="Souk registers the webhook with the platform itself.")
    has_handshake: bool = Field(description="The platform verifies the URL with a GET handshake (Meta).")
    secret_fields: list[str]
    config_schema: dict[str, Any] = Field(description="JSON Schema of the channel's config.")
    fields: list[ConfigField] = Field(
        default_factory=list,
        description="The config as form fields (label, kind, required, default, choices), Souk-written keys left out.",
    )
