"""WAHA webhook envelopes and ``WAMessage`` payloads → canonical events.

WAHA posts one event per request: ``{id: "evt_…", timestamp (ms), event, session, metadata, me, payload,
engine, environment}``. History items (``GET /api/{session}/chats/{chatId}/messages``) have the webhook
``WAMessage`` shape, so :func:`parse_wamessage` serves both the webhook and the history import.

Message ids look like ``{fromMe}_{chatId}_{messageId}[_{participant}]``. WEBJS sometimes adds the
``_participant`` suffix to group message ids in webhooks but not in send responses (waha issue #1464), so
every id is normalized to its first three parts (:func:`normalize_id`): the ``message`` and ``message.any``
deliveries of one message, its send response, its acks and reactions all name it the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from souk.platforms.base import (
    Deletion,
    DeliveryStatus,
    Edit,
    Event,
    Ignored,
    Media,
    Message,
    MessageType,
    ParseError,
    ParseFailure,
    Party,
    Reaction,
    SentBy,
    SessionStatus,
    StatusUpdate,
    Typing,
    UnknownKind,
    body_key,
    ts_millis,
    ts_seconds,
)

#: ``message.ack`` values (WAHA ``ack`` / ``ackName``): ERROR, PENDING, SERVER, DEVICE, READ, PLAYED
ACK_STATUS = {
    -1: DeliveryStatus.failed,
    0: DeliveryStatus.pending,
    1: DeliveryStatus.sent,
    2: DeliveryStatus.delivered,
    3: DeliveryStatus.read,
    4: DeliveryStatus.played,
}

_EVENT_ID = re.compile(rb'"id"\s*:\s*"(evt_[0-9A-Za-z]+)"')
_MEDIA_TYPES = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "ptt": "voice",
    "document": "document",
    "sticker": "sticker",
}


# -- ids ------------------------------------------------------------------------------------------------


def serialized(value: Any) -> str:
    """An id as a string: WEBJS sometimes sends ``{"_serialized": "…", …}`` objects instead of strings."""
    if isinstance(value, dict):
        value = value.get("_serialized")
    if not isinstance(value, str) or not value:
        raise ValueError(f"not an id: {value!r}")
    return value


def _parts(message_id: str) -> list[str] | None:
    parts = message_id.split("_")
    return parts if len(parts) >= 3 and parts[0] in ("true", "false") else None


def normalize_id(message_id: str) -> str:
    """``{fromMe}_{chat}_{id}``: drops a trailing ``_{participant}`` (waha #1464) so every source agrees."""
    parts = _parts(message_id)
    return "_".join(parts[:3]) if parts else message_id


def chat_of(message_id: str) -> str | None:
    """The chat id inside a serialized message id, or None for a bare id."""
    parts = _parts(message_id)
    return parts[1] if parts else None


def full_id(short_id: str, sibling_id: str) -> str:
    """Widen a bare id (``editedMessageId``, ``revokedMessageId``) with the action id's fromMe and chat."""
    if _parts(short_id):
        return normalize_id(short_id)
    parts = _parts(sibling_id)
    return f"{parts[0]}_{parts[1]}_{short_id}" if parts else short_id


def is_ignored_chat(chat_id: str | None) -> bool:
    """Stories (``status@broadcast``), broadcast lists and newsletters are not customer conversations."""
    return bool(chat_id) and (chat_id.endswith("@broadcast") or chat_id.endswith("@newsletter"))


def event_key(body: bytes) -> str:
    """The envelope's ``evt_…`` id (a cheap regex: payload ids never start ``evt_``), else the body hash."""
    match = _EVENT_ID.search(body)
    return f"waha:{match.group(1).decode()}" if match else body_key(body)


# -- WAMessage ------------------------------------------------------------------------------------------


def phone_of_jid(jid: str | None) -> str | None:
    """The E.164 number of a person's WhatsApp id (``<digits>@c.us``, NOWEB's ``@s.whatsapp.net``); None for groups,
    ``@lid`` ids (which hide the number) and anything else. WhatsApp vouches for it: the account is that number."""
    user, _, server = (jid or "").partition("@")
    if server in ("c.us", "s.whatsapp.net") and user.isdigit() and 7 <= len(user) <= 15:
        return f"+{user}"
    return None


def _me_party(me: dict[str, Any] | None) -> Party:
    me = me or {}
    return Party(external_id=str(me.get("id") or "me"), name=me.get("pushName"))


def _push_name(data: Any) -> str | None:
    """The sender's profile name: WEBJS ``notifyName``, NOWEB ``pushName``, GOWS ``Info.PushName``."""
    if not isinstance(data, dict):
        return None
    info = data.get("Info") if isinstance(data.get("Info"), dict) else {}
    return data.get("notifyName") or data.get("pushName") or info.get("PushName") or None


def _engine_message(data: dict[str, Any]) -> dict[str, Any]:
    """The proto message inside ``_data`` (NOWEB ``message``, GOWS ``Message``), or ``{}``."""
    for key in ("message", "Message"):
        if isinstance(data.get(key), dict):
            return data[key]
    return {}


def _is_ptt(data: dict[str, Any]) -> bool:
    audio = _engine_message(data).get("audioMessage")
    return data.get("type") == "ptt" or (isinstance(audio, dict) and bool(audio.get("ptt") or audio.get("PTT")))


def media_kind(mime: str | None, data: dict[str, Any]) -> str:
    """image/* → image, video/* → video, audio/ogg push-to-talk → voice, audio/* → audio, else document."""
    if data.get("type") == "sticker" or "stickerMessage" in _engine_message(data):
        return "sticker"
    mime = (mime or "").lower()
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("audio/"):
        return "voice" if mime.startswith("audio/ogg") and _is_ptt(data) else "audio"
    if not mime and data.get("type") in _MEDIA_TYPES:
        return _MEDIA_TYPES[data["type"]]  # media not downloaded: only the engine's type is known
    return "document"


def _vcard(card: Any) -> dict[str, Any]:
    """Name and phone numbers of a vCard string, keeping the card itself."""
    if not isinstance(card, str):
        return card if isinstance(card, dict) else {"vcard": card}
    name, phones = None, []
    for line in card.splitlines():
        field, _, value = line.partition(":")
        field = field.split(";", 1)[0].strip().upper()
        if field == "FN":
            name = value.strip()
        elif field == "TEL":
            phones.append(value.strip())
    return {"name": name, "phones": phones, "vcard": card}


def _reply_to(reply: Any, chat: str, me: dict[str, Any] | None) -> str | None:
    """``replyTo.id`` is a bare id; widen it when its author (``participant``) tells whether it was ours."""
    if not isinstance(reply, dict) or not reply.get("id"):
        return None
    rid = str(reply["id"])
    if _parts(rid):
        return normalize_id(rid)
    author = reply.get("participant")
    if author and me:
        mine = author in {me.get("id"), me.get("lid")}
        return f"{'true' if mine else 'false'}_{chat}_{rid}"
    return rid


def parse_wamessage(
    payload: dict[str, Any], *, me: dict[str, Any] | None = None, fallback_ts: datetime | None = None
) -> Message:
    """One ``WAMessage`` (``message``/``message.any`` payload or history item) as a canonical Message."""
    waha_id = serialized(payload.get("id"))
    external_id = normalize_id(waha_id)
    from_me = bool(payload.get("fromMe"))
    chat = (payload.get("to") if from_me else payload.get("from")) or chat_of(waha_id)
    if not chat:
        raise ValueError("message has no chat id")
    participant = payload.get("participant") or None
    is_group = chat.endswith("@g.us")
    data = payload.get("_data") if isinstance(payload.get("_data"), dict) else {}
    if "timestamp" in payload and payload["timestamp"] is not None:
        timestamp = ts_seconds(payload["timestamp"])
    elif fallback_ts is not None:
        timestamp = fallback_ts
    else:
        raise ValueError("message has no timestamp")

    if from_me:
        sender = _me_party(me)
        direction = "outbound"
        sent_by = SentBy.souk if payload.get("source") == "api" else SentBy.native_app
    else:
        author = participant if is_group and participant else payload.get("from")
        if not author:
            raise ValueError("inbound message has no sender")
        sender = Party(external_id=str(author), name=_push_name(data), phone=phone_of_jid(str(author)))
        direction, sent_by = "inbound", SentBy.customer

    body = payload.get("body") or None
    metadata: dict[str, Any] = {}
    if payload.get("source"):
        metadata["source"] = payload["source"]
    if waha_id != external_id:
        metadata["waha_id"] = waha_id

    message = Message(
        key=external_id,
        timestamp=timestamp,
        raw=payload,
        external_id=external_id,
        thread_id=str(chat),
        sender=sender,
        message_type=MessageType.text if body else MessageType.unsupported,
        text=body,
        direction=direction,
        sent_by=sent_by,
        recipient_id=payload.get("to"),
        reply_to=_reply_to(payload.get("replyTo"), str(chat), me),
        group={"id": chat, "participant": participant} if is_group else None,
        metadata=metadata,
    )

    location = payload.get("location")
    media = payload.get("media") if isinstance(payload.get("media"), dict) else None
    if isinstance(location, dict) and location.get("latitude") is not None:
        message.message_type = MessageType.location
        message.location = {
            "latitude": float(location["latitude"]),
            "longitude": float(location["longitude"]),
            "name": location.get("description") or None,
        }
        message.text = location.get("description") or None  # WEBJS puts a base64 thumbnail in body
    elif payload.get("vCards"):
        message.message_type = MessageType.contacts
        message.contacts = [_vcard(card) for card in payload["vCards"]]
        message.text = None
    elif payload.get("hasMedia") or media:
        media = media or {}
        kind = media_kind(media.get("mimetype"), data)
        message.message_type = MessageType(kind)
        message.media = [
            Media(
                kind=kind,
                url=media.get("url"),
                mime=media.get("mimetype"),
                filename=media.get("filename"),
                caption=body,
            )
        ]
        if media.get("error"):
            metadata["media_error"] = media["error"]
    return message


# -- other events ---------------------------------------------------------------------------------------


def _timestamp(payload: dict[str, Any], fallback: datetime) -> datetime:
    value = payload.get("timestamp")
    return ts_seconds(value) if value is not None else fallback


def _actor(payload: dict[str, Any], me: dict[str, Any] | None) -> Party:
    if payload.get("fromMe"):
        return _me_party(me)
    author = payload.get("participant") or payload.get("from")
    if not author:
        raise ValueError("event has no sender")
    return Party(external_id=str(author), phone=phone_of_jid(str(author)))


def _thread(message_id: str, payload: dict[str, Any]) -> str:
    chat = chat_of(message_id) or (payload.get("to") if payload.get("fromMe") else payload.get("from"))
    if not chat:
        raise ValueError("event has no chat id")
    return str(chat)


Handler = Callable[[dict[str, Any], dict[str, Any], datetime], Event]


def _on_message(envelope: dict[str, Any], payload: dict[str, Any], fallback: datetime) -> Event:
    message = parse_wamessage(payload, me=envelope.get("me"), fallback_ts=fallback)
    if is_ignored_chat(message.thread_id):
        return Ignored(
            key=message.key,
            timestamp=message.timestamp,
            raw=payload,
            reason=f"{message.thread_id} is a status/broadcast/newsletter chat",
        )
    return message


def _on_reaction(envelope: dict[str, Any], payload: dict[str, Any], fallback: datetime) -> Event:
    reaction = payload["reaction"]
    target = normalize_id(serialized(reaction["messageId"]))
    thread = _thread(target, payload)
    sender = _actor(payload, envelope.get("me"))
    timestamp = _timestamp(payload, fallback)
    key = f"reaction:{target}:{sender.external_id}:{payload.get('timestamp', envelope.get('id'))}"
    if is_ignored_chat(thread):
        return Ignored(key=key, timestamp=timestamp, raw=payload, reason=f"reaction in {thread}")
    return Reaction(
        key=key,
        timestamp=timestamp,
        raw=payload,
        target_external_id=target,
        thread_id=thread,
        sender=sender,
        emoji=reaction.get("text"),
    )


def _on_ack(envelope: dict[str, Any], payload: dict[str, Any], fallback: datetime) -> Event:
    waha_id = serialized(payload["id"])
    target = normalize_id(waha_id)
    ack = int(payload["ack"])
    if ack not in ACK_STATUS:
        raise ValueError(f"unknown ack value {ack}")
    status = ACK_STATUS[ack]
    thread = _thread(waha_id, payload)
    participant = payload.get("participant") or None
    key = f"ack:{target}:{ack}"
    if envelope.get("event") == "message.ack.group" and participant:
        key += f":{participant}"  # one receipt per group member
    timestamp = _timestamp(payload, fallback)
    if is_ignored_chat(thread):
        return Ignored(key=key, timestamp=timestamp, raw=payload, reason=f"ack in {thread}")
    failed = status is DeliveryStatus.failed
    return StatusUpdate(
        key=key,
        timestamp=timestamp,
        raw=payload,
        status=status,
        target_external_id=target,
        thread_id=thread,
        recipient_id=participant or thread,
        error_code=str(payload.get("ackName") or "ERROR") if failed else None,
        error_message="WhatsApp reported an error sending this message" if failed else None,
    )


def _on_edited(envelope: dict[str, Any], payload: dict[str, Any], fallback: datetime) -> Event:
    action_id = serialized(payload["id"])
    target = full_id(str(payload["editedMessageId"]), action_id)
    new_text = payload.get("body")
    digest = hashlib.sha256((new_text or "").encode()).hexdigest()[:16]
    return Edit(
        key=f"edit:{target}:{digest}",
        timestamp=_timestamp(payload, fallback),
        raw=payload,
        target_external_id=target,
        thread_id=_thread(action_id, payload),
        sender=_actor(payload, envelope.get("me")),
        new_text=new_text,
    )


def _on_revoked(envelope: dict[str, Any], payload: dict[str, Any], fallback: datetime) -> Event:
    action = payload.get("after") or payload.get("before") or {}
    action_id = serialized(action.get("id"))
    target = full_id(str(payload["revokedMessageId"]), action_id)
    return Deletion(
        key=f"revoke:{target}",
        timestamp=_timestamp(action, fallback),
        raw=payload,
        target_external_id=target,
        thread_id=_thread(action_id, action),
        sender=_actor(action, envelope.get("me")),
    )


def _on_session_status(envelope: dict[str, Any], payload: dict[str, Any], fallback: datetime) -> Event:
    status = str(payload["status"])
    statuses = payload.get("statuses") or []
    latest = statuses[-1].get("timestamp") if statuses and isinstance(statuses[-1], dict) else None
    timestamp = ts_millis(latest) if latest is not None else fallback
    # SCAN_QR_CODE repeats on every QR rotation: each one must be handled, so the key is per delivery
    key = f"session:{envelope['id']}" if envelope.get("id") else f"session:{status}:{timestamp.timestamp()}"
    detail = {
        "session": envelope.get("session"),
        "statuses": statuses,
        "data": payload.get("data"),
        "me": envelope.get("me"),
        "engine": envelope.get("engine"),
    }
    return SessionStatus(key=key, timestamp=timestamp, raw=payload, status=status, detail=detail)


#: presences that mean the person is writing to the chat ("recording" a voice note counts) or stopped
TYPING_PRESENCES = {"typing": True, "recording": True, "paused": False}


def _on_presence(envelope: dict[str, Any], payload: dict[str, Any], fallback: datetime) -> Event:
    """A customer typing (or stopping) in a chat: a live signal for the inbox. Online and offline are not news
    to anyone answering, so they are ignored; so are the session's own presences."""
    chat = serialized(payload["id"])
    key = f"presence:{envelope.get('id') or chat}:{envelope.get('timestamp')}"
    me = (envelope.get("me") or {}).get("id")
    theirs = [p for p in payload.get("presences") or [] if isinstance(p, dict) and p.get("participant") != me]
    state = str(theirs[-1].get("lastKnownPresence") or "") if theirs else ""
    if is_ignored_chat(chat) or state not in TYPING_PRESENCES:
        return Ignored(key=key, timestamp=fallback, raw=payload, reason=f"WAHA presence {state or 'update'} not used")
    person = str(theirs[-1].get("participant") or chat)
    return Typing(
        key=key,
        timestamp=fallback,
        raw=payload,
        thread_id=chat,
        sender=Party(external_id=person, phone=phone_of_jid(person)),
        typing=TYPING_PRESENCES[state],
    )


#: WAHA events (or families, by prefix) Souk understands and leaves alone (protocols.md §2.2)
UNUSED_EVENTS = (
    "message.waiting",
    "poll.vote",
    "group.",
    "chat.",
    "call.",
    "label.",
    "engine.event",
    "state.change",
)

HANDLERS: dict[str, Handler] = {
    "message": _on_message,
    "message.any": _on_message,
    "message.reaction": _on_reaction,
    "message.ack": _on_ack,
    "message.ack.group": _on_ack,
    "message.edited": _on_edited,
    "message.revoked": _on_revoked,
    "session.status": _on_session_status,
    "presence.update": _on_presence,
}


def _envelope_time(envelope: dict[str, Any]) -> datetime:
    """When WAHA emitted the event (ms); used where the payload has no time of its own."""
    try:
        return ts_millis(envelope["timestamp"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return datetime.now(UTC)


def parse(body: bytes) -> list[Event]:
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise ParseError(f"WAHA webhook body is not JSON: {exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str):
        raise ParseError("not a WAHA event envelope: no 'event' field")
    event = envelope["event"]
    payload = envelope.get("payload")
    raw = payload if isinstance(payload, dict) else envelope
    delivery = str(envelope.get("id") or body_key(body))
    fallback = _envelope_time(envelope)
    try:
        handler = HANDLERS.get(event)
        if handler is None and event.startswith(UNUSED_EVENTS):
            return [Ignored(key=f"ignored:{delivery}", timestamp=fallback, raw=raw, reason=f"WAHA {event} not used")]
        if handler is None:
            reason = f"unknown WAHA event {event!r}"
            return [UnknownKind(key=f"unknown:{delivery}", timestamp=fallback, raw=raw, kind=event, reason=reason)]
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        return [handler(envelope, payload, fallback)]
    except Exception as exc:
        return [
            ParseFailure(
                key=f"failed:{delivery}",
                timestamp=fallback,
                raw=raw,
                reason=f"{event}: {type(exc).__name__}: {exc}",
            )
        ]
