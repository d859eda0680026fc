"""The agent's pure rules: business hours, reply splitting, the price guardrail, language and intent detection."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from souk.agent.config import AgentConfig, parse_hours
from souk.agent.guardrails import invented_numbers, invented_statuses
from souk.agent.intents import understand
from souk.agent.language import detect
from souk.agent.responder import split_text

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MONDAY_NIGHT = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
SUNDAY_NOON = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_business_hours_decide_when_the_bot_answers() -> None:
    hours = parse_hours("mon-fri 09:00-18:00; sat 10:00-14:00")
    assert sorted(hours) == [0, 1, 2, 3, 4, 5]
    inside = AgentConfig(hours_mode="within_business_hours", hours=hours)
    outside = AgentConfig(hours_mode="outside_business_hours", hours=hours)
    assert inside.answers_now(MONDAY_NOON) and not inside.answers_now(MONDAY_NIGHT)
    assert not outside.answers_now(MONDAY_NOON) and outside.answers_now(SUNDAY_NOON)
    assert AgentConfig().answers_now(MONDAY_NIGHT)  # always, by default
    # the tenant's time zone: 12:00 UTC is 15:00 in Riyadh, 07:00 in New York
    riyadh = AgentConfig(
        hours_mode="within_business_hours", hours=parse_hours("mon 14:00-16:00"), timezone="Asia/Riyadh"
    )
    assert riyadh.answers_now(MONDAY_NOON)
    new_york = AgentConfig(hours_mode="within_business_hours", hours=hours, timezone="America/New_York")
    assert not new_york.answers_now(MONDAY_NOON)


@pytest.mark.parametrize("value", ["monday 9-5", "mon-xyz 09:00-18:00", "mon 9:00", "every day"])
def test_bad_business_hours_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="mon-fri 09:00-18:00"):
        parse_hours(value)


def test_replies_are_split_at_natural_ends_within_the_limit() -> None:
    text = "First paragraph is here.\n\nSecond one is a bit longer. It has two sentences." + " word" * 30
    parts = split_text(text, 60)
    assert all(len(p) <= 60 for p in parts)
    assert parts[0] == "First paragraph is here."
    assert " ".join(parts).split() == text.split()
    assert split_text("short", 60) == ["short"]
    assert all(len(p) <= 10 for p in split_text("x" * 35, 10))


def test_the_guardrail_accepts_only_numbers_from_tools_or_the_customer() -> None:
    tools = [[{"name": "Leather wallet", "price": "199.99", "currency": "EGP", "stock": 3}]]
    assert invented_numbers("Leather wallet costs 199.99 EGP, 3 left.", tools, "price?") == set()
    assert invented_numbers("Two cost 399.98 EGP.", tools, "I want 2") == set()  # 2 × 199.99
    assert invented_numbers("It costs 189.99 EGP.", tools, "price?") == {Decimal("189.99")}
    assert invented_numbers("It costs ١٨٩٫٩٩ EGP.", tools, "price?") == {Decimal("189.99")}  # Arabic digits too
    assert invented_numbers("Your order 1A2B3C4D is on its way.", tools, "") == set()  # ids are not numbers


def test_the_guardrail_accepts_only_order_statuses_from_tools() -> None:
    pending = [{"order_number": "1A2B3C4D", "status": "pending", "total": "199.99", "items": []}]
    assert invented_statuses("Your order 1A2B3C4D is pending.", pending) == set()
    assert invented_statuses("Your order 1A2B3C4D has shipped!", pending) == {"shipped"}
    assert invented_statuses("Good news: your order was delivered yesterday.", []) == {"delivered"}
    assert invented_statuses("طلبك 1A2B3C4D تم الشحن", pending) == {"shipped"}
    assert invented_statuses("طلبك 1A2B3C4D قيد المراجعة", pending) == set()
    history = [[{"order_number": "A", "status": "delivered"}, {"order_number": "B", "status": "cancelled"}]]
    assert invented_statuses("Order A was delivered and order B cancelled.", history) == set()
    assert invented_statuses("Shipping is free above 1000 EGP and we deliver in 2 days.", []) == set()  # no order


@pytest.mark.parametrize(
    ("text", "language"),
    [("How much?", "en"), ("كم سعر الجاكيت؟", "ar"), ("كم سعر Leather wallet؟", "en"), ("123", "en")],
)
def test_language(text: str, language: str) -> None:
    assert detect(text) == language


@pytest.mark.parametrize(
    ("text", "intent", "agent"),
    [
        ("How much is the winter jacket?", "price", "sales"),
        ("كم سعر الجاكيت الشتوي", "price", "sales"),
        ("I want 2 leather wallets", "order_create", "sales"),
        ("أريد ثلاثة قمصان", "order_create", "sales"),
        ("Where is my order 1a2b3c4d?", "order_status", "support"),
        ("what is your return policy", "policy", "support"),
        ("حولني لخدمة العملاء لو سمحت", "human", "support"),
        ("I WANT A REFUND NOW!!!", "complaint", "support"),
    ],
)
def test_intents(text: str, intent: str, agent: str) -> None:
    u = understand(text)
    assert (u.intent, u.agent) == (intent, agent)


def test_slots() -> None:
    assert understand("I want 2 leather wallets").quantity == 2
    assert understand("أريد ثلاثة قمصان").quantity == 3
    assert understand("أريد ٤ قمصان").quantity == 4
    assert understand("Where is order #1A2B3C4D?").order_ref == "1a2b3c4d"
    assert understand("كم سعر الجاكيت الشتوي").product_query == "جاكيت شتوي"
