"""Checks on a model's reply before a customer sees it.

The price rule: every number in a reply must come from a tool result of this turn or from the customer's own
message. A model that writes a price, a stock count or a total the tools did not return has invented it; the
reply is then replaced by the offline agent's, built from the tool results alone. The status rule does the same
for the status a reply gives an order.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from souk.agent.language import western_digits
from souk.commerce.search import normalize

#: a number standing on its own (not part of an id, a SKU or an order number such as ``1A2B3C4D``)
NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+(?:\.\d+)?(?![\w])")


def numbers_in(text: str) -> set[Decimal]:
    found = set()
    for match in NUMBER.findall(western_digits(text)):
        try:
            found.add(Decimal(match.replace(",", "")).normalize())
        except InvalidOperation:
            continue
    return found


def _collect(value: Any, into: set[Decimal]) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float | Decimal):
        into.add(Decimal(str(value)).normalize())
    elif isinstance(value, str):
        into |= numbers_in(value)
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, into)
    elif isinstance(value, list | tuple):
        for v in value:
            _collect(v, into)


def invented_numbers(reply: str, tool_results: list[Any], customer_message: str) -> set[Decimal]:
    """The numbers of ``reply`` that neither a tool result nor the customer's message contains."""
    allowed = numbers_in(customer_message)
    _collect(tool_results, allowed)
    # totals of a quantity the customer asked for: quantity × a unit price from the tools
    prices = {n for n in allowed if n != n.to_integral_value() or n > 10}
    quantities = {n for n in allowed if n == n.to_integral_value() and 0 < n <= 100}
    allowed |= {(p * q).normalize() for p in prices for q in quantities}
    return {n for n in numbers_in(reply) if n not in allowed}


#: how a reply says an order's status, per status (English, and the Arabic of the offline templates)
STATUS_WORDS: dict[str, tuple[str, ...]] = {
    "pending": ("pending", "قيد المراجعة"),
    "confirmed": ("confirmed", "مؤكد"),
    "paid": ("paid", "مدفوع"),
    "shipped": ("shipped", "dispatched", "on its way", "تم الشحن", "شحن"),
    "delivered": ("delivered", "تم التوصيل", "توصيل"),
    "cancelled": ("cancelled", "canceled", "ملغى", "ملغي", "الغاء"),
    "refunded": ("refunded", "تم رد المبلغ", "استرداد"),
}
_ORDER_WORDS = ("order", "طلب")


def _statuses_of(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        if "order_number" in value and isinstance(value.get("status"), str):
            into.add(value["status"])
        for v in value.values():
            _statuses_of(v, into)
    elif isinstance(value, list | tuple):
        for v in value:
            _statuses_of(v, into)


def invented_statuses(reply: str, tool_results: list[Any]) -> set[str]:
    """The order statuses a reply about an order claims that no order of this turn's tool results has.

    Like a price, an order's status is a fact only a tool may give: "your order has shipped" for a pending order
    is refused. Only replies that speak of an order are read, so "shipping takes two days" passes."""
    text = f" {normalize(reply)} "
    if not any(normalize(w) in text for w in _ORDER_WORDS):
        return set()
    claimed = {s for s, ws in STATUS_WORDS.items() if any(f" {normalize(w)} " in text for w in ws)}
    known: set[str] = set()
    _statuses_of(tool_results, known)
    return claimed - known
