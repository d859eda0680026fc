"""WhatsApp Cloud API webhooks (``object: whatsapp_business_account``) turned into canonical events.

A delivery batches ``entry[].changes[]``; a ``messages`` change carries ``contacts[]`` (profile name,
``wa_id``, BSUID ``user_id``), customer ``messages[]``, ``statuses[]`` of our sends and webhook-level
``errors[]``. Messages typed in the WhatsApp Business app on a coexistence number arrive as
``smb_message_echoes``. Every other field (account, template, quality updates, coexistence sync) is understood
and ignored. The thread of a conversation is the customer's ``wa_id``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from souk.platforms.base import (
    Attribution,
    Deletion,
    DeliveryStatus,
    Edit,
    Event,
    Ignored,
    Media,
    Message,
    MessageSource,
    MessageType,
    ParseError,
    Party,
    Reaction,
    SentBy,
    StatusUpdate,
    ts_seconds,
)
from souk.platforms.meta.messaging import failure, guarded, load_json, raw_key

OBJECT = "whatsapp_business_account"
_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_STATUSES = {
    s.value: s
    for s in (
        DeliveryStatus.sent,
        DeliveryStatus.delivered,
        DeliveryStatus.read,
        DeliveryStatus.played,
        DeliveryStatus.failed,
    )
}


def parse_body(body: bytes) -> list[Event]:
    """Every event of one webhook delivery; malformed sub-events become ``ParseFailure``."""
    data = load_json(body)
    if data.get("object") != OBJECT:
        raise ParseError(f"object is {data.get('object')!r}, expected {OBJECT!r}")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise ParseError("entry is not a list")
    now = datetime.now(UTC)
    events: list[Event] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            events.append(failure(entry, now, "entry has no changes list"))
            continue
        when = ts_seconds(entry["time"]) if entry.get("time") else now  # only management changes carry it
        for change in changes:
            events.extend(guarded(change, when, lambda change=change, when=when: _parse_change(change, when)))
    return events


def _parse_change(change: Mapping[str, Any], now: datetime) -> list[Event]:
    """One ``changes[]`` item; ``now`` stamps events that carry no time of their own."""
    field = change.get("field")
    value = change["value"]
    if field == "messages":
        return _messages_change(value, now)
    if field == "smb_message_echoes":
        business = _Business(value.get("metadata") or {})
        return [
            event
            for echo in value.get("message_echoes") or []
            for event in guarded(echo, now, lambda echo=echo: [_echo(echo, business)])
        ]
    return [
        Ignored(
            key=raw_key(f"field:{field}", change),
            timestamp=now,
            raw=dict(change),
            reason=f"{field} is not a conversation field",
        )
    ]


def _messages_change(value: Mapping[str, Any], now: datetime) -> list[Event]:
    contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
    events: list[Event] = []
    for msg in value.get("messages") or []:
        events.extend(guarded(msg, now, lambda msg=msg: [_inbound(msg, contacts)]))
    for status in value.get("statuses") or []:
        events.extend(guarded(status, now, lambda status=status: [_status(status)]))
    for error in value.get("errors") or []:
        events.append(
            Ignored(
                key=raw_key("error", error),
                timestamp=now,
                raw=dict(error),
                reason=f"webhook error {error.get('code')}: {error.get('title') or error.get('message')}",
            )
        )
    return events


class _Business:
    """The business side of a change (``metadata``): who "we" are, to orient coexistence echoes."""

    def __init__(self, metadata: Mapping[str, Any]) -> None:
        self.phone_number_id = str(metadata.get("phone_number_id") or "")
        self.display = str(metadata.get("display_phone_number") or "")
        self.digits = _digits(self.display)

    def party(self) -> Party:
        return Party(external_id=self.phone_number_id or self.display, phone=self.display or None)

    def customer_of(self, echo: Mapping[str, Any]) -> str:
        """The customer of an echo: normally ``to``, but some edit/revoke echoes swap ``from`` and ``to``."""
        to, sender = str(echo.get("to") or ""), str(echo.get("from") or "")
        if to and self.digits and _digits(to) == self.digits and sender:
            return sender
        customer = to or str(echo.get("to_user_id") or "")
        if not customer:
            raise ValueError("echo has no customer (to)")
        return customer


def _inbound(msg: Mapping[str, Any], contacts: list[dict[str, Any]]) -> Event:
    """A customer message, or the reaction/edit/revoke it stands for."""
    sender = _customer(msg, contacts)
    return _event(msg, sender, sender.external_id, direction="inbound", sent_by=SentBy.customer)


def _echo(echo: Mapping[str, Any], business: _Business) -> Event:
    """A message typed in the WhatsApp Business app (coexistence): outbound, by a person in the native app."""
    customer = business.customer_of(echo)
    sender = business.party()
    event = _event(echo, sender, customer, direction="outbound", sent_by=SentBy.native_app)
    if isinstance(event, Message):
        event.recipient_id = customer
        if echo.get("to_user_id"):
            event.metadata["to_user_id"] = echo["to_user_id"]
    return event


def _event(msg: Mapping[str, Any], sender: Party, thread_id: str, *, direction: str, sent_by: SentBy) -> Event:
    mid = msg["id"]
    when = ts_seconds(msg["timestamp"])
    raw = dict(msg)
    kind = msg.get("type")
    if kind == "reaction":
        reaction = msg["reaction"]
        return Reaction(
            key=f"reaction:{mid}",
            timestamp=when,
            raw=raw,
            target_external_id=reaction["message_id"],
            thread_id=thread_id,
            sender=sender,
            emoji=reaction.get("emoji") or None,
        )
    if kind == "edit":
        edit = msg["edit"]
        inner = _content(edit.get("message") or {})
        return Edit(
            key=f"edit:{mid}",
            timestamp=when,
            raw=raw,
            target_external_id=edit["original_message_id"],
            thread_id=thread_id,
            sender=sender,
            new_text=inner["text"],
        )
    if kind == "revoke":
        return Deletion(
            key=f"revoke:{mid}",
            timestamp=when,
            raw=raw,
            target_external_id=msg["revoke"]["original_message_id"],
            thread_id=thread_id,
            sender=sender,
        )
    content = _content(msg)
    context = msg.get("context") or {}
    metadata = content.pop("metadata")
    for flag in ("forwarded", "frequently_forwarded"):
        if context.get(flag):
            metadata[flag] = True
    if context.get("referred_product"):
        metadata["referred_product"] = context["referred_product"]
    for extra in ("errors", "identity"):
        if msg.get(extra):
            metadata[extra] = msg[extra]
    return Message(
        key=mid,
        timestamp=when,
        raw=raw,
        external_id=mid,
        thread_id=thread_id,
        sender=sender,
        direction=direction,
        sent_by=sent_by,
        reply_to=context.get("id"),
        attribution=_attribution(msg["referral"]) if msg.get("referral") else None,
        metadata=metadata,
        **content,
    )


def _content(msg: Mapping[str, Any]) -> dict[str, Any]:
    """Type, text and structured parts of a message (also of the new version inside an ``edit``)."""
    kind = msg.get("type")
    body = msg.get(kind) if isinstance(kind, str) and isinstance(msg.get(kind), dict) else {}
    out: dict[str, Any] = {"message_type": MessageType.unsupported, "text": None, "metadata": {}}
    if kind == "text":
        out.update(message_type=MessageType.text, text=body.get("body"))
    elif kind in _MEDIA_TYPES:
        voice = kind == "audio" and bool(body.get("voice"))
        media_kind = "voice" if voice else kind
        out.update(
            message_type=MessageType(media_kind),
            text=body.get("caption"),
            media=[
                Media(
                    kind=media_kind,
                    platform_media_id=body.get("id"),
                    url=body.get("url"),
                    mime=body.get("mime_type"),
                    caption=body.get("caption"),
                    filename=body.get("filename"),
                    sha256=body.get("sha256"),
                )
            ],
        )
        if kind == "sticker" and "animated" in body:
            out["metadata"]["animated"] = bool(body["animated"])
    elif kind == "location":
        out.update(
            message_type=MessageType.location,
            location={key: body.get(key) for key in ("latitude", "longitude", "name", "address", "url")},
        )
    elif kind == "contacts":
        out.update(message_type=MessageType.contacts, contacts=list(msg.get("contacts") or []))
    elif kind == "interactive":
        out.update(_interactive(body))
    elif kind == "button":
        out.update(
            message_type=MessageType.interactive,
            text=body.get("text"),
            interactive={"type": "button", "title": body.get("text"), "payload": body.get("payload")},
        )
    elif kind == "order":
        order = {
            "catalog_id": body.get("catalog_id"),
            "product_items": list(body.get("product_items") or []),
            "text": body.get("text"),
        }
        out.update(message_type=MessageType.order, text=body.get("text") or None, order=order)
    elif kind in ("system", "request_welcome"):
        out.update(message_type=MessageType.system, text=body.get("body"))
        out["metadata"]["system"] = dict(body) if body else {"type": kind}
    elif kind != "unsupported":
        out["metadata"]["original_type"] = kind
    return out


def _interactive(body: Mapping[str, Any]) -> dict[str, Any]:
    """Button and list replies, and Flow (``nfm_reply``) submissions."""
    kind = body.get("type")
    reply = body.get(kind) if isinstance(kind, str) else None
    if not isinstance(reply, dict):  # Meta sends a bare "interactive" (and an error) when it cannot render it
        return {"message_type": MessageType.unsupported}
    if kind == "nfm_reply":
        response: Any = reply.get("response_json")
        with contextlib.suppress(ValueError):  # kept as sent when it is not JSON
            response = json.loads(response) if isinstance(response, str) else response
        return {
            "message_type": MessageType.interactive,
            "text": reply.get("body"),
            "interactive": {
                "type": kind,
                "name": reply.get("name"),
                "body": reply.get("body"),
                "response": response,
            },
        }
    interactive = {"type": kind, "id": reply.get("id"), "title": reply.get("title")}
    if "description" in reply:
        interactive["description"] = reply["description"]
    return {"message_type": MessageType.interactive, "text": reply.get("title"), "interactive": interactive}


def _attribution(referral: Mapping[str, Any]) -> Attribution:
    """A click-to-WhatsApp ad or post, all kept: ``ctwa_clid`` is what the Conversions API wants back."""
    is_post = str(referral.get("source_type") or "").lower() == "post"
    source_id = referral.get("source_id")
    return Attribution(
        source=MessageSource.post if is_post else MessageSource.ad,
        ad_id=None if is_post else source_id,
        post_id=source_id if is_post else None,
        source_url=referral.get("source_url"),
        headline=referral.get("headline"),
        body=referral.get("body"),
        ctwa_clid=referral.get("ctwa_clid"),
        raw=dict(referral),
    )


def _status(status: Mapping[str, Any]) -> Event:
    mid = status["id"]
    name = status["status"]
    when = ts_seconds(status["timestamp"])
    raw = dict(status)
    if name not in _STATUSES:
        return Ignored(key=f"status:{mid}:{name}", timestamp=when, raw=raw, reason=f"status {name!r} not tracked")
    error = (status.get("errors") or [{}])[0]
    code = error.get("code")
    return StatusUpdate(
        key=f"status:{mid}:{name}",
        timestamp=when,
        raw=raw,
        status=_STATUSES[name],
        target_external_id=mid,
        thread_id=status.get("recipient_id"),
        recipient_id=status.get("recipient_id"),
        error_code=str(code) if code is not None else None,
        error_message=(error.get("error_data") or {}).get("details") or error.get("message") or error.get("title"),
    )


def _customer(msg: Mapping[str, Any], contacts: list[dict[str, Any]]) -> Party:
    """The sender, with the profile from ``contacts[]`` (name, BSUID) matched by ``wa_id`` or ``user_id``."""
    wa_id = msg.get("from")
    user_id = msg.get("from_user_id")
    system = msg.get("system") or {}
    contact = next((c for c in contacts if wa_id and c.get("wa_id") == wa_id), None) or next(
        (c for c in contacts if user_id and c.get("user_id") == user_id), None
    )
    if contact is None and len(contacts) == 1:
        contact = contacts[0]
    contact = contact or {}
    external_id = wa_id or contact.get("wa_id") or user_id or contact.get("user_id") or system.get("previous_user_id")
    if not external_id:
        raise ValueError("message has no sender (from, from_user_id, contacts)")
    profile = contact.get("profile") or {}
    extra = {key: contact[key] for key in ("user_id", "parent_user_id") if contact.get(key)}
    if user_id and "user_id" not in extra:
        extra["user_id"] = user_id
    is_phone = bool(wa_id or contact.get("wa_id"))
    return Party(
        external_id=str(external_id),
        name=profile.get("name"),
        username=profile.get("username"),
        phone=str(external_id) if is_phone else None,
        extra=extra,
    )


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())
