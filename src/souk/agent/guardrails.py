"""Checks on a model's reply before a customer sees it.

The price rule: every number in a reply must come from a tool result of this turn or from the customer's own
message. A model that writes a price, a stock count or a total the tools did not return has invented it; the
reply is then replaced by the offline agent's, built from the tool results alone.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from souk.agent.language import western_digits

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
