"""Per-tenant agent settings (app settings, so the settings API and the audit log cover them).

``ai_provider``: ``offline`` (default) or ``openai`` (any OpenAI-compatible chat-completions server: OpenAI,
Gemini's compatible endpoint, Ollama, vLLM, llama.cpp); ``ai_base_url``, ``ai_model``, ``ai_api_key`` (sensitive;
``gemini_api_key`` or ``openai_api_key`` are read when it is absent), ``ai_timeout_seconds``;
``ai_reply_budget`` (bot replies per conversation before a person takes over, default 30);
``ai_hours_mode`` (``always``, ``outside_business_hours``, ``within_business_hours``) with ``ai_business_hours``
(``mon-fri 09:00-18:00; sat 10:00-14:00``) and ``ai_timezone`` (IANA, default UTC);
``ai_handoff_assignee``: the email of the user a handed-over conversation is assigned to (else it waits unassigned);
``ai_instructions``: the shop's own words added to the model's system prompt (tone, policies; never the rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from souk.core.errors import Unprocessable, field_error
from souk.core.service import setting

PROVIDERS = ("offline", "openai")
HOURS_MODES = ("always", "outside_business_hours", "within_business_hours")
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPAN = re.compile(r"^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class AgentMisconfigured(Unprocessable):
    title, slug = "AI agent misconfigured", "agent-misconfigured"


@dataclass
class AgentConfig:
    provider: str = "offline"
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    timeout_seconds: float = 20.0
    reply_budget: int = 30
    hours_mode: str = "always"
    hours: dict[int, list[tuple[time, time]]] = field(default_factory=dict)
    timezone: str = "UTC"
    handoff_assignee: str | None = None
    instructions: str | None = None
    problems: list[dict[str, str]] = field(default_factory=list)

    def check(self) -> None:
        """Raise a 422 naming each setting that is wrong (the invoke API's callers configure the agent)."""
        if self.problems:
            raise AgentMisconfigured(
                "the AI agent's settings are incomplete or wrong; fix them under /api/v1/settings",
                errors=self.problems,
            )

    def answers_now(self, now: datetime) -> bool:
        if self.hours_mode == "always" or not self.hours:
            return True
        local = now.astimezone(ZoneInfo(self.timezone))
        spans = self.hours.get(local.weekday(), [])
        inside = any(start <= local.time() < end for start, end in spans)
        return inside if self.hours_mode == "within_business_hours" else not inside


def parse_hours(value: str) -> dict[int, list[tuple[time, time]]]:
    hours: dict[int, list[tuple[time, time]]] = {}
    for part in filter(None, (p.strip().lower() for p in value.split(";"))):
        m = _SPAN.match(part)
        if not m or m.group(1) not in DAYS or (m.group(2) and m.group(2) not in DAYS):
            raise ValueError(f"{part!r} is not like 'mon-fri 09:00-18:00'")
        first = DAYS.index(m.group(1))
        last = DAYS.index(m.group(2)) if m.group(2) else first
        start, end = time(int(m.group(3)), int(m.group(4))), time(int(m.group(5)) % 24, int(m.group(6)))
        for day in range(first, last + 1):
            hours.setdefault(day, []).append((start, end))
    return hours


async def load(session: AsyncSession) -> AgentConfig:
    cfg = AgentConfig()
    bad = cfg.problems.append

    provider = (await setting(session, "ai_provider") or "offline").strip().lower()
    if provider not in PROVIDERS:
        bad(field_error("ai_provider", f"{provider!r} is not one of {', '.join(PROVIDERS)}"))
    cfg.provider = provider if provider in PROVIDERS else "offline"
    if cfg.provider == "openai":
        cfg.base_url = (await setting(session, "ai_base_url") or "").rstrip("/") or None
        cfg.model = await setting(session, "ai_model")
        for key in ("ai_api_key", "openai_api_key", "gemini_api_key"):
            cfg.api_key = cfg.api_key or await setting(session, key)
        if not cfg.base_url or not cfg.base_url.startswith(("http://", "https://")):
            bad(field_error("ai_base_url", "set the provider's base URL, e.g. https://api.openai.com/v1"))
        if not cfg.model:
            bad(field_error("ai_model", "set the model name, e.g. gpt-4o-mini"))
    for key, attr, kind in (("ai_timeout_seconds", "timeout_seconds", float), ("ai_reply_budget", "reply_budget", int)):
        raw = await setting(session, key)
        if raw:
            try:
                setattr(cfg, attr, kind(raw))
            except ValueError:
                bad(field_error(key, f"{raw!r} is not a number"))
    mode = (await setting(session, "ai_hours_mode") or "always").strip().lower()
    if mode not in HOURS_MODES:
        bad(field_error("ai_hours_mode", f"{mode!r} is not one of {', '.join(HOURS_MODES)}"))
    cfg.hours_mode = mode if mode in HOURS_MODES else "always"
    raw_hours = await setting(session, "ai_business_hours")
    if raw_hours:
        try:
            cfg.hours = parse_hours(raw_hours)
        except ValueError as exc:
            bad(field_error("ai_business_hours", str(exc)))
    tz = await setting(session, "ai_timezone") or "UTC"
    try:
        ZoneInfo(tz)
        cfg.timezone = tz
    except (ZoneInfoNotFoundError, ValueError):
        bad(field_error("ai_timezone", f"{tz!r} is not an IANA time zone such as Asia/Riyadh"))
    cfg.handoff_assignee = await setting(session, "ai_handoff_assignee")
    cfg.instructions = await setting(session, "ai_instructions")
    return cfg
