"""A fake Meta Graph API serving the three Meta platforms: WhatsApp Cloud API, Messenger and Instagram.

It knows a set of WhatsApp phone numbers, Facebook Pages and Instagram accounts, each with the access token
that may act for it, and answers like the Graph API does:

* ``GET /{v}/{phone-number-id}`` (phone number lookup), ``POST /{v}/{phone-number-id}/messages`` (Cloud API
  sends and mark-as-read), ``POST /{v}/{phone-number-id}/media`` (multipart upload), ``GET /{v}/{media-id}``
  (media URL) and the download of that URL (``/whatsapp_business/attachments/?mid=…``);
* ``GET /{v}/{page-id}`` and ``/{v}/me`` (page lookup), ``POST /{v}/{page-id}/messages`` and
  ``/{v}/me/messages`` (Send API: messages and sender actions), ``POST /{v}/{page-id}/message_attachments``
  (Attachment Upload API: multipart ``message`` + ``filedata``, answers ``attachment_id``);
* ``GET /{v}/{ig-id}`` (Instagram account lookup) and ``POST /{v}/{ig-id}/messages`` (Instagram Login sends);
* the Conversations API: ``GET /{v}/{page-id}/conversations?platform=messenger|instagram`` (``me`` too) and
  ``GET /{v}/{conversation-id}/messages``, both with ``fields``, ``limit`` and cursor paging (``after``;
  ``paging.cursors`` and ``paging.next``, absent on the last page), conversations by update time and messages
  newest first, as Graph answers. :meth:`FakeGraphServer.add_conversation` fills them.

Tokens come as ``Authorization: Bearer`` or ``?access_token=``. A wrong token is a 401 with Graph error 190,
an unknown node a 400 with code 100 / subcode 33, a malformed send a 400 with code 100, all in Graph's error
object. Sends get generated ids (``wamid.…``, ``m_…``, ``aWdf…``) and are kept in
:attr:`FakeGraphServer.sent`. :meth:`FakeGraphServer.fail_next` queues any Graph error (rate limits,
outside-window, ...)::

    with FakeGraphServer() as graph:
        config = {"phoneNumberID": graph.PHONE_NUMBER_ID, "graphBaseURL": graph.url}
        secrets = {"accessToken": graph.TOKEN}
        path = f"/v21.0/{graph.PHONE_NUMBER_ID}/messages"
        graph.fail_next("POST", path, code=130429, message="Rate limit hit")
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json as jsonlib
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.servers import FakePlatformServer

_NODE = re.compile(r"/(v\d+(?:\.\d+)?)/([^/]+)(?:/([^/]+))?/?")
_DOWNLOAD_PATH = "/whatsapp_business/attachments/"
_CDN_PATH = "/cdn/"  # Messenger and Instagram attachment URLs: signed CDN links fetched without a token
_TEXT_LIMIT = 2000  # Send API text limit; WhatsApp allows 4096
_WHATSAPP_TEXT_LIMIT = 4096


@dataclass
class SentMessage:
    """One accepted send: the node it was posted to, its recipient, the request body and the id returned."""

    node: str
    recipient: str
    body: dict[str, Any]
    message_id: str | None
    platform: str  # "whatsapp" | "messenger"


@dataclass
class StoredMedia:
    id: str
    data: bytes
    mime: str
    owner: str  # the phone number id it belongs to
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = base64.b64encode(hashlib.sha256(self.data).digest()).decode()


@dataclass
class FakeConversation:
    """A Messenger or Instagram conversation between a customer and a Page (or its Instagram account).

    ``messages`` are oldest first, in the Conversations API's shape (``id``, ``created_time``, ``from``, ``to``,
    ``message``); the API serves them newest first.
    """

    id: str
    node: str  # the Page whose conversations edge lists it
    platform: str  # messenger | instagram
    customer: dict[str, Any]
    business: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def customer_id(self) -> str:
        return str(self.customer["id"])

    @property
    def updated_time(self) -> str:
        return self.messages[-1]["created_time"] if self.messages else _graph_time(0)


def _graph_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{index}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(raw.removeprefix("offset:"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphFailure(400, 100, "(#100) Invalid cursor: after") from exc


class GraphFailure(Exception):
    """Raised inside the handler to answer with a Graph error object."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        error_type: str = "OAuthException",
        subcode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.response = JSONResponse(
            FakeGraphServer.error_body(code, message, error_type=error_type, subcode=subcode),
            status_code=status,
        )


class FakeGraphServer(FakePlatformServer):
    """A Graph API with one WhatsApp number, one Page and one Instagram account registered by default."""

    TOKEN = "EAAG-fake-graph-token"
    PHONE_NUMBER_ID = "1122334455667"
    DISPLAY_PHONE_NUMBER = "+1 555-010-0199"
    VERIFIED_NAME = "Souk Test Shop"
    PAGE_ID = "104000000000001"
    PAGE_NAME = "Souk Test Page"
    IG_ID = "17841400000000001"
    IG_USERNAME = "souk.test.shop"

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.phone_numbers: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.instagram_accounts: dict[str, dict[str, Any]] = {}
        self.media: dict[str, StoredMedia] = {}
        self.cdn_files: dict[str, tuple[str, bytes]] = {}  # name -> (mime, content)
        self._tokens: dict[str, str] = {}  # node id -> token allowed to act for it
        self._sent: list[SentMessage] = []
        self.conversations: dict[str, FakeConversation] = {}
        #: seconds each Conversations API message page takes (Graph allows 2 calls/s): makes an import observable
        self.history_latency = 0.0
        self.add_phone_number(self.PHONE_NUMBER_ID, self.DISPLAY_PHONE_NUMBER, self.VERIFIED_NAME, token=token)
        self.add_page(self.PAGE_ID, self.PAGE_NAME, token=token)
        self.add_instagram_account(self.IG_ID, self.IG_USERNAME, name=self.PAGE_NAME, token=token)

    # -- set-up

    def add_phone_number(
        self, phone_number_id: str, display_phone_number: str, verified_name: str, *, token: str
    ) -> None:
        with self._lock:
            self.phone_numbers[phone_number_id] = {
                "verified_name": verified_name,
                "code_verification_status": "VERIFIED",
                "display_phone_number": display_phone_number,
                "quality_rating": "GREEN",
                "platform_type": "CLOUD_API",
                "throughput": {"level": "STANDARD"},
                "id": phone_number_id,
            }
            self._tokens[phone_number_id] = token

    def add_page(self, page_id: str, name: str, *, token: str) -> None:
        with self._lock:
            self.pages[page_id] = {
                "id": page_id,
                "name": name,
                "username": name.lower().replace(" ", ""),
                "link": f"https://www.facebook.com/{page_id}",
            }
            self._tokens[page_id] = token

    def add_instagram_account(self, ig_id: str, username: str, *, name: str | None = None, token: str) -> None:
        with self._lock:
            self.instagram_accounts[ig_id] = {"id": ig_id, "username": username, "name": name or username}
            self._tokens[ig_id] = token

    def add_conversation(
        self,
        messages: int,
        *,
        platform: str = "messenger",
        customer_id: str | None = None,
        node: str = PAGE_ID,
        start_ts: float = 1_700_000_000,
        business_every: int = 0,
        step: float = 60,
    ) -> FakeConversation:
        """A conversation with ``messages`` text messages ``step`` seconds apart from ``start_ts``; every
        ``business_every``-th (when > 0) is written by the business side."""
        instagram = platform == "instagram"
        customer_id = customer_id or str(10**15 + secrets.randbelow(10**15))
        if instagram:
            account = self.IG_ID if node == self.PAGE_ID else node
            customer = {"username": f"shopper_{customer_id[-4:]}", "id": customer_id}
            business = {"username": self.instagram_accounts.get(account, {}).get("username", ""), "id": account}
        else:
            customer = {
                "name": f"Shopper {customer_id[-4:]}",
                "email": f"{customer_id}@facebook.com",
                "id": customer_id,
            }
            business = {"name": self.pages.get(node, {}).get("name", ""), "email": f"{node}@facebook.com", "id": node}
        prefix = "aWdfZAG1" if instagram else "m_"
        conversation = FakeConversation(
            id=("aWdfZAG1_" if instagram else "t_") + secrets.token_hex(8),
            node=node,
            platform=platform,
            customer=customer,
            business=business,
        )
        for i in range(messages):
            ours = business_every > 0 and (i + 1) % business_every == 0
            sender, recipient = (business, customer) if ours else (customer, business)
            conversation.messages.append(
                {
                    "id": prefix + secrets.token_urlsafe(24),
                    "created_time": _graph_time(start_ts + i * step),
                    "from": dict(sender),
                    "to": {"data": [dict(recipient)]},
                    "message": f"message {i + 1} in {conversation.id}",
                }
            )
        with self._lock:
            self.conversations[conversation.id] = conversation
            self._tokens[conversation.id] = self._tokens[node]
        return conversation

    def add_media(self, data: bytes, mime: str, owner: str = PHONE_NUMBER_ID) -> str:
        """Store a file as if a customer had sent it; returns its media id (for ``GET /{media-id}``)."""
        media = StoredMedia(id=str(secrets.randbelow(10**15) + 10**15), data=data, mime=mime, owner=owner)
        with self._lock:
            self.media[media.id] = media
        return media.id

    def add_cdn_file(self, data: bytes, mime: str, name: str | None = None) -> str:
        """Serve a file as a Messenger/Instagram attachment ``payload.url`` (no token needed); returns the URL."""
        name = name or secrets.token_hex(8)
        with self._lock:
            self.cdn_files[name] = (mime, data)
        return f"{self.url}{_CDN_PATH}{name}?oh=fake&oe=65F0A1B2"

    @staticmethod
    def error_body(
        code: int,
        message: str,
        *,
        error_type: str = "OAuthException",
        subcode: int | None = None,
        details: str | None = None,
    ) -> dict[str, Any]:
        """A Graph API error object as Meta sends it."""
        error: dict[str, Any] = {
            "message": message,
            "type": error_type,
            "code": code,
            "fbtrace_id": "A" + secrets.token_urlsafe(15),
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        if details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return {"error": error}

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        code: int,
        message: str,
        status: int = 400,
        error_type: str = "OAuthException",
        subcode: int | None = None,
        details: str | None = None,
        retry_after: float | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` calls to ``method path`` with a Graph error (e.g. 130429 rate limit)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        body = self.error_body(code, message, error_type=error_type, subcode=subcode, details=details)
        self.respond(method, path, status, json=body, headers=headers, times=times)

    def clear(self) -> None:
        """Forget recorded requests, queued responses, sent messages, uploaded media and CDN files (accounts stay)."""
        super().clear()
        with self._lock:
            self._sent.clear()
            self.conversations.clear()
            self.media.clear()
            self.cdn_files.clear()

    # -- what tests read

    @property
    def sent(self) -> list[SentMessage]:
        with self._lock:
            return list(self._sent)

    def sent_to(self, recipient: str) -> list[SentMessage]:
        return [s for s in self.sent if s.recipient == recipient]

    # -- the API

    async def handle(self, request: Request) -> Response:
        try:
            if request.url.path == _DOWNLOAD_PATH:
                return self._download(request)
            if request.url.path.startswith(_CDN_PATH):
                mime, data = self.cdn_files.get(request.url.path.removeprefix(_CDN_PATH), (None, None))
                return Response(data, media_type=mime) if data is not None else Response(status_code=404)
            match = _NODE.fullmatch(request.url.path)
            if not match:
                raise GraphFailure(400, 2500, "Unknown path components: " + request.url.path)
            _, node, edge = match.groups()
            token = self._token(request)
            node = self._resolve(node, token)
            if node in self.media and edge is None and request.method == "GET":
                return self._media_info(request, self.media[node], token)
            self._authorize(node, token)
            return await self._route(request, node, edge)
        except GraphFailure as failure:
            return failure.response

    async def _route(self, request: Request, node: str, edge: str | None) -> Response:
        method = request.method
        if edge is None and method == "GET":
            return self._lookup(request, node)
        if edge == "conversations" and method == "GET" and node in self.pages:
            return self._list_conversations(request, node)
        if edge == "messages" and method == "GET" and node in self.conversations:
            await asyncio.sleep(self.history_latency)
            return self._list_messages(request, self.conversations[node])
        if edge == "messages" and method == "POST":
            body = await _json(request)
            if node in self.phone_numbers:
                return self._whatsapp_send(node, body)
            return self._send_api(node, body)
        if edge == "media" and method == "POST" and node in self.phone_numbers:
            return await self._upload(request, node)
        if edge == "message_attachments" and method == "POST" and node in self.pages:
            return await self._attachment_upload(request, node)
        raise GraphFailure(
            400,
            100,
            f"Unsupported {method} request. Object with ID '{node}' does not support this operation",
            error_type="GraphMethodException",
            subcode=33,
        )

    def _lookup(self, request: Request, node: str) -> Response:
        record = self.phone_numbers.get(node) or self.pages.get(node) or self.instagram_accounts.get(node) or {}
        fields = request.query_params.get("fields")
        if fields:
            wanted = {f.strip() for f in fields.split(",")} | {"id"}
            record = {k: v for k, v in record.items() if k in wanted}
        return JSONResponse(record)

    def _list_conversations(self, request: Request, node: str) -> Response:
        platform = request.query_params.get("platform", "messenger")
        if platform not in ("messenger", "instagram"):
            raise GraphFailure(400, 100, "(#100) param platform must be one of {MESSENGER, INSTAGRAM}")
        with self._lock:
            found = [c for c in self.conversations.values() if c.node == node and c.platform == platform]
        found.sort(key=lambda c: c.updated_time, reverse=True)
        records = [
            {"id": c.id, "updated_time": c.updated_time, "participants": {"data": [c.customer, c.business]}}
            for c in found
        ]
        return self._paged(request, records)

    def _list_messages(self, request: Request, conversation: FakeConversation) -> Response:
        with self._lock:
            newest_first = [dict(m) for m in reversed(conversation.messages)]
        return self._paged(request, newest_first)

    def _paged(self, request: Request, records: list[dict[str, Any]]) -> Response:
        """One page of ``records`` with Graph's cursor paging and field selection (``id`` always)."""
        try:
            limit = max(1, min(int(request.query_params.get("limit", 25)), 100))
        except ValueError as exc:
            raise GraphFailure(400, 100, "(#100) param limit must be a number") from exc
        start = _offset(request.query_params.get("after"))
        chunk = records[start : start + limit]
        fields = request.query_params.get("fields")
        if fields:
            wanted = {f.strip() for f in fields.split(",")} | {"id"}
            chunk = [{k: v for k, v in record.items() if k in wanted} for record in chunk]
        body: dict[str, Any] = {"data": chunk}
        if chunk:
            body["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(chunk))}}
            if start + len(chunk) < len(records):
                query = {k: v for k, v in request.query_params.items() if k != "access_token"}
                query["after"] = _cursor(start + len(chunk))
                body["paging"]["next"] = f"{self.url}{request.url.path}?{urlencode(query)}"
        return JSONResponse(body)

    def _whatsapp_send(self, node: str, body: dict[str, Any]) -> Response:
        if body.get("messaging_product") != "whatsapp":
            raise GraphFailure(400, 100, "(#100) The parameter messaging_product is required.")
        if body.get("status") == "read":
            if not body.get("message_id"):
                raise GraphFailure(400, 100, "(#100) The parameter message_id is required.")
            return JSONResponse({"success": True})
        to, kind = body.get("to"), body.get("type", "text")
        if not to:
            raise GraphFailure(400, 100, "(#100) The parameter to is required.")
        if not isinstance(body.get(kind), dict):
            raise GraphFailure(400, 100, f"(#100) The parameter {kind} is required.")
        text = body[kind].get("body") if kind == "text" else None
        if kind == "text" and not text:
            raise GraphFailure(400, 100, "(#100) The parameter text['body'] is required.")
        if text and len(text) > _WHATSAPP_TEXT_LIMIT:
            raise GraphFailure(400, 100, "(#100) Param text['body'] must be at most 4096 characters long.")
        wamid = "wamid.HBgL" + base64.b64encode(secrets.token_bytes(27)).decode()
        self._record(SentMessage(node, str(to), body, wamid, "whatsapp"))
        answer: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": re.sub(r"\D", "", str(to))}],
            "messages": [{"id": wamid}],
        }
        if kind == "template":
            answer["messages"][0]["message_status"] = "accepted"
        return JSONResponse(answer)

    def _send_api(self, node: str, body: dict[str, Any]) -> Response:
        to = body.get("recipient") or {}
        # a private reply to a comment is recorded as sent to "comment:<id>"
        recipient = to.get("id") or (f"comment:{to['comment_id']}" if to.get("comment_id") else None)
        if not recipient:
            raise GraphFailure(400, 100, "(#100) The parameter recipient is required")
        if "sender_action" in body and "message" not in body:
            self._record(SentMessage(node, str(recipient), body, None, "messenger"))
            return JSONResponse({"recipient_id": recipient})
        message = body.get("message")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            raise GraphFailure(400, 100, "(#100) Must send either message or sender action")
        if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            raise GraphFailure(400, 100, "(#100) param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
        if len(message.get("text") or "") > _TEXT_LIMIT:
            raise GraphFailure(400, 100, "(#100) Length of param message[text] must be less than or equal to 2000")
        prefix = "aWdfZAG1" if node in self.instagram_accounts else "m_"
        mid = prefix + secrets.token_urlsafe(48)
        self._record(SentMessage(node, str(recipient), body, mid, "messenger"))
        return JSONResponse({"recipient_id": recipient, "message_id": mid})

    async def _upload(self, request: Request, node: str) -> Response:
        async with request.form() as form:  # closes the spooled upload files
            upload = form.get("file")
            if form.get("messaging_product") != "whatsapp" or upload is None or isinstance(upload, str):
                raise GraphFailure(400, 100, "(#100) The parameter messaging_product and file are required.")
            data = await upload.read()
            mime = str(form.get("type") or upload.content_type or "application/octet-stream")
        return JSONResponse({"id": self.add_media(data, mime, owner=node)})

    async def _attachment_upload(self, request: Request, node: str) -> Response:
        """Messenger's Attachment Upload API: ``message`` (JSON, a typed attachment) and the file as ``filedata``."""
        async with request.form() as form:
            upload = form.get("filedata")
            try:
                attachment = jsonlib.loads(str(form.get("message") or "null"))["attachment"]
                kind = attachment["type"]
            except (ValueError, TypeError, KeyError) as exc:
                raise GraphFailure(400, 100, "(#100) param message must be a JSON attachment") from exc
            if kind not in ("image", "video", "audio", "file") or upload is None or isinstance(upload, str):
                raise GraphFailure(400, 100, "(#100) Upload attachment failure: a typed attachment and filedata")
            data = await upload.read()
            mime = upload.content_type or "application/octet-stream"
        return JSONResponse({"attachment_id": self.add_media(data, mime, owner=node)})

    def _media_info(self, request: Request, media: StoredMedia, token: str | None) -> Response:
        self._authorize(media.owner, token)
        url = f"{self.url}{_DOWNLOAD_PATH}?mid={media.id}&ext=1&hash=fake"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": url,
                "mime_type": media.mime,
                "sha256": media.sha256,
                "file_size": len(media.data),
                "id": media.id,
            }
        )

    def _download(self, request: Request) -> Response:
        media = self.media.get(request.query_params.get("mid", ""))
        if media is None:
            return Response(status_code=404)
        if self._token(request) != self._tokens.get(media.owner):
            return Response(status_code=401)
        return Response(media.data, media_type=media.mime)

    # -- plumbing

    @staticmethod
    def _token(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return request.query_params.get("access_token")

    def _resolve(self, node: str, token: str | None) -> str:
        """``me`` is the Page (else the Instagram account) the token belongs to."""
        if node != "me":
            return node
        for candidates in (self.pages, self.instagram_accounts):
            for node_id in candidates:
                if token and self._tokens.get(node_id) == token:
                    return node_id
        raise GraphFailure(401, 190, "Invalid OAuth access token - Cannot parse access token")

    def _authorize(self, node: str, token: str | None) -> None:
        if not token:
            raise GraphFailure(
                400, 2500, "An active access token must be used to query information about the current user."
            )
        if node not in self._tokens:
            raise GraphFailure(
                400,
                100,
                f"Unsupported get request. Object with ID '{node}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation.",
                error_type="GraphMethodException",
                subcode=33,
            )
        if self._tokens[node] != token:
            raise GraphFailure(401, 190, "Invalid OAuth access token - Cannot parse access token")

    def _record(self, sent: SentMessage) -> None:
        with self._lock:
            self._sent.append(sent)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise GraphFailure(400, 100, "(#100) The request body must be JSON") from exc
    if not isinstance(body, dict):
        raise GraphFailure(400, 100, "(#100) The request body must be a JSON object")
    return body
