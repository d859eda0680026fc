"""The Conversations API (Messenger and Instagram message history), read with cursor paging.

* ``GET /{page-id}/conversations?platform=messenger|instagram&fields=participants,updated_time`` lists the
  conversations of a Page (or of the Instagram professional account linked to it; with Instagram Login the node is
  ``me`` on graph.instagram.com), most recently updated first. Time-based paging is not available on this edge:
  ``paging.cursors.after`` is passed back as ``after`` and ``paging.next`` is absent on the last page.
* ``GET /{conversation-id}/messages?fields=id,created_time,from,to,message,attachments`` lists a conversation's
  messages, newest first, with the same cursors (the edge form of ``?fields=messages{…}``).

A Graph message's ``id`` is the ``mid`` webhooks carry, so the canonical :class:`~souk.platforms.base.Message`
built here has the same external id as the one the live webhook gives: stored once, whichever comes first.
Instagram only lets the 20 most recent messages of a conversation be read in detail; older ones are reported as
deleted (an error object) and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from souk.platforms.base import Media, Message, MessageType, Party, SentBy
from souk.platforms.meta.graph import GraphAPI

CONVERSATION_FIELDS = "participants,updated_time"
MESSAGE_FIELDS = "id,created_time,from,to,message,attachments"


@dataclass
class GraphPage:
    items: list[dict[str, Any]]
    after: str | None  # None: this was the last page


def _page(body: Mapping[str, Any]) -> GraphPage:
    items = [item for item in body.get("data") or [] if isinstance(item, dict)]
    paging = body.get("paging") or {}
    after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
    return GraphPage(items, str(after) if after else None)


async def list_conversations(
    graph: GraphAPI, node: str, platform: str, *, limit: int = 100, after: str | None = None
) -> GraphPage:
    params: dict[str, Any] = {"platform": platform, "fields": CONVERSATION_FIELDS, "limit": limit}
    if after:
        params["after"] = after
    return _page(await graph.get(f"{node}/conversations", params=params))


async def list_messages(graph: GraphAPI, conversation_id: str, *, limit: int, after: str | None = None) -> GraphPage:
    params: dict[str, Any] = {"fields": MESSAGE_FIELDS, "limit": limit}
    if after:
        params["after"] = after
    return _page(await graph.get(f"{conversation_id}/messages", params=params))


def graph_time(value: Any) -> datetime:
    """Graph's ``created_time``/``updated_time``: ISO 8601 with a ``+0000`` offset (or, rarely, unix seconds)."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def customer_of(conversation: Mapping[str, Any], business_ids: Iterable[str]) -> str | None:
    """The participant who is not the business (PSID / IGSID), as webhooks name the thread."""
    ours = set(business_ids)
    for person in (conversation.get("participants") or {}).get("data") or []:
        pid = str(person.get("id") or "")
        if pid and pid not in ours:
            return pid
    return None


def _party(data: Mapping[str, Any]) -> Party:
    return Party(external_id=str(data["id"]), name=data.get("name"), username=data.get("username"))


def _media(attachment: Mapping[str, Any]) -> tuple[Media, MessageType]:
    mime = attachment.get("mime_type") or None
    common = {
        "platform_media_id": str(attachment["id"]) if attachment.get("id") else None,
        "mime": mime,
        "size": attachment.get("size"),
        "filename": attachment.get("name"),
    }
    if attachment.get("image_data"):
        image = attachment["image_data"]
        sticker = bool(image.get("render_as_sticker"))
        kind = "sticker" if sticker else "image"
        return Media(kind=kind, url=image.get("url"), **common), MessageType(kind)
    if attachment.get("video_data"):
        return Media(kind="video", url=attachment["video_data"].get("url"), **common), MessageType.video
    if mime and mime.startswith("audio/"):
        return Media(kind="audio", url=attachment.get("file_url"), **common), MessageType.audio
    return Media(kind="document", url=attachment.get("file_url"), **common), MessageType.document


def parse_graph_message(item: Mapping[str, Any], *, business_ids: Iterable[str], thread_id: str | None) -> Message:
    """One Conversations API message as the canonical Message the webhook would have given.

    Sent by the business (``from`` is the Page or the Instagram account): outbound, like an echo, written in
    Meta's own inbox or another app as far as history can tell (an echo of one of our sends is already stored under
    the same id). ``thread_id`` is the conversation's customer; without it, the other side of the message.
    """
    ours = set(business_ids)
    sender = _party(item["from"])
    recipients = [r for r in (item.get("to") or {}).get("data") or [] if isinstance(r, dict) and r.get("id")]
    outbound = sender.external_id in ours
    recipient_id = str(recipients[0]["id"]) if recipients else None
    thread = thread_id or (recipient_id if outbound else sender.external_id)
    if not thread:
        raise ValueError("message has no customer id")
    media: list[Media] = []
    message_type: MessageType | None = None
    for attachment in (item.get("attachments") or {}).get("data") or []:
        one, kind = _media(attachment)
        media.append(one)
        message_type = message_type or kind
    text = item.get("message") or None
    if message_type is None:
        message_type = MessageType.text if text else MessageType.unsupported
    mid = str(item["id"])
    message = Message(
        key=mid,
        timestamp=graph_time(item["created_time"]),
        raw=dict(item),
        external_id=mid,
        thread_id=thread,
        sender=sender,
        message_type=message_type,
        text=text,
        recipient_id=recipient_id,
        media=media,
    )
    if outbound:
        message.direction = "outbound"
        message.sent_by = SentBy.native_app
    return message
