"""Telegram ``Update`` → canonical events.

Identity rules (protocols.md §3):

* ``message_id`` is unique only within a chat, so a message's external id is ``f"{thread}:{message_id}"``.
* The thread is ``str(chat.id)``. A Telegram Business chat is a *different* conversation from the bot's
  own private chat with the same person (same ``chat.id``, independent message ids), so its thread is
  ``f"{chat.id}@{business_connection_id}"``; :func:`split_thread` and :func:`split_message_key` undo both
  forms for the client, which needs ``chat_id`` and ``business_connection_id`` to answer.
* Bots never receive their own messages (no echoes). In a business chat both people's messages arrive: one
  whose ``from.id`` is not the chat (the customer) was typed by the business owner (``native_app``), or sent
  by the connected bot when ``sender_business_bot`` is set (``souk``; ``echo_marker`` = that bot's id).

Choices: a ``/start <payload>`` deep link is a command with a referral :class:`Attribution` (``ref`` =
payload). A customer-sent poll is stored as ``unsupported`` (text = the question, ``metadata["poll"]``): it
is customer content Souk cannot answer, so it is kept but not treated as a question. Service messages
(members joining, pins, topic changes) and chat-management updates (``my_chat_member``, ``chat_member``,
...) become :class:`Ignored`. ``callback_query`` carries no date, so its timestamp is the parse time (its
key ``cb:<id>`` stays stable).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from souk.platforms.base import (
    Attribution,
    Deletion,
    Edit,
    Event,
    Ignored,
    Media,
    Message,
    MessageSource,
    MessageType,
    ParseError,
    ParseFailure,
    Party,
    Reaction,
    SentBy,
    UnknownKind,
    body_key,
    ts_seconds,
)

#: update kinds whose payload is a Message / an edited Message
MESSAGE_KINDS = ("message", "channel_post", "business_message")
EDIT_KINDS = ("edited_message", "edited_channel_post", "edited_business_message")
#: Update kinds of the Bot API that Souk understands and leaves alone (inline mode, payments, polls, boosts …)
UNUSED_KINDS = frozenset(
    {
        "business_connection",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)

#: fields that make a Message a service message (chat management, not conversation content)
SERVICE_FIELDS = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "write_access_allowed",
    "users_shared",
    "chat_shared",
    "boost_added",
    "chat_background_set",
    "proximity_alert_triggered",
    "connected_website",
    "giveaway_created",
    "giveaway_completed",
)

#: customer content Souk does not model; reported in ``metadata["telegram_type"]``
UNSUPPORTED_FIELDS = (
    "dice",
    "game",
    "invoice",
    "successful_payment",
    "refunded_payment",
    "story",
    "paid_media",
    "giveaway",
    "giveaway_winners",
    "checklist",
    "gift",
    "unique_gift",
    "passport_data",
)

_UPDATE_ID = re.compile(rb'^\s*\{\s*"update_id"\s*:\s*(\d+)\s*[,}]')


# -- identifiers shared with the client ---------------------------------------------------------------------


def thread_key(chat_id: Any, business_connection_id: str | None = None) -> str:
    return f"{chat_id}@{business_connection_id}" if business_connection_id else str(chat_id)


def message_key(chat_id: Any, message_id: Any, business_connection_id: str | None = None) -> str:
    return f"{thread_key(chat_id, business_connection_id)}:{message_id}"


def topic_thread(thread: str, topic: Any) -> str:
    """A forum topic's own conversation: ``"<chat_id>/<message_thread_id>"``."""
    return f"{thread}/{topic}"


def split_topic(thread: str) -> tuple[str, int | None]:
    """``"-100123/42"`` → ``("-100123", 42)``; a thread without a topic gives ``None``."""
    base, slash, topic = thread.rpartition("/")
    if slash and topic.isdigit():
        return base, int(topic)
    return thread, None


def split_thread(thread: str) -> tuple[str, str | None]:
    """``"123@bc"`` → ``("123", "bc")``; ``"123"`` and ``"@channelname"`` have no business connection; a forum
    topic's ``"/<topic>"`` is not part of the chat."""
    thread = split_topic(thread)[0]
    if thread.startswith("@"):
        return thread, None
    chat_id, _, business_connection_id = thread.partition("@")
    return chat_id, business_connection_id or None


def split_message_key(external_id: str) -> tuple[str | None, int]:
    """``"<thread>:<message_id>"`` → ``(thread, message_id)``; a bare ``"<message_id>"`` gives no thread."""
    thread, _, message_id = external_id.rpartition(":")
    return thread or None, int(message_id)


# -- entry points -------------------------------------------------------------------------------------------


def update_key(body: bytes) -> str:
    """``update:<update_id>``, read with a regex when the id leads the body (it does), else by parsing."""
    match = _UPDATE_ID.match(body)
    if match:
        return f"update:{int(match.group(1))}"
    try:
        update_id = json.loads(body)["update_id"]
    except (ValueError, TypeError, KeyError):
        return body_key(body)
    if isinstance(update_id, int) and not isinstance(update_id, bool):
        return f"update:{update_id}"
    return body_key(body)


def parse_update(body: bytes) -> list[Event]:
    try:
        update = json.loads(body)
    except ValueError as exc:
        raise ParseError(f"Telegram update is not JSON: {exc}") from exc
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise ParseError("not a Telegram Update: no integer update_id")
    kinds = [kind for kind in update if kind != "update_id"]
    if not kinds:
        return [Ignored(key=f"update:{update_id}", timestamp=_now(), raw=update, reason="empty update")]
    events: list[Event] = []
    for kind in kinds:  # exactly one per the Bot API; tolerate more
        payload = update[kind]
        try:
            if not isinstance(payload, dict):
                raise ValueError(f"{kind} is not an object")
            events.extend(_handle(kind, payload, update_id))
        except Exception as exc:  # a malformed sub-event becomes a ParseFailure, never an exception
            reason = f"{kind}: {type(exc).__name__}: {exc}"
            events.append(_failure(f"update:{update_id}:{kind}", payload, reason))
    return events


def _handle(kind: str, payload: dict[str, Any], update_id: int) -> Iterator[Event]:
    if kind in MESSAGE_KINDS:
        yield _message(payload, kind)
    elif kind in EDIT_KINDS:
        yield _edit(payload)
    elif kind == "deleted_business_messages":
        yield from _deletions(payload, update_id)
    elif kind == "message_reaction":
        yield _reaction(payload)
    elif kind == "callback_query":
        yield _callback(payload)
    elif kind in ("my_chat_member", "chat_member"):
        old, new = payload["old_chat_member"]["status"], payload["new_chat_member"]["status"]
        reason = f"{kind} in chat {payload['chat']['id']}: {old} -> {new}"
        yield Ignored(key=f"update:{update_id}", timestamp=_date(payload), raw=payload, reason=reason)
    elif kind in UNUSED_KINDS:
        reason = f"{kind} not used by Souk"
        yield Ignored(key=f"update:{update_id}", timestamp=_date(payload), raw=payload, reason=reason)
    else:  # a kind newer than this parser: failed, so it shows and can be replayed once handled
        reason = f"unknown Telegram update kind {kind!r}"
        yield UnknownKind(key=f"update:{update_id}", timestamp=_date(payload), raw=payload, kind=kind, reason=reason)


# -- messages -----------------------------------------------------------------------------------------------


def _message(msg: dict[str, Any], kind: str) -> Event:
    chat = msg["chat"]
    chat_id = chat["id"]
    business_connection_id = msg.get("business_connection_id")
    thread = thread_key(chat_id, business_connection_id)
    external_id = f"{thread}:{msg['message_id']}"
    timestamp = ts_seconds(msg["date"])
    service = next((name for name in SERVICE_FIELDS if name in msg), None)
    if service:
        return Ignored(key=external_id, timestamp=timestamp, raw=msg, reason=f"service message: {service}")

    fields = _content(msg)
    sender = _sender(msg)
    own = (msg.get("contact") or {}) if "contact" in msg else {}
    if own.get("phone_number") and str(own.get("user_id")) == sender.external_id:
        # a user sharing their own contact (the "share my phone number" button): Telegram vouches for the number
        phone = str(own["phone_number"])
        sender.phone = f"+{phone}" if phone.isdigit() else phone  # Telegram leaves the "+" out
    metadata: dict[str, Any] = fields.pop("metadata")
    if kind == "channel_post":
        metadata["content_type"] = fields["message_type"].value
        fields["message_type"] = MessageType.post
    direction, sent_by, recipient_id, echo_marker = "inbound", SentBy.customer, None, None
    if sender.is_bot:
        sent_by = SentBy.bot
    if business_connection_id:
        metadata["business_connection_id"] = business_connection_id
        if sender.external_id != str(chat_id):  # in a private business chat, chat.id is the customer
            direction, recipient_id = "outbound", str(chat_id)
            bot = msg.get("sender_business_bot")
            sent_by, echo_marker = (SentBy.souk, str(bot["id"])) if bot else (SentBy.native_app, None)
    topic = msg.get("message_thread_id")
    if topic is not None:
        metadata["message_thread_id"] = topic
    # each forum topic is a conversation of its own; message ids (and so external ids) stay per chat
    conversation = topic_thread(thread, topic) if topic is not None and msg.get("is_topic_message") else thread
    metadata.update(_forward(msg))
    if msg.get("quote"):
        metadata["quote"] = msg["quote"].get("text")
    group = None
    if chat.get("type") in ("group", "supergroup"):
        topic_id = str(topic) if topic is not None else None
        group = {
            "id": str(chat_id),
            "title": chat.get("title"),
            "topic_id": topic_id,
            "participant": sender.external_id,
        }
    return Message(
        key=external_id,
        timestamp=timestamp,
        raw=msg,
        external_id=external_id,
        thread_id=conversation,
        sender=sender,
        direction=direction,
        sent_by=sent_by,
        recipient_id=recipient_id,
        reply_to=_reply_to(msg, thread),
        group=group,
        echo_marker=echo_marker,
        metadata=metadata,
        **fields,
    )


def _content(msg: dict[str, Any]) -> dict[str, Any]:
    """The message type and its content fields, in the precedence the Bot API implies (an animation also has
    ``document``; a venue also has ``location``)."""
    caption = msg.get("caption")
    out: dict[str, Any] = {"text": caption, "metadata": {}}
    if "text" in msg:
        out.update(text=msg["text"], message_type=MessageType.text)
        _command(msg, out)
    elif "animation" in msg:
        out.update(message_type=MessageType.video, media=[_media("video", msg["animation"], caption)])
        out["metadata"]["animation"] = True
    elif "photo" in msg:
        largest = max(msg["photo"], key=_photo_area)
        out.update(message_type=MessageType.image, media=[_media("image", largest, caption)])
    elif "video" in msg:
        out.update(message_type=MessageType.video, media=[_media("video", msg["video"], caption)])
    elif "video_note" in msg:
        out.update(message_type=MessageType.video, media=[_media("video", msg["video_note"], caption)])
        out["metadata"]["video_note"] = True
    elif "voice" in msg:
        out.update(message_type=MessageType.voice, media=[_media("voice", msg["voice"], caption)])
    elif "audio" in msg:
        out.update(message_type=MessageType.audio, media=[_media("audio", msg["audio"], caption)])
    elif "document" in msg:
        out.update(message_type=MessageType.document, media=[_media("document", msg["document"], caption)])
    elif "sticker" in msg:
        sticker = msg["sticker"]
        out.update(message_type=MessageType.sticker, media=[_media("sticker", sticker, None)])
        out["metadata"]["sticker_emoji"] = sticker.get("emoji")
    elif "venue" in msg:
        venue = msg["venue"]
        location = _location(venue["location"])
        location.update(name=venue.get("title"), address=venue.get("address"))
        out.update(message_type=MessageType.location, location=location)
    elif "location" in msg:
        out.update(message_type=MessageType.location, location=_location(msg["location"]))
    elif "contact" in msg:
        out.update(message_type=MessageType.contacts, contacts=[_contact(msg["contact"])])
    elif "poll" in msg:
        poll = msg["poll"]
        out.update(message_type=MessageType.unsupported, text=poll.get("question"))
        options = [option.get("text") for option in poll.get("options", [])]
        out["metadata"].update(
            telegram_type="poll",
            poll={
                "id": poll.get("id"),
                "question": poll.get("question"),
                "type": poll.get("type"),
                "options": options,
            },
        )
    else:
        out["message_type"] = MessageType.unsupported
        found = next((name for name in UNSUPPORTED_FIELDS if name in msg), "unknown")
        out["metadata"]["telegram_type"] = found
    return out


def _photo_area(size: dict[str, Any]) -> tuple[int, int]:
    return size.get("width", 0) * size.get("height", 0), size.get("file_size", 0)


def _command(msg: dict[str, Any], out: dict[str, Any]) -> None:
    """``/name[@bot] [args]`` with a ``bot_command`` entity at offset 0; ``/start <ref>`` is a referral."""
    entities = msg.get("entities") or []
    if not any(e.get("type") == "bot_command" and e.get("offset") == 0 for e in entities):
        return
    head, *rest = msg["text"].split(maxsplit=1)
    name = head[1:].partition("@")[0]
    args = rest[0].strip() if rest else None
    out["message_type"] = MessageType.command
    out["metadata"].update(command=name, command_args=args)
    if name == "start" and args:
        out["attribution"] = Attribution(source=MessageSource.referral, ref=args, raw={"start": args})


def _media(kind: str, obj: dict[str, Any], caption: str | None) -> Media:
    return Media(
        kind=kind,
        platform_media_id=obj["file_id"],
        mime=obj.get("mime_type"),
        size=obj.get("file_size"),
        caption=caption,
        filename=obj.get("file_name"),
    )


def _location(loc: dict[str, Any]) -> dict[str, Any]:
    out = {"latitude": loc["latitude"], "longitude": loc["longitude"]}
    out.update({k: loc[k] for k in ("horizontal_accuracy", "live_period", "heading") if k in loc})
    return out


def _contact(contact: dict[str, Any]) -> dict[str, Any]:
    name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
    out: dict[str, Any] = {
        "name": name,
        "first_name": contact.get("first_name"),
        "last_name": contact.get("last_name"),
        "phones": [{"phone": contact["phone_number"]}],
    }
    if contact.get("user_id") is not None:
        out["user_id"] = str(contact["user_id"])
    if contact.get("vcard"):
        out["vcard"] = contact["vcard"]
    return out


def _reply_to(msg: dict[str, Any], thread: str) -> str | None:
    reply = msg.get("reply_to_message")
    # in a forum, every message of a topic "replies" to the topic's root
    if not reply or "forum_topic_created" in reply:
        return None
    return f"{thread}:{reply['message_id']}"


def _forward(msg: dict[str, Any]) -> dict[str, Any]:
    if "forward_origin" in msg:
        return {"forward_origin": msg["forward_origin"]}
    legacy_fields = (
        "forward_from",
        "forward_from_chat",
        "forward_sender_name",
        "forward_date",
    )  # Bot API < 7.0
    legacy = {k: msg[k] for k in legacy_fields if k in msg}
    return {"forward_origin": legacy} if legacy else {}


def _sender(msg: dict[str, Any]) -> Party:
    """``sender_chat`` (channel posts, anonymous admins, linked-channel forwards) wins over ``from``."""
    if msg.get("sender_chat"):
        return _chat_party(msg["sender_chat"])
    if msg.get("from"):
        return _user_party(msg["from"])
    return _chat_party(msg["chat"])


def _user_party(user: dict[str, Any]) -> Party:
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or None
    extra = {k: user[k] for k in ("language_code", "is_premium") if k in user}
    return Party(
        external_id=str(user["id"]),
        name=name,
        username=user.get("username"),
        is_bot=bool(user.get("is_bot")),
        extra=extra,
    )


def _chat_party(chat: dict[str, Any]) -> Party:
    full_name = " ".join(p for p in (chat.get("first_name"), chat.get("last_name")) if p)
    name = chat.get("title") or full_name or None
    return Party(
        external_id=str(chat["id"]),
        name=name,
        username=chat.get("username"),
        extra={"chat_type": chat.get("type")},
    )


# -- edits, deletions, reactions, callbacks -----------------------------------------------------------------


def _edit(msg: dict[str, Any]) -> Edit:
    thread = thread_key(msg["chat"]["id"], msg.get("business_connection_id"))
    target = f"{thread}:{msg['message_id']}"
    edit_date = msg.get("edit_date", msg["date"])
    return Edit(
        key=f"edit:{target}:{edit_date}",
        timestamp=ts_seconds(edit_date),
        raw=msg,
        target_external_id=target,
        thread_id=thread,
        sender=_sender(msg),
        new_text=msg.get("text", msg.get("caption")),
    )


def _deletions(payload: dict[str, Any], update_id: int) -> Iterator[Event]:
    thread = thread_key(payload["chat"]["id"], payload["business_connection_id"])
    now = _now()  # BusinessMessagesDeleted carries no date
    for index, message_id in enumerate(payload["message_ids"]):
        if isinstance(message_id, int) and not isinstance(message_id, bool):
            target = f"{thread}:{message_id}"
            yield Deletion(
                key=f"delete:{target}",
                timestamp=now,
                raw=payload,
                target_external_id=target,
                thread_id=thread,
            )
        else:
            reason = f"deleted_business_messages: message id {message_id!r} is not an integer"
            yield _failure(f"update:{update_id}:deleted:{index}", payload, reason)


def _reaction(payload: dict[str, Any]) -> Reaction:
    """The user's reaction after the change: the first newly added one, else what remains; None = removed."""
    thread = str(payload["chat"]["id"])
    target = f"{thread}:{payload['message_id']}"
    actor = _user_party(payload["user"]) if payload.get("user") else _chat_party(payload["actor_chat"])
    new = [_reaction_label(r) for r in payload.get("new_reaction") or []]
    old = {_reaction_label(r) for r in payload.get("old_reaction") or []}
    added = [label for label in new if label not in old]
    emoji = (added or new or [None])[0]
    return Reaction(
        key=f"reaction:{target}:{actor.external_id}:{payload['date']}",
        timestamp=ts_seconds(payload["date"]),
        raw=payload,
        target_external_id=target,
        thread_id=thread,
        sender=actor,
        emoji=emoji,
    )


def _reaction_label(reaction: dict[str, Any]) -> str:
    if reaction["type"] == "emoji":
        return reaction["emoji"]
    if reaction["type"] == "custom_emoji":
        return f"custom_emoji:{reaction['custom_emoji_id']}"
    return str(reaction["type"])  # "paid"


def _callback(query: dict[str, Any]) -> Message:
    """An inline-keyboard button press: the button's text (found in the message's keyboard) is the text."""
    query_id = query["id"]
    sender = _user_party(query["from"])
    data = query.get("data")
    interactive: dict[str, Any] = {"id": query_id, "data": data, "chat_instance": query.get("chat_instance")}
    msg = query.get("message")
    reply_to = group = title = None
    if msg:  # may be an InaccessibleMessage (date 0): chat and message_id are still there
        chat = msg["chat"]
        thread = thread_key(chat["id"], msg.get("business_connection_id"))
        reply_to = f"{thread}:{msg['message_id']}"
        title = _button_title(msg, data)
        if chat.get("type") in ("group", "supergroup"):
            group = {
                "id": str(chat["id"]),
                "title": chat.get("title"),
                "topic_id": None,
                "participant": sender.external_id,
            }
    else:  # a button on an inline-mode message: no chat, answer the user privately
        thread = sender.external_id
        interactive["inline_message_id"] = query.get("inline_message_id")
    if title is not None:
        interactive["title"] = title
    if query.get("game_short_name"):
        interactive["game_short_name"] = query["game_short_name"]
    return Message(
        key=f"cb:{query_id}",
        timestamp=_now(),
        raw=query,
        external_id=f"cb:{query_id}",
        thread_id=thread,
        sender=sender,
        message_type=MessageType.callback,
        text=title,
        sent_by=SentBy.bot if sender.is_bot else SentBy.customer,
        reply_to=reply_to,
        interactive=interactive,
        group=group,
    )


def _button_title(msg: dict[str, Any], data: str | None) -> str | None:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return next(
        (b.get("text") for row in rows for b in row if data is not None and b.get("callback_data") == data),
        None,
    )


# -- helpers ------------------------------------------------------------------------------------------------


def _failure(key: str, payload: Any, reason: str) -> ParseFailure:
    raw = payload if isinstance(payload, dict) else {"value": payload}
    return ParseFailure(key=key, timestamp=_date(raw), raw=raw, reason=reason)


def _date(payload: dict[str, Any]) -> datetime:
    try:
        return ts_seconds(payload["date"])
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return _now()


def _now() -> datetime:
    return datetime.now(UTC)
