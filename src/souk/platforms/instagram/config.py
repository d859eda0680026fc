"""Channel config of an Instagram professional account, with seed 004's keys spelled as users expect them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from souk.platforms.meta.graph import DEFAULT_API_VERSION, DEFAULT_GRAPH_BASE_URL


class InstagramConfig(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "instagramAccountID": "17841400000000000",
                "pageAccessToken": "EAAxxxxxxxxxxxxx",
                "webhookToken": "verify-token",
                "appSecret": "app-secret-key",
            }
        },
    )

    instagramAccountID: str = Field(
        min_length=1, description="ID of the Instagram professional account; webhooks' `entry[].id`."
    )
    pageAccessToken: str = Field(
        min_length=1,
        description="Access token (secret): the linked Page's token with instagram_manage_messages, or an "
        "Instagram user token when graphBaseURL is https://graph.instagram.com (Instagram Login).",
    )
    webhookToken: str | None = Field(
        default=None,
        description="Verify token for Meta's GET handshake (secret); Souk's own webhook secret when unset.",
    )
    appSecret: str | None = Field(
        default=None,
        description="App secret of the Meta (or Instagram) app that owns the subscription (secret): checks "
        "X-Hub-Signature-256. Webhooks are refused until it is set.",
    )
    pageID: str | None = Field(
        default=None,
        description="ID of the Facebook Page linked to the account; sends go through /me otherwise.",
    )
    appID: str | None = Field(
        default=None,
        description="ID of the Meta app Souk sends through: echoes carrying it are Souk's own sends.",
    )
    apiVersion: str = Field(default=DEFAULT_API_VERSION, description="Graph API version used for calls, e.g. v21.0.")
    graphBaseURL: str = Field(
        default=DEFAULT_GRAPH_BASE_URL,
        description="Graph API base URL: graph.facebook.com (Facebook Login) or graph.instagram.com "
        "(Instagram Login); override for tests or a proxy.",
    )
