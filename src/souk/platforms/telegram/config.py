"""Telegram channel config, with seed 004's keys spelled as users type them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_API_BASE_URL = "https://api.telegram.org"


class TelegramConfig(BaseModel):
    """A Telegram bot. The webhook ``secret_token`` is not configured here: Souk generates it per channel."""

    model_config = ConfigDict(extra="forbid")

    botToken: str = Field(
        pattern=r"^\d+:[A-Za-z0-9_-]+$",
        description="Bot token from @BotFather, `<bot id>:<secret>`. Stored encrypted, returned masked.",
        examples=["123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"],
    )
    botUsername: str | None = Field(
        default=None,
        description="The bot's @username, for display and t.me deep links (`t.me/<bot>?start=<payload>`).",
        examples=["@MyCompanyBot"],
    )
    apiBaseURL: str = Field(
        default=DEFAULT_API_BASE_URL,
        description="Bot API server: the public one, or a self-hosted telegram-bot-api server.",
    )
    webhookURL: str | None = Field(
        default=None,
        description=(
            "Accepted because seed 004 lists it; informational only. Souk registers its own "
            "`/webhooks/telegram/{channel_id}` URL with setWebhook (`configure-webhook`)."
        ),
        json_schema_extra={"readOnly": True},
    )
