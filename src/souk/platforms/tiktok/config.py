"""TikTok Business Messaging channel config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_API_BASE_URL = "https://business-api.tiktok.com"
DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300


class TikTokConfig(BaseModel):
    """A TikTok Business account. The webhook URL is pasted into the TikTok developer portal by hand."""

    model_config = ConfigDict(extra="forbid")

    businessID: str = Field(
        min_length=1,
        description="The TikTok Business account id; webhooks name it in `user_openid`.",
    )
    appKey: str = Field(min_length=1, description="The developer app's key (client key).")
    appSecret: str = Field(
        min_length=1,
        description="The developer app's secret: the HMAC key of `Tiktok-Signature`. Stored encrypted.",
    )
    accessToken: str = Field(
        min_length=1,
        description="Business account access token, sent as `Access-Token`. Stored encrypted.",
    )
    apiBaseURL: str = Field(
        default=DEFAULT_API_BASE_URL,
        description="TikTok API for Business host (the sandbox is https://sandbox-business-api.tiktok.com).",
    )
    signatureToleranceSeconds: int = Field(
        default=DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
        ge=1,
        le=86_400,
        description="Reject a webhook whose signed timestamp is further than this from Souk's clock.",
    )
