"""The Messenger Platform Send API, shared by Messenger and Instagram (protocols.md §4.5, §5.3).

Both answer ``{"recipient_id", "message_id"}``; the ``message_id`` is the ``mid`` the echo of the send will
carry, and ``message.metadata`` (our ``marker``) comes back in that echo too: a send is matched to its echo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from souk.platforms.meta.graph import GraphAPI
from souk.platforms.plugin import PlatformError, SendResult, VendorClient

_ATTACHMENT_TYPES = {"image": "image", "video": "video", "audio": "audio", "file": "file", "document": "file"}


class SendAPIClient(VendorClient):
    """A Page (or Instagram account) talking to people through ``POST /{sender}/messages``."""

    #: content types this platform accepts besides text and attachments
    extra_content: ClassVar[frozenset[str]] = frozenset()

    @property
    def graph(self) -> GraphAPI:
        return GraphAPI(
            self.http,
            token=self.secrets.get("pageAccessToken"),
            token_key="pageAccessToken",
            base_url=self.config.get("graphBaseURL"),
            version=self.config.get("apiVersion"),
        )

    @property
    def history_node(self) -> str:
        """The node whose ``conversations`` edge lists this channel's threads (Conversations API)."""
        raise NotImplementedError

    @property
    def business_ids(self) -> frozenset[str]:
        """The ids the business side appears under in the Conversations API's ``from`` and ``participants``."""
        raise NotImplementedError

    @property
    def sender_path(self) -> str:
        """The ``{id}/messages`` node the Send API is called on."""
        raise NotImplementedError

    async def send_message(self, channel_id: str, recipient: str, content: dict[str, Any]) -> SendResult:
        """Send ``content`` to a PSID/IGSID; returns the ``mid``.

        Replies inside the 24 h window are ``RESPONSE``; ``tag`` (e.g. ``HUMAN_AGENT``) sends a
        ``MESSAGE_TAG`` message outside it.
        """
        kind = content.get("type", "text")
        if kind == "reaction" and "reaction" in self.extra_content:
            return await self._post(
                {
                    "recipient": {"id": recipient},
                    "sender_action": "react",
                    "payload": {
                        "message_id": content["message_id"],
                        "reaction": content.get("reaction") or "love",
                    },
                }
            )
        try:
            message = self.build_message(content)
        except KeyError as exc:
            raise PlatformError(f"content of type {kind!r} needs {exc}", code="invalid_content") from exc
        if content.get("marker"):
            message["metadata"] = str(content["marker"])
        # "comment:<id>": a private reply to a comment under a post (one per comment, within 7 days)
        to = {"comment_id": recipient[len("comment:") :]} if recipient.startswith("comment:") else {"id": recipient}
        body: dict[str, Any] = {"recipient": to, "message": message}
        if content.get("tag"):
            body.update(messaging_type="MESSAGE_TAG", tag=content["tag"])
        else:
            body["messaging_type"] = content.get("messaging_type") or "RESPONSE"
        return await self._post(body)

    async def send_typing(self, recipient: str, *, message_id: str | None = None) -> bool:
        await self.sender_action(recipient, "typing_on")
        return True

    async def sender_action(self, recipient: str, action: str) -> None:
        """``typing_on``, ``typing_off`` or ``mark_seen`` for a person."""
        await self.graph.post(
            f"{self.sender_path}/messages", json={"recipient": {"id": recipient}, "sender_action": action}
        )

    async def upload_attachment(self, data: bytes, filename: str, mime: str, kind: str) -> str:
        """Upload a file with the Attachment Upload API (``/{page}/message_attachments``); returns its
        ``attachment_id``, which a send (and a retried send) then names instead of uploading again."""
        attachment = {"type": _ATTACHMENT_TYPES.get(kind, "file"), "payload": {"is_reusable": True}}
        answer = await self.graph.post(
            f"{self.sender_path}/message_attachments",
            data={"message": orjson.dumps({"attachment": attachment}).decode()},
            files={"filedata": (filename, data, mime)},
        )
        if not answer.get("attachment_id"):
            raise PlatformError("the attachment upload answered no attachment_id", retryable=True)
        return str(answer["attachment_id"])

    def build_message(self, content: Mapping[str, Any]) -> dict[str, Any]:
        """The Send API ``message`` for Souk's content vocabulary.

        ``text`` {text}; ``image|video|audio|file|document`` {url | attachment_id}; ``quick_replies`` {text,
        options: [{title, payload}]}; ``buttons`` {text, buttons: [{id, title} | {url, title}] ≤ 3};
        ``template`` {payload} (a ready-made template payload).
        """
        kind = content.get("type", "text")
        if kind == "text":
            return {"text": content["text"]}
        if kind in _ATTACHMENT_TYPES:
            payload = (
                {"attachment_id": content["attachment_id"]}
                if content.get("attachment_id")
                else {"url": content["url"], "is_reusable": True}
            )
            return {"attachment": {"type": _ATTACHMENT_TYPES[kind], "payload": payload}}
        if kind == "quick_replies":
            options = [
                {"content_type": "text", "title": o["title"], "payload": str(o.get("payload") or o["title"])}
                for o in content["options"]
            ]
            return {"text": content["text"], "quick_replies": options}
        if kind == "buttons":
            buttons = [
                {"type": "web_url", "url": b["url"], "title": b["title"]}
                if b.get("url")
                else {"type": "postback", "title": b["title"], "payload": str(b["id"])}
                for b in content["buttons"]
            ]
            return {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "button", "text": content["text"], "buttons": buttons},
                }
            }
        if kind == "template":
            return {"attachment": {"type": "template", "payload": dict(content["payload"])}}
        raise PlatformError(f"{self.vendor_type} cannot send content of type {kind!r}", code="unsupported_content")

    async def _post(self, body: dict[str, Any]) -> SendResult:
        answer = await self.graph.post(f"{self.sender_path}/messages", json=body)
        return SendResult(external_id=answer.get("message_id"), raw=answer)
