"""Messenger webhooks (``object: page``).

The shared ``messaging[]`` parser, plus ``changes[]`` of the Page: a new comment on one of its posts (``field:
feed``, ``item: comment``, ``verb: add``) is kept as a message attributed to that post, like Instagram comments;
its later ``edited`` and ``remove`` become an edit and a deletion of that message (docs/decisions/0029). Every
other feed change is ignored with its item and verb, and other fields (the App Dashboard's test payloads, page
management) go to the shared change handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from souk.platforms.base import (
    Attribution,
    Deletion,
    Edit,
    Event,
    Ignored,
    Message,
    MessageSource,
    MessageType,
    Party,
)
from souk.platforms.meta.messaging import (
    ChangeParser,
    default_change_parser,
    meta_time,
    parse_messaging_body,
    raw_key,
)

OBJECT = "page"

#: what happens to a stored comment: its author edited it (``edited`` carries the new ``message``) or it was
#: deleted (``remove``). ``hide``/``unhide`` (the Page hid it from the public; its author still sees it) stay
#: ignored: the comment, and the lead, are still there (docs/decisions/0029).
_COMMENT_CHANGES = frozenset({"edited", "remove"})


def parse_body(body: bytes, *, our_app_id: str | None = None) -> list[Event]:
    """Every event of one delivery; ``our_app_id`` marks echoes of sends made through that app as Souk's."""
    return parse_messaging_body(
        body, object_type=OBJECT, change_parser=_change_parser(our_app_id), our_app_id=our_app_id
    )


def _change_parser(our_app_id: str | None) -> ChangeParser:
    fallback = default_change_parser(our_app_id)

    def parse(change: Mapping[str, Any], entry_id: str | None, when: datetime) -> list[Event]:
        value = change.get("value")
        if change.get("field") != "feed" or not isinstance(value, dict):
            return fallback(change, entry_id, when)
        item, verb = value.get("item"), value.get("verb")
        if item == "comment" and verb == "add":
            return [_comment(change, value, entry_id, when)]
        if item == "comment" and verb in _COMMENT_CHANGES:
            return [_comment_change(change, value, entry_id, when)]
        return [
            Ignored(
                key=raw_key("change:feed", change),
                timestamp=when,
                raw=dict(change),
                reason=f"feed {item} {verb} is not a conversation event",
            )
        ]

    return parse


def _comment(change: Mapping[str, Any], value: Mapping[str, Any], entry_id: str | None, when: datetime) -> Event:
    """A new comment under one of the Page's posts: often a lead's first words (a price asked under a product
    post), so it opens a conversation with the commenter, attributed to that post.

    The Page's own comments (its replies under a post) belong to no conversation and are ignored, as Instagram's
    are: a private reply to a commenter is a Messenger message and arrives as its echo. Edits and removals of
    comments are :func:`_comment_change`.
    """
    comment_id = str(value["comment_id"])
    author = value["from"]
    author_id = str(author["id"])
    if author_id == entry_id:
        return Ignored(key=f"comment:{comment_id}", timestamp=when, raw=dict(change), reason="the Page's own comment")
    post_id = str(value["post_id"]) if value.get("post_id") else None
    metadata: dict[str, Any] = {"field": "feed"}
    parent_id = str(value["parent_id"]) if value.get("parent_id") else None
    if parent_id and parent_id != post_id:  # a top-level comment's parent is the post itself
        metadata["parent_id"] = parent_id
    return Message(
        key=f"comment:{comment_id}",
        timestamp=meta_time(value["created_time"]) if value.get("created_time") else when,
        raw=dict(change),
        external_id=comment_id,
        thread_id=author_id,
        sender=Party(external_id=author_id, name=author.get("name")),
        message_type=MessageType.text,
        text=value.get("message"),
        attribution=Attribution(
            source=MessageSource.post_comment, comment_id=comment_id, post_id=post_id, raw=dict(value)
        ),
        metadata=metadata,
    )


def _comment_change(change: Mapping[str, Any], value: Mapping[str, Any], entry_id: str | None, when: datetime) -> Event:
    """An edit or removal of a comment: the same :class:`Edit` / :class:`Deletion` other platforms' edited and
    deleted messages are, aimed at the comment's message (its ``external_id`` is the comment id), so it takes
    the same path: applied with an edit history and a ``message.updated``, or parked until the comment lands.

    The Page's own comments were never stored, so their edits and removals are ignored like the comments.
    The time is the notification's: ``created_time`` may be the comment's own.
    """
    comment_id = str(value["comment_id"])
    author = value.get("from") or {}
    author_id = str(author["id"]) if author.get("id") else ""
    if author_id and author_id == entry_id:
        return Ignored(
            key=raw_key(f"comment-{value['verb']}:{comment_id}", change),
            timestamp=when,
            raw=dict(change),
            reason="the Page's own comment",
        )
    sender = Party(external_id=author_id, name=author.get("name")) if author_id else None
    if value["verb"] == "remove":
        return Deletion(
            key=f"comment-remove:{comment_id}",
            timestamp=when,
            raw=dict(change),
            target_external_id=comment_id,
            thread_id=author_id,
            sender=sender,
        )
    if sender is None:
        raise ValueError("comment edit has no from.id")
    return Edit(
        key=raw_key(f"comment-edit:{comment_id}", value.get("message")),
        timestamp=when,
        raw=dict(change),
        target_external_id=comment_id,
        thread_id=author_id,
        sender=sender,
        new_text=value.get("message"),
    )
