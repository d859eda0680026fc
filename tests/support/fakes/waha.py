"""A fake WAHA server (sessions, QR login, sending, chats and history) and a signed-webhook sender.

What it speaks follows the WAHA docs (docs/platforms/waha.md): NestJS-shaped errors
``{"statusCode", "message", "error"}``, ``X-Api-Key`` or basic auth (401 when wrong), sessions going
STOPPED → STARTING → SCAN_QR_CODE → WORKING (a test calls :meth:`FakeWAHA.mark_working` to "scan" the QR),
QR codes as real PNGs, send endpoints answering in the chosen engine's shape, and an in-memory message store
behind the chats API that a test fills with :meth:`FakeWAHA.add_chat`.

:func:`post_webhook` posts one event the way WAHA does (envelope, HMAC-SHA512 headers);
:meth:`FakeWAHA.emit` posts it to every webhook configured on a session, with that webhook's HMAC key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import segno
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.servers import FakePlatformServer

SendStyle = Literal["webjs", "webjs_string", "noweb", "empty"]
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def ulid() -> str:
    """A lower-case ULID (48-bit ms time + 80 random bits), as WAHA's ``evt_…`` ids use."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def short_message_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


def wamessage(
    chat_id: str,
    body: str | None = "hello",
    *,
    from_me: bool = False,
    me_id: str = "15550009999@c.us",
    participant: str | None = None,
    timestamp: int | None = None,
    source: str = "app",
    message_id: str | None = None,
    push_name: str | None = "Customer",
    **extra: Any,
) -> dict[str, Any]:
    """A ``WAMessage`` payload as WEBJS sends it (group ids carry the ``_participant`` suffix, waha #1464)."""
    short = message_id or short_message_id()
    wid = f"{'true' if from_me else 'false'}_{chat_id}_{short}"
    if chat_id.endswith("@g.us") and participant and not from_me:
        wid += f"_{participant}"
    message: dict[str, Any] = {
        "id": wid,
        "timestamp": timestamp if timestamp is not None else int(time.time()),
        "from": me_id if from_me else chat_id,
        "fromMe": from_me,
        "source": source,
        "to": chat_id if from_me else me_id,
        "participant": participant,
        "body": body,
        "hasMedia": False,
        "media": None,
        "ack": 1 if from_me else 0,
        "ackName": "SERVER" if from_me else "PENDING",
        "location": None,
        "vCards": [],
        "replyTo": None,
        "_data": {} if from_me else {"notifyName": push_name, "type": "chat"},
    }
    message.update(extra)
    return message


def _error(status: int, message: str | list[str]) -> JSONResponse:
    names = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 422: "Unprocessable Entity"}
    return JSONResponse({"statusCode": status, "message": message, "error": names.get(status, "Error")}, status)


@dataclass
class FakeSession:
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "STOPPED"
    statuses: list[dict[str, Any]] = field(default_factory=list)
    me: dict[str, Any] | None = None
    authenticated: bool = False
    qr_value: str = ""
    fails_on_start: bool = False  # a start ends FAILED (e.g. the engine cannot launch)

    def set_status(self, status: str) -> None:
        self.status = status
        self.statuses = [*self.statuses, {"status": status, "timestamp": int(time.time() * 1000)}][-3:]

    def start(self) -> None:
        """STARTING, then WORKING when already logged in, else SCAN_QR_CODE with a fresh QR."""
        self.set_status("STARTING")
        if self.fails_on_start:
            self.set_status("FAILED")
        elif self.authenticated:
            self.set_status("WORKING")
        else:
            self.qr_value = f"2@{secrets.token_urlsafe(24)},{secrets.token_urlsafe(12)}"
            self.set_status("SCAN_QR_CODE")

    def as_json(self, engine: str, status: str | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": status or self.status,
            "config": self.config,
            "me": self.me,
            "engine": {"engine": engine},
        }


class FakeWAHA(FakePlatformServer):
    """WAHA's HTTP API. ``api_key`` (X-Api-Key) or ``basic`` (user, password) is required when set."""

    def __init__(
        self,
        *,
        api_key: str | None = "waha-test-key",
        basic: tuple[str, str] | None = None,
        engine: str = "WEBJS",
        send_style: SendStyle = "webjs",
        me_id: str = "15550009999@c.us",
        push_name: str = "Souk Shop",
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.basic = basic
        self.engine = engine
        self.send_style: SendStyle = send_style
        self.me_id = me_id
        self.push_name = push_name
        self.sessions: dict[str, FakeSession] = {}
        self.store: dict[str, dict[str, list[dict[str, Any]]]] = {}  # session → chat id → messages
        self.chat_names: dict[str, str] = {}
        self.sent: list[dict[str, Any]] = []  # every message sent through the API, as WAMessage
        self.files: dict[str, tuple[str, bytes]] = {}  # "<session>/<name>" -> (mimetype, content)
        #: message ids a page leaves out after slicing, as NOWEB's filters do: that page comes back short mid-chat
        self.dropped_from_pages: set[str] = set()
        self.page_reads: list[tuple[str, int]] = []  # (chat id, offset) of every chat messages page served
        self.page_delay = 0.0  # seconds each chat messages page takes, as a busy phone's WAHA does
        self._lock = threading.RLock()

    # -- what tests call ------------------------------------------------------------------------------------

    def add_session(
        self,
        name: str = "default",
        *,
        working: bool = False,
        config: dict[str, Any] | None = None,
    ) -> FakeSession:
        with self._lock:
            session = self.sessions[name] = FakeSession(name=name, config=config or {})
            if working:
                self.mark_working(name)
            return session

    def mark_working(self, name: str = "default") -> None:
        """The user scanned the QR code: the session is logged in and WORKING."""
        with self._lock:
            session = self.sessions[name]
            session.authenticated = True
            session.me = {"id": self.me_id, "pushName": self.push_name}
            session.set_status("WORKING")

    def mark_failed(self, name: str = "default") -> None:
        with self._lock:
            self.sessions[name].set_status("FAILED")

    def rotate_qr(self, name: str = "default") -> str:
        """WhatsApp rotated the QR code (WAHA then re-sends SCAN_QR_CODE); returns the new value."""
        with self._lock:
            session = self.sessions[name]
            session.start()
            return session.qr_value

    def add_message(self, chat_id: str, message: dict[str, Any], *, session: str = "default") -> dict[str, Any]:
        with self._lock:
            self.store.setdefault(session, {}).setdefault(chat_id, []).append(message)
            return message

    def add_chat(
        self,
        chat_id: str,
        n_messages: int,
        *,
        session: str = "default",
        name: str | None = None,
        start_ts: int = 1_700_000_000,
        step: int = 60,
        from_me_every: int = 0,
    ) -> list[dict[str, Any]]:
        """A chat with ``n_messages`` WAMessages one ``step`` apart (every ``from_me_every``-th typed by us)."""
        self.chat_names[chat_id] = name or chat_id.split("@", 1)[0]
        is_group = chat_id.endswith("@g.us")
        messages = []
        for i in range(n_messages):
            from_me = bool(from_me_every) and (i + 1) % from_me_every == 0
            participant = f"1555000{i % 3:04d}@c.us" if is_group and not from_me else None
            message = wamessage(
                chat_id,
                f"message {i + 1}",
                from_me=from_me,
                me_id=self.me_id,
                participant=participant,
                timestamp=start_ts + i * step,
                push_name=name,
            )
            messages.append(self.add_message(chat_id, message, session=session))
        return messages

    def add_file(self, content: bytes, mimetype: str, name: str, *, session: str = "default") -> str:
        """A received file as WAHA keeps it; returns the ``media.url`` a webhook carries for it."""
        with self._lock:
            self.files[f"{session}/{name}"] = (mimetype, content)
        return f"{self.url}/api/files/{session}/{name}"

    def messages(self, chat_id: str, session: str = "default") -> list[dict[str, Any]]:
        with self._lock:
            return list(self.store.get(session, {}).get(chat_id, []))

    def session_status_payload(self, name: str = "default", data: Any = None) -> dict[str, Any]:
        """The ``session.status`` payload for the session's current state (``data``: WAHA's detail, if any)."""
        with self._lock:
            session = self.sessions[name]
            return {"status": session.status, "statuses": list(session.statuses), "data": data}

    async def emit(
        self, event: str, payload: dict[str, Any], *, session: str = "default", client: httpx.AsyncClient | None = None
    ) -> list[httpx.Response]:
        """Deliver ``event`` to every webhook of ``session`` subscribed to it, as WAHA would."""
        with self._lock:
            fake_session = self.sessions[session]
            hooks = list(fake_session.config.get("webhooks") or [])
            metadata = fake_session.config.get("metadata")
            me = fake_session.me
        responses = []
        for hook in hooks:
            events = hook.get("events") or []
            if event in events or "*" in events:
                key = (hook.get("hmac") or {}).get("key")
                responses.append(
                    await post_webhook(
                        hook["url"],
                        event,
                        payload,
                        key,
                        session,
                        me=me,
                        metadata=metadata,
                        engine=self.engine,
                        client=client,
                    )
                )
        return responses

    # -- HTTP -----------------------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        if self.api_key is not None and request.headers.get("x-api-key") != self.api_key:
            return False
        if self.basic is not None:
            expected = "Basic " + base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            if not hmac.compare_digest(request.headers.get("authorization", ""), expected):
                return False
        return True

    async def handle(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, "Unauthorized")
        for method, pattern, name in _ROUTES:
            match = pattern.fullmatch(request.url.path)
            if method == request.method and match:
                handler: Callable[..., Awaitable[Response]] = getattr(self, name)
                with self._lock:
                    return await handler(request, **match.groupdict())
        return _error(404, f"Cannot {request.method} {request.url.path}")

    def _session(self, name: str) -> FakeSession | None:
        return self.sessions.get(name)

    @staticmethod
    def _missing(name: str) -> JSONResponse:
        return _error(404, f'Session "{name}" does not exist')

    async def _list_sessions(self, request: Request) -> Response:
        show_all = request.query_params.get("all") == "true"
        return JSONResponse(
            [s.as_json(self.engine) for s in self.sessions.values() if show_all or s.status != "STOPPED"]
        )

    async def _create_session(self, request: Request) -> Response:
        body = await _json(request)
        name = body.get("name") or f"session_{secrets.token_hex(4)}"
        if name in self.sessions:
            return _error(422, f"Session '{name}' already exists. Use PUT to update it.")
        session = self.sessions[name] = FakeSession(name=name, config=body.get("config") or {})
        if body.get("start", True):
            session.start()
            return JSONResponse(session.as_json(self.engine, status="STARTING"), 201)
        return JSONResponse(session.as_json(self.engine), 201)

    async def _get_session(self, request: Request, s: str) -> Response:
        session = self._session(s)
        return JSONResponse(session.as_json(self.engine)) if session else self._missing(s)

    async def _update_session(self, request: Request, s: str) -> Response:
        session = self._session(s)
        if session is None:
            return self._missing(s)
        session.config = (await _json(request)).get("config") or {}
        if session.status != "STOPPED":  # WAHA restarts a running session with the new config
            session.start()
        return JSONResponse(session.as_json(self.engine))

    async def _delete_session(self, request: Request, s: str) -> Response:
        self.sessions.pop(s, None)
        return Response(status_code=200)

    async def _session_action(self, request: Request, s: str, action: str) -> Response:
        session = self._session(s)
        if session is None:
            return self._missing(s)
        if (action == "start" and session.status == "STOPPED") or action == "restart":
            session.start()
        elif action == "stop":
            session.set_status("STOPPED")
        elif action == "logout":
            session.authenticated, session.me = False, None
            if session.status != "STOPPED":
                session.start()  # a running session starts over with a new QR code
        return JSONResponse(session.as_json(self.engine), 201)

    async def _me(self, request: Request, s: str) -> Response:
        session = self._session(s)
        return JSONResponse(session.me) if session else self._missing(s)

    async def _qr(self, request: Request, s: str) -> Response:
        session = self._session(s)
        if session is None:
            return self._missing(s)
        if session.status != "SCAN_QR_CODE":
            return _error(422, f"Can get QR code only in SCAN_QR_CODE status. The current status is '{session.status}'")
        if request.query_params.get("format") == "raw":
            return JSONResponse({"value": session.qr_value})
        buffer = io.BytesIO()
        segno.make(session.qr_value, error="m").save(buffer, kind="png", scale=4)
        png = buffer.getvalue()
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"mimetype": "image/png", "data": base64.b64encode(png).decode()})
        return Response(png, media_type="image/png")

    async def _send(self, request: Request, endpoint: str) -> Response:
        body = await _json(request)
        session = self._session(body.get("session") or "default")
        if session is None:
            return self._missing(body.get("session") or "default")
        if session.status != "WORKING":
            return _error(
                422,
                "Session status is not as expected. Try again later or restart the session. "
                f"Session status: {session.status}. Expected: ['WORKING']",
            )
        chat_id = body.get("chatId")
        problems = [] if isinstance(chat_id, str) and chat_id else ["chatId must be a string"]
        file = body.get("file") if isinstance(body.get("file"), dict) else None
        if endpoint == "sendText" and not isinstance(body.get("text"), str):
            problems.append("text must be a string")
        if endpoint != "sendText" and not (file and (file.get("url") or file.get("data"))):
            problems.append("file must contain url or data")
        if problems:
            return _error(400, problems)
        short = short_message_id()
        message = wamessage(
            chat_id,
            body.get("text") or body.get("caption"),
            from_me=True,
            me_id=self.me_id,
            source="api",
            message_id=short,
            timestamp=int(time.time()),
        )
        if file:
            message["hasMedia"] = True
            message["media"] = {
                "url": file.get("url"),
                "mimetype": file.get("mimetype"),
                "filename": file.get("filename"),
                "error": None,
            }
        if body.get("reply_to"):
            message["replyTo"] = {"id": str(body["reply_to"]).split("_")[-1]}
        message["_endpoint"] = endpoint
        self.sent.append(message)
        self.store.setdefault(session.name, {}).setdefault(chat_id, []).append(message)
        return self._send_response(message, chat_id, short)

    def _send_response(self, message: dict[str, Any], chat_id: str, short: str) -> Response:
        if self.send_style == "empty":
            return Response(status_code=201)
        if self.send_style == "noweb":
            jid = chat_id.replace("@c.us", "@s.whatsapp.net")
            return JSONResponse(
                {
                    "key": {"remoteJid": jid, "fromMe": True, "id": short},
                    "message": {"extendedTextMessage": {"text": message["body"]}},
                    "messageTimestamp": str(message["timestamp"]),
                    "status": "PENDING",
                },
                201,
            )
        response = {key: value for key, value in message.items() if not key.startswith("_endpoint")}
        if self.send_style == "webjs":
            response["id"] = {"fromMe": True, "remote": chat_id, "id": short, "_serialized": message["id"]}
        return JSONResponse(response, 201)

    def _chat_json(self, chat_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        last = max((m["timestamp"] for m in messages), default=0)
        wid: Any = chat_id
        if self.engine == "WEBJS":
            user, _, server = chat_id.partition("@")
            wid = {"server": server, "user": user, "_serialized": chat_id}
        return {
            "id": wid,
            "name": self.chat_names.get(chat_id, chat_id),
            "isGroup": chat_id.endswith("@g.us"),
            "timestamp": last,
            "unreadCount": 0,
        }

    async def _file(self, request: Request, path: str) -> Response:
        if path not in self.files:
            return _error(404, f"File {path} not found")
        mimetype, content = self.files[path]
        return Response(content, media_type=mimetype)

    async def _chats(self, request: Request, s: str) -> Response:
        if self._session(s) is None:
            return self._missing(s)
        q = request.query_params
        chats = [self._chat_json(cid, msgs) for cid, msgs in self.store.get(s, {}).items()]
        chats.sort(key=lambda chat: chat["timestamp"], reverse=q.get("sortOrder", "desc") == "desc")
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
        return JSONResponse(chats[offset : offset + limit])

    async def _chat_messages(self, request: Request, s: str, chat: str) -> Response:
        if self._session(s) is None:
            return self._missing(s)
        q = request.query_params
        items = list(self.store.get(s, {}).get(chat, []))
        if "filter.timestamp.gte" in q:
            items = [m for m in items if m["timestamp"] >= int(q["filter.timestamp.gte"])]
        if "filter.timestamp.lte" in q:
            items = [m for m in items if m["timestamp"] <= int(q["filter.timestamp.lte"])]
        if "filter.fromMe" in q:
            items = [m for m in items if m["fromMe"] == (q["filter.fromMe"] == "true")]
        items.sort(key=lambda m: m["timestamp"], reverse=q.get("sortOrder", "desc") == "desc")
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
        self.page_reads.append((chat, offset))
        if self.page_delay:
            await asyncio.sleep(self.page_delay)
        page = [
            {k: v for k, v in m.items() if k != "_endpoint"}
            for m in items[offset : offset + limit]
            if m["id"] not in self.dropped_from_pages
        ]
        if q.get("downloadMedia", "true") == "false":
            for m in page:
                if m.get("media"):
                    m["media"] = {**m["media"], "url": None}
        return JSONResponse(page)


_ROUTES = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("GET", r"/api/sessions/?", "_list_sessions"),
        ("POST", r"/api/sessions/?", "_create_session"),
        ("GET", r"/api/sessions/(?P<s>[^/]+)", "_get_session"),
        ("PUT", r"/api/sessions/(?P<s>[^/]+)", "_update_session"),
        ("DELETE", r"/api/sessions/(?P<s>[^/]+)", "_delete_session"),
        ("POST", r"/api/sessions/(?P<s>[^/]+)/(?P<action>start|stop|restart|logout)", "_session_action"),
        ("GET", r"/api/sessions/(?P<s>[^/]+)/me", "_me"),
        ("GET", r"/api/(?P<s>[^/]+)/auth/qr", "_qr"),
        ("POST", r"/api/(?P<endpoint>sendText|sendImage|sendFile)", "_send"),
        ("GET", r"/api/(?P<s>[^/]+)/chats", "_chats"),
        ("GET", r"/api/files/(?P<path>.+)", "_file"),
        ("GET", r"/api/(?P<s>[^/]+)/chats/(?P<chat>[^/]+)/messages", "_chat_messages"),
    ]
]


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def envelope(
    event: str,
    payload: dict[str, Any],
    session: str = "default",
    *,
    me: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    engine: str = "WEBJS",
) -> dict[str, Any]:
    """The webhook envelope WAHA wraps every event in."""
    return {
        "id": f"evt_{ulid()}",
        "timestamp": int(time.time() * 1000),
        "event": event,
        "session": session,
        "metadata": metadata or {},
        "me": me,
        "payload": payload,
        "engine": engine,
        "environment": {"version": "2025.1.1", "engine": engine, "tier": "CORE", "browser": None},
    }


def webhook_headers(body: bytes, hmac_key: str | None) -> dict[str, str]:
    """The headers WAHA sends; the HMAC pair only when the webhook has an HMAC key."""
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Request-Id": ulid(),
        "X-Webhook-Timestamp": str(int(time.time() * 1000)),
    }
    if hmac_key is not None:
        headers["X-Webhook-Hmac"] = hmac.new(hmac_key.encode(), body, hashlib.sha512).hexdigest()
        headers["X-Webhook-Hmac-Algorithm"] = "sha512"
    return headers


async def post_webhook(
    url: str,
    event: str,
    payload: dict[str, Any],
    hmac_key: str | None,
    session: str = "default",
    *,
    me: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    engine: str = "WEBJS",
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """POST one event to ``url`` as WAHA does (``client`` lets a test post to an in-process ASGI app)."""
    body = json.dumps(
        envelope(event, payload, session, me=me, metadata=metadata, engine=engine),
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    headers = webhook_headers(body, hmac_key)
    if client is not None:
        return await client.post(url, content=body, headers=headers)
    async with httpx.AsyncClient(trust_env=False) as own:
        return await own.post(url, content=body, headers=headers)
