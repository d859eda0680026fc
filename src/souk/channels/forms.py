"""A channel type's config as a list of form fields, read from its config model's JSON Schema.

The settings page builds its create and edit forms from this list instead of interpreting JSON Schema itself: one
entry per input, named by its dotted path in the config (``auth.password``), with a label, a kind (text, secret,
number, boolean, choice), whether it is required, its default, its choices, and the condition under which it
applies (``{"auth.type": "basic"}`` for one member of a tagged union). Keys marked ``readOnly`` in the schema are
written by Souk and left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

Kind = Literal["text", "secret", "number", "boolean", "choice"]

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_ACRONYMS = {"id": "ID", "url": "URL", "api": "API", "qr": "QR", "ai": "AI"}


class ConfigField(BaseModel):
    name: str = Field(description="Dotted path of the key in the channel's config.", examples=["auth.password"])
    label: str = Field(examples=["Password"])
    kind: Kind = Field(description="secret: write-only, shown as a password input and never returned in clear.")
    required: bool
    description: str | None = None
    default: Any = None
    choices: list[str] | None = Field(None, description="The allowed values of a choice.")
    when: dict[str, str] | None = Field(
        None, description="The field applies only while these other fields have these values."
    )
    advanced: bool = Field(False, description="Optional with a sensible default: a form may fold it away.")


def label_for(key: str) -> str:
    """``phoneNumberID`` → ``Phone number ID``; ``apiBaseURL`` → ``API base URL``."""
    words = [_ACRONYMS.get(w.lower(), w if w.isupper() and len(w) > 1 else w.lower()) for w in _WORDS.findall(key)]
    if not words:
        return key
    first = words[0]
    words[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(words)


def config_fields(schema: dict[str, Any], secret_fields: Iterable[str]) -> list[ConfigField]:
    secrets = set(secret_fields)
    defs = schema.get("$defs", {})
    return list(_object_fields(schema, defs, prefix="", secret=False, secrets=secrets, when=None))


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return defs.get(ref.removeprefix("#/$defs/"), {})
    return node


def _object_fields(
    schema: dict[str, Any],
    defs: dict[str, Any],
    *,
    prefix: str,
    secret: bool,
    secrets: set[str],
    when: dict[str, str] | None,
    skip: str | None = None,
) -> Iterable[ConfigField]:
    required = set(schema.get("required", []))
    for key, raw in schema.get("properties", {}).items():
        if key == skip:
            continue
        node = _resolve(raw, defs)
        if node.get("readOnly") or raw.get("readOnly"):
            continue
        name = prefix + key
        is_secret = secret or (not prefix and key in secrets)
        variants = [_resolve(v, defs) for v in node.get("oneOf", [])]
        tag = (node.get("discriminator") or {}).get("propertyName")
        if variants and tag:
            yield from _union_fields(node, variants, tag, defs, name, is_secret, secrets, when, key in required)
            continue
        if node.get("type") == "object" and "properties" in node:
            yield from _object_fields(node, defs, prefix=name + ".", secret=is_secret, secrets=secrets, when=when)
            continue
        yield _leaf(key, name, raw, node, is_secret, key in required, when)


def _union_fields(
    node: dict[str, Any],
    variants: list[dict[str, Any]],
    tag: str,
    defs: dict[str, Any],
    name: str,
    secret: bool,
    secrets: set[str],
    when: dict[str, str] | None,
    required: bool,
) -> Iterable[ConfigField]:
    """A tagged union (WAHA's ``auth``): a choice of the tag, then each member's fields under its tag value."""
    tags = [str(v.get("properties", {}).get(tag, {}).get("const")) for v in variants]
    yield ConfigField(
        name=f"{name}.{tag}",
        label=label_for(name.rsplit(".", 1)[-1]),
        kind="choice",
        required=required,
        description=node.get("description"),
        default=tags[0] if tags else None,
        choices=tags,
        when=when,
    )
    for value, variant in zip(tags, variants, strict=True):
        cond = {**(when or {}), f"{name}.{tag}": value}
        yield from _object_fields(variant, defs, prefix=name + ".", secret=secret, secrets=secrets, when=cond, skip=tag)


def _leaf(
    key: str,
    name: str,
    raw: dict[str, Any],
    node: dict[str, Any],
    secret: bool,
    required: bool,
    when: dict[str, str] | None,
) -> ConfigField:
    types = {node.get("type")} | {o.get("type") for o in node.get("anyOf", [])}
    enum = node.get("enum") or next((o.get("enum") for o in node.get("anyOf", []) if o.get("enum")), None)
    kind: Kind = "text"
    if secret:
        kind = "secret"
    elif enum:
        kind = "choice"
    elif types & {"integer", "number"}:
        kind = "number"
    elif "boolean" in types:
        kind = "boolean"
    default = raw.get("default", node.get("default"))
    return ConfigField(
        name=name,
        label=label_for(key),
        kind=kind,
        required=required,
        description=raw.get("description") or node.get("description"),
        default=default,
        choices=[str(v) for v in enum] if enum else None,
        when=when,
        advanced=not required and default is not None,
    )
