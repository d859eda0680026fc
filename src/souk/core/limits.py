"""Refuse oversized bodies (413) and bodies of the wrong content type (415) before any handler runs."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from souk.core.errors import PROBLEM, TYPE_BASE

BODY_METHODS = {"POST", "PUT", "PATCH"}
JSON_TYPES = ("application/json", "application/problem+json", "application/merge-patch+json")


async def _problem(send: Send, status: int, title: str, detail: str, slug: str) -> None:
    body = json.dumps({"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Counts bytes as they arrive, so a lying or missing Content-Length cannot slip a huge body through."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        limit = self.max_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _problem(send, 413, "Payload too large", f"the body is larger than {limit} bytes", "too-large")
            return
        path: str = scope["path"]
        ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        has_body = declared not in (None, b"0") or b"transfer-encoding" in headers
        if (
            path.startswith("/api/")
            and has_body
            and ctype
            and not (
                ctype in JSON_TYPES
                or ctype.startswith("multipart/form-data")
                or ctype == "text/csv"
                or ctype == "application/x-www-form-urlencoded"
            )
        ):
            await _problem(
                send,
                415,
                "Unsupported media type",
                f"send application/json (got {ctype}); uploads use multipart/form-data",
                "media-type",
            )
            return
        received = 0
        started = refused = False

        async def _receive() -> Message:
            # Past the limit, answer 413 ourselves and tell the app the client went away: the app stops reading,
            # and whatever it tries to answer afterwards is dropped.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _problem(
                            send,
                            413,
                            "Payload too large",
                            f"the body is larger than {limit} bytes",
                            "too-large",
                        )
                    return {"type": "http.disconnect"}
            return message

        async def _send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, _receive, _send)
        except Exception:
            if not refused:
                raise
