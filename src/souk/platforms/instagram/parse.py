"""Instagram messaging webhooks (``object: instagram``).

The shared ``messaging[]`` parser, plus comments on the account's media (``changes[]`` with
``field: comments``), kept as messages attributed to the commented post. Instagram sends no edit or deletion of
a comment, and ``mentions`` (the account @mentioned in someone's comment or caption) are ignored: they carry only
ids and no author Souk could answer (docs/decisions/0029).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from souk.platforms.base import Attribution, Event, Ignored, Message, MessageSource, MessageType, Party
from souk.platforms.meta.messaging import ChangeParser, default_change_parser, parse_messaging_body, raw_key

OBJECT = "instagram"
_COMMENT_FIELDS = frozenset({"comments", "live_comments"})
MENTION_REASON = "mentions carry only a media and comment id, no author to answer"


def parse_body(body: bytes, *, our_app_id: str | None = None) -> list[Event]:
    """Every event of one delivery; ``our_app_id`` marks echoes of sends made through that app as Souk's."""
    return parse_messaging_body(
        body, object_type=OBJECT, change_parser=_change_parser(our_app_id), our_app_id=our_app_id
    )


def _change_parser(our_app_id: str | None) -> ChangeParser:
    fallback = default_change_parser(our_app_id)

    def parse(change: Mapping[str, Any], entry_id: str | None, when: datetime) -> list[Event]:
        if change.get("field") in _COMMENT_FIELDS:
            return [_comment(change, entry_id, when)]
        if change.get("field") == "mentions":
            return [
                Ignored(key=raw_key("change:mentions", change), timestamp=when, raw=dict(change), reason=MENTION_REASON)
            ]
        return fallback(change, entry_id, when)

    return parse


def _comment(change: Mapping[str, Any], entry_id: str | None, when: datetime) -> Event:
    """A comment on one of the account's posts or reels: a lead's first words, attributed to that post.

    The account's own comments (replies under a post) come back too; they belong to no conversation, so they are
    ignored: a private reply to a commenter is a message and arrives as such.
    """
    value = change["value"]
    comment_id = str(value["id"])
    author_id = str(value["from"]["id"])
    media = value.get("media") or {}
    if author_id == entry_id:
        return Ignored(
            key=f"comment:{comment_id}", timestamp=when, raw=dict(change), reason="the account's own comment"
        )
    metadata = {"field": change.get("field"), "media_product_type": media.get("media_product_type")}
    if value.get("parent_id"):
        metadata["parent_id"] = str(value["parent_id"])
    return Message(
        key=f"comment:{comment_id}",
        timestamp=when,
        raw=dict(change),
        external_id=comment_id,
        thread_id=author_id,
        sender=Party(external_id=author_id, username=value["from"].get("username")),
        message_type=MessageType.text,
        text=value.get("text"),
        attribution=Attribution(
            source=MessageSource.post_comment,
            comment_id=comment_id,
            post_id=str(media["id"]) if media.get("id") else None,
            raw=dict(value),
        ),
        metadata=metadata,
    )
