"""Chotot channel config. Chotot publishes no API: these keys feed the assumed partner API in
docs/platforms/chotot.md, so ``baseURL`` has no default (the partner gives it with the credentials).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChototConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseURL: str = Field(min_length=1, description="Base URL of the Chotot partner chat API (given by Chotot).")
    partnerID: str = Field(min_length=1, description="Your Chotot partner id, sent as X-Partner-ID.")
    apiKey: str = Field(min_length=1, description="Partner API key (Bearer token). Stored encrypted, returned masked.")
    accountID: str = Field(min_length=1, description="The shop's Chotot account id (the seller side of its chats).")
    productsBaseURL: str | None = Field(
        default=None, description="Base URL of the Chotot listings (ads) API; defaults to baseURL."
    )
