"""Channel config of a WhatsApp Cloud API number, with seed 004's keys spelled as users expect them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from souk.platforms.meta.graph import DEFAULT_API_VERSION, DEFAULT_GRAPH_BASE_URL


class WhatsAppCloudConfig(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "phoneNumberID": "123456789",
                "businessAccountID": "987654321",
                "accessToken": "EAAxxxxxxxxxxxxx",
                "webhookToken": "random-secret-token",
                "apiVersion": "v21.0",
                "appSecret": "0123456789abcdef0123456789abcdef",
            }
        },
    )

    phoneNumberID: str = Field(
        min_length=1,
        description="Phone number ID from WhatsApp Manager; webhooks route by it, sends go to it.",
    )
    businessAccountID: str | None = Field(
        default=None, description="WhatsApp Business Account (WABA) ID, the `entry[].id` of webhooks."
    )
    accessToken: str = Field(
        min_length=1,
        description="System-user or permanent access token with whatsapp_business_messaging (secret).",
    )
    webhookToken: str | None = Field(
        default=None,
        description="Verify token for Meta's GET handshake (secret); Souk's own webhook secret when unset.",
    )
    apiVersion: str = Field(default=DEFAULT_API_VERSION, description="Graph API version used for calls, e.g. v21.0.")
    appSecret: str | None = Field(
        default=None,
        description="App secret of the Meta app (secret): checks X-Hub-Signature-256. Webhooks are refused "
        "until it is set.",
    )
    graphBaseURL: str = Field(
        default=DEFAULT_GRAPH_BASE_URL, description="Graph API base URL (override only for tests or a proxy)."
    )
