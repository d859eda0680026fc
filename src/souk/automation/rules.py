"""Automation rules: what a rule may listen to, test and do, and the checks made when one is saved.

A rule is ``{event, conditions: [{field, op, value}], actions: [{type, …}]}``. Everything is checked at save time: an
unknown event, field, operator, action or key is a 422 naming it (``conditions.2.field``), and so is a value from
a closed list that is not in it (a lead stage, an AI agent, a channel type) or a template the send path would refuse,
so a rule never fails at run time on what could have been said at save; a regular expression must
compile under RE2, which runs in time linear in the text (no backtracking), so a pattern that would need
backtracking (back-references, look-around) is refused rather than allowed to run for ever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import re2
from pydantic import ValidationError

from souk.agent.config import parse_hours
from souk.agent.schemas import AgentName
from souk.automation.tools import check_label, check_variables
from souk.channels.models import ChannelType
from souk.core.errors import Unprocessable, field_error, validation_errors
from souk.messaging.models import ConversationStatus, LeadStage
from souk.messaging.outbound import TemplateIn

#: rule events and the domain events that raise them
EVENTS = {
    "message.created": "a message is stored (inbound or outbound)",
    "conversation.created": "a conversation is opened",
    "conversation.resolved": "a conversation is resolved",
    "customer.stage_changed": "a customer's lead stage changes",
    "order.status_changed": "an order's status changes",
    "no_reply": "a customer's message has had no answer for `minutes` minutes",
}

EQ = ("eq", "neq", "in", "not_in")
NUM = ("eq", "neq", "gt", "gte", "lt", "lte")
HAS = ("has", "not_has")
TEXT = ("contains", "not_contains", "regex", "eq", "starts_with")

#: condition fields and the operators each takes
FIELDS: dict[str, tuple[str, ...]] = {
    "channel.id": EQ,
    "channel.type": EQ,
    "message.text": TEXT,
    "message.language": EQ,
    "message.direction": EQ,
    "message.sent_by": EQ,
    "customer.stage": EQ,
    "customer.label": HAS,
    "customer.type": EQ,
    "customer.score": NUM,
    "conversation.label": HAS,
    "conversation.status": EQ,
    "business_hours": ("is",),
    "attribution.source": EQ,
    "order.status": EQ,
}

#: action types and their parameters (name → required)
ACTIONS: dict[str, dict[str, bool]] = {
    "assign": {"user_id": False, "team_id": False},
    "label": {"labels": True, "target": False},
    "set_stage": {"stage_id": False, "lead_stage": False},
    "send_reply": {"text": False, "canned": False, "template": False},
    "hand_to_ai": {"agent": True},
    "send_webhook": {"subscription_id": True},
    "snooze": {"minutes": True},
    "resolve": {},
}

#: the AI agents a conversation can be handed to (as ``PUT /conversations/{id}/ai-agent`` takes them)
AI_AGENTS: tuple[str, ...] = get_args(AgentName)

#: condition fields whose values come from a closed list: a value outside it could never match, so it is refused
ENUM_VALUES: dict[str, tuple[str, ...]] = {
    "channel.type": tuple(ChannelType),
    "customer.stage": tuple(LeadStage),
    "conversation.status": tuple(ConversationStatus),
}

MAX_REGEX = 500
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.max_mem = 8 << 20  # a pattern whose automaton needs more is refused


@dataclass
class Problems:
    errors: list[dict[str, Any]]

    def add(self, field: str, message: str) -> None:
        self.errors.append(field_error(field, message))


def compile_regex(pattern: str) -> Any:
    return re2.compile(pattern, options=RE2_OPTIONS)


def _check_condition(i: int, cond: Any, p: Problems) -> None:
    where = f"conditions.{i}"
    if not isinstance(cond, dict):
        p.add(where, "a condition is an object {field, op, value}")
        return
    unknown = set(cond) - {"field", "op", "value", "hours", "timezone"}
    for key in sorted(unknown):
        p.add(f"{where}.{key}", f"unknown key {key!r}")
    field = cond.get("field")
    if field not in FIELDS:
        p.add(f"{where}.field", f"unknown field {field!r}; known: {', '.join(FIELDS)}")
        return
    op = cond.get("op")
    if op not in FIELDS[field]:
        p.add(f"{where}.op", f"{field} takes {', '.join(FIELDS[field])}, not {op!r}")
        return
    value = cond.get("value")
    if op in ("in", "not_in") and not isinstance(value, list):
        p.add(f"{where}.value", f"{op} needs a list")
    elif field == "business_hours":
        if not isinstance(value, bool):
            p.add(f"{where}.value", "true (within business hours) or false (outside)")
        if cond.get("hours") is not None:
            try:
                parse_hours(str(cond["hours"]))
            except ValueError as exc:
                p.add(f"{where}.hours", str(exc))
        if cond.get("timezone") is not None:
            try:
                ZoneInfo(str(cond["timezone"]))
            except (ZoneInfoNotFoundError, ValueError):
                p.add(f"{where}.timezone", f"{cond['timezone']!r} is not an IANA time zone")
    elif op in NUM and field == "customer.score" and not isinstance(value, int | float):
        p.add(f"{where}.value", "a number")
    elif op == "regex":
        if not isinstance(value, str) or not value or len(value) > MAX_REGEX:
            p.add(f"{where}.value", f"a regular expression of 1 to {MAX_REGEX} characters")
            return
        try:
            compile_regex(value)
        except re2.error as exc:
            p.add(
                f"{where}.value",
                "refused: the pattern needs backtracking (back-references, look-around) or is too large, so it could"
                f" run for ever; write it without them ({exc})",
            )
    elif value is None or (isinstance(value, str) and not value and op != "eq"):
        p.add(f"{where}.value", "required")
    elif field in ENUM_VALUES:
        allowed = ENUM_VALUES[field]
        known = {a.casefold() for a in allowed}  # conditions compare without case
        wrong = [v for v in (value if isinstance(value, list) else [value]) if str(v).casefold() not in known]
        if wrong:
            p.add(f"{where}.value", f"{field} is one of {', '.join(allowed)}, not {wrong[0]!r}")


def _check_action(i: int, action: Any, p: Problems) -> None:
    where = f"actions.{i}"
    if not isinstance(action, dict):
        p.add(where, "an action is an object {type, …}")
        return
    kind = action.get("type")
    if kind not in ACTIONS:
        p.add(f"{where}.type", f"unknown action {kind!r}; known: {', '.join(ACTIONS)}")
        return
    params = ACTIONS[kind]
    for key in sorted(set(action) - {"type"} - set(params)):
        p.add(f"{where}.{key}", f"unknown parameter {key!r} of {kind}")
    for key, required in params.items():
        if required and action.get(key) in (None, "", []):
            p.add(f"{where}.{key}", "required")
    for key in ("user_id", "team_id", "stage_id", "subscription_id"):
        if action.get(key) is not None:
            try:
                uuid.UUID(str(action[key]))
            except ValueError:
                p.add(f"{where}.{key}", "not an id")
    if kind == "assign" and not (action.get("user_id") or action.get("team_id")):
        p.add(f"{where}.user_id", "name a user_id or a team_id")
    if kind == "set_stage" and not (action.get("stage_id") or action.get("lead_stage")):
        p.add(f"{where}.stage_id", "name a stage_id (pipeline) or a lead_stage (customer)")
    if kind == "set_stage" and action.get("lead_stage") is not None and action["lead_stage"] not in tuple(LeadStage):
        p.add(f"{where}.lead_stage", f"one of {', '.join(LeadStage)}, not {action['lead_stage']!r}")
    if kind == "hand_to_ai" and action.get("agent") not in (None, "", *AI_AGENTS):
        p.add(f"{where}.agent", f"one of {', '.join(AI_AGENTS)}, not {action['agent']!r}")
    if kind == "send_reply":
        if sum(bool(action.get(k)) for k in ("text", "canned", "template")) != 1:
            p.add(f"{where}.text", "give one of text, canned (a shortcut) or template (a WhatsApp template)")
        if action.get("template") is not None:
            _check_template(f"{where}.template", action["template"], p)
        if action.get("text"):
            try:
                check_variables(str(action["text"]), f"{where}.text")
            except Unprocessable as exc:
                p.errors.extend(exc.errors or [])
    if kind == "label":
        labels = action.get("labels")
        if not isinstance(labels, list):
            p.add(f"{where}.labels", "a list of labels")
        else:
            for j, name in enumerate(labels):
                try:
                    check_label(str(name), f"{where}.labels.{j}")
                except Unprocessable as exc:
                    p.errors.extend(exc.errors or [])
        if action.get("target", "conversation") not in ("conversation", "customer"):
            p.add(f"{where}.target", "conversation or customer")
    if kind == "snooze" and not (isinstance(action.get("minutes"), int) and 0 < action["minutes"] <= 525_600):
        p.add(f"{where}.minutes", "whole minutes, 1 to a year")


def _check_template(where: str, template: Any, p: Problems) -> None:
    """The template as the send path will read it (``TemplateIn``), so a rule never fails on it at run time."""
    if not isinstance(template, dict):
        p.add(where, "a template object {name, language, components}")
        return
    try:
        TemplateIn.model_validate(template)
    except ValidationError as exc:
        for err in validation_errors(list(exc.errors())):
            p.add(f"{where}.{err['field']}", err["message"])


def validate(event: str, conditions: list[Any], actions: list[Any], minutes: int | None) -> None:
    p = Problems([])
    if event not in EVENTS:
        p.add("event", f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    if event == "no_reply" and not minutes:
        p.add("minutes", "no_reply needs minutes")
    for i, cond in enumerate(conditions):
        _check_condition(i, cond, p)
    if not actions:
        p.add("actions", "a rule needs at least one action")
    for i, action in enumerate(actions):
        _check_action(i, action, p)
    if p.errors:
        names = ", ".join(e["field"] for e in p.errors)
        first = p.errors[0]["message"]
        raise Unprocessable(f"the rule is not valid: {names}: {first}", errors=p.errors)
