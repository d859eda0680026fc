"""WAHA channel config, spelled as seed 004 spells it (``baseURL``, ``sessionID``, ``auth``, …).

The ``qrCode*``, ``sessionStatus``, ``webhookURL`` and ``importCompleted`` keys are written by Souk itself
while it drives the session (activation, QR rotation, history import); users normally leave them out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

#: JSON Schema's mark for keys Souk writes itself: forms leave them out
SET_BY_SOUK = {"readOnly": True}


class WAHABasicAuth(BaseModel):
    """HTTP basic auth in front of WAHA (e.g. a reverse proxy, or WAHA's dashboard credentials)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["basic"] = Field(description="Authenticate with HTTP basic auth.")
    username: str = Field(min_length=1, description="Basic-auth user name.")
    password: str = Field(min_length=1, description="Basic-auth password.")


class WAHAApiKeyAuth(BaseModel):
    """WAHA's own API key (``WAHA_API_KEY``), sent as the ``X-Api-Key`` header."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["api_key"] = Field(description="Authenticate with WAHA's X-Api-Key header.")
    apiKey: str = Field(min_length=1, description="The plain API key configured in WAHA_API_KEY.")


WAHAAuth = Annotated[WAHABasicAuth | WAHAApiKeyAuth, Field(discriminator="type")]


class WAHAConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseURL: str = Field(
        min_length=1,
        description="URL of your WAHA server, e.g. https://waha.example.com (self-hosted: no default).",
    )
    sessionID: str = Field(min_length=1, description="Name of the WAHA session (WhatsApp account) to use.")
    auth: WAHAAuth = Field(
        description='Credentials for the WAHA API: {"type": "basic", "username", "password"} or '
        '{"type": "api_key", "apiKey"}. Stored encrypted, returned masked.'
    )
    webhookVerification: Literal["hmac", "api_key"] = Field(
        default="hmac",
        description="How WAHA's webhooks prove they come from it: hmac (X-Webhook-Hmac, SHA-512 with a key Souk "
        "registers) or api_key (an X-Api-Key header WAHA sends through its webhook customHeaders, for a WAHA "
        "webhook without an HMAC key: the WAHA API key, or the channel's webhook secret under basic auth).",
    )
    importStrategy: Literal["none", "new_only", "all", "recent"] = Field(
        default="new_only",
        description="History import after the session starts: none, new_only, all, or recent messages.",
    )
    webhookURL: str | None = Field(
        default=None, description="Set by Souk: the URL WAHA posts events to.", json_schema_extra=SET_BY_SOUK
    )
    qrCode: str | None = Field(
        default=None, description="Set by Souk: the current QR code as a PNG data URI.", json_schema_extra=SET_BY_SOUK
    )
    qrCodeExpiresAt: datetime | None = Field(
        default=None, description="Set by Souk: when the QR code expires.", json_schema_extra=SET_BY_SOUK
    )
    sessionStatus: str | None = Field(
        default=None,
        description="Set by Souk: last known WAHA session status (STARTING, SCAN_QR_CODE, WORKING, FAILED, STOPPED …).",
        json_schema_extra=SET_BY_SOUK,
    )
    importCompleted: bool | None = Field(
        default=None, description="Set by Souk: history import has finished.", json_schema_extra=SET_BY_SOUK
    )
