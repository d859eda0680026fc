"""Channel config of a Facebook Page on Messenger, with seed 004's keys spelled as users expect them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from souk.platforms.meta.graph import DEFAULT_API_VERSION, DEFAULT_GRAPH_BASE_URL


class MessengerConfig(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "pageID": "123456789012345",
                "pageAccessToken": "EAAxxxxxxxxxxxxx",
                "appSecret": "app-secret-key",
                "webhookToken": "verify-token",
            }
        },
    )

    pageID: str = Field(min_length=1, description="ID of the Facebook Page; webhooks' `entry[].id`, sends go from it.")
    pageAccessToken: str = Field(min_length=1, description="Page access token with pages_messaging (secret).")
    appSecret: str = Field(
        min_length=1,
        description="App secret of the Meta app subscribed to the Page (secret): checks X-Hub-Signature-256.",
    )
    webhookToken: str | None = Field(
        default=None,
        description="Verify token for Meta's GET handshake (secret); Souk's own webhook secret when unset.",
    )
    appID: str | None = Field(
        default=None,
        description="ID of the Meta app Souk sends through: echoes carrying it are Souk's own sends.",
    )
    apiVersion: str = Field(default=DEFAULT_API_VERSION, description="Graph API version used for calls, e.g. v21.0.")
    graphBaseURL: str = Field(
        default=DEFAULT_GRAPH_BASE_URL, description="Graph API base URL (override only for tests or a proxy)."
    )
