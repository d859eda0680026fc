"""A fake TikTok API for Business (Business Messaging): account info, send, media upload and download.

Answers use TikTok's envelope ``{"code", "message", "request_id", "data"}`` with HTTP 200, errors included
(``code != 0``). The fake checks ``Access-Token`` (40105) and ``business_id`` (40001), validates sends
(40002), keeps sent messages and uploaded media, and serves media download URLs from itself. ``fail``
queues an error code for one endpoint; ``sign`` builds the ``Tiktok-Signature`` of a webhook body::

    with FakeTikTok() as fake:
        fake.fail("message/send/", 40064, "You are sending messages too fast.")
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from souk.platforms.tiktok.verify import sign
from tests.support.servers import FakePlatformServer

PREFIX = "/open_api/v1.3/business/"
TOO_FAST = (40064, "You are sending messages too fast. Please try again later.")
TEXT_LIMIT = 6000


class FakeTikTok(FakePlatformServer):
    def __init__(
        self,
        business_id: str = "biz-7000000000000000001",
        access_token: str = "act.fake-tiktok-access-token",
        app_secret: str = "fake-tiktok-app-secret",
    ) -> None:
        super().__init__()
        self.business_id = business_id
        self.access_token = access_token
        self.app_secret = app_secret
        self.profile = {
            "username": "souk.shop",
            "display_name": "Souk Shop",
            "profile_image": "https://p16-sign.tiktokcdn.com/avatar/souk.jpeg",
        }
        self.sent: list[dict[str, Any]] = []  # every accepted send, oldest first
        self.media: dict[str, tuple[str, bytes]] = {}  # media_id -> (mime, content)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._failures: dict[str, list[list[Any]]] = defaultdict(list)  # endpoint -> [[code, message, times]]

    # -- what tests use -------------------------------------------------------------------------------------

    def fail(self, endpoint: str, code: int, message: str, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``endpoint`` (e.g. ``"message/send/"``) with ``code``."""
        with self._lock:
            self._failures[endpoint].append([code, message, times])

    def add_media(self, content: bytes, mime: str = "image/jpeg") -> str:
        """Store an image as if a customer had sent it; returns its ``media_id``."""
        with self._lock:
            media_id = f"v0{next(self._ids):08d}media"
            self.media[media_id] = (mime, content)
        return media_id

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        """The ``Tiktok-Signature`` header TikTok would send with ``body``."""
        return sign(self.app_secret, int(time.time()) if timestamp is None else timestamp, body)

    def messages_in(self, conversation_id: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["conversation_id"] == conversation_id]

    # -- the API --------------------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/fake-media/"):
            return self._serve_media(path.removeprefix("/fake-media/"))
        if not path.startswith(PREFIX):
            return JSONResponse({"code": 40400, "message": "Not Found"}, status_code=404)
        endpoint = path.removeprefix(PREFIX)
        handler = {
            ("GET", "get/"): self._business_get,
            ("POST", "message/send/"): self._send,
            ("POST", "message/media/upload/"): self._upload,
            ("POST", "message/media/download/"): self._download,
        }.get((request.method, endpoint))
        if handler is None:
            return JSONResponse({"code": 40400, "message": "Not Found"}, status_code=404)
        if request.headers.get("access-token") != self.access_token:
            return _answer(40105, "Access token is incorrect or has been revoked.")
        failure = self._take_failure(endpoint)
        if failure:
            return _answer(*failure)
        params = await _params(request)
        if str(params.get("business_id")) != self.business_id:
            return _answer(40001, "No permission to operate business_id.")
        try:
            return _answer(0, "OK", handler(params))
        except _ApiError as exc:
            return _answer(exc.code, exc.message)

    def _business_get(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = json.loads(params.get("fields") or "[]") or list(self.profile)
        return {k: v for k, v in self.profile.items() if k in fields}

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("recipient_type") != "CONVERSATION" or not params.get("recipient"):
            raise _ApiError(40002, "recipient_type must be CONVERSATION with a recipient conversation id.")
        kind = params.get("message_type")
        if kind == "TEXT":
            body = (params.get("text") or {}).get("body")
            if not body or len(body) > TEXT_LIMIT:
                raise _ApiError(40002, f"text.body must be 1 to {TEXT_LIMIT} characters.")
        elif kind == "IMAGE":
            if (params.get("image") or {}).get("media_id") not in self.media:
                raise _ApiError(40002, "image.media_id is invalid.")
        else:
            raise _ApiError(40002, f"Unsupported message_type: {kind}.")
        with self._lock:
            message_id = f"tt-msg-{next(self._ids):06d}"
            self.sent.append(
                {
                    "message_id": message_id,
                    "conversation_id": params["recipient"],
                    "message_type": kind,
                    "text": params.get("text"),
                    "image": params.get("image"),
                    "referenced_message_info": params.get("referenced_message_info"),
                    "timestamp": int(time.time() * 1000),
                }
            )
        return {"message": {"message_id": message_id}}

    def _upload(self, params: dict[str, Any]) -> dict[str, Any]:
        upload = params.get("file")
        if params.get("media_type") != "IMAGE" or not isinstance(upload, tuple):
            raise _ApiError(40002, "media_type must be IMAGE with a file.")
        mime, content = upload
        if mime not in ("image/jpeg", "image/png") or len(content) > 3 * 1024 * 1024:
            raise _ApiError(40002, "Only JPG/PNG images up to 3 MB are supported.")
        media_id = self.add_media(content, mime)
        return {"media_id": media_id}

    def _download(self, params: dict[str, Any]) -> dict[str, Any]:
        required = ("conversation_id", "message_id", "media_id", "media_type")
        missing = [k for k in required if not params.get(k)]
        if missing:
            raise _ApiError(40002, f"Missing parameters: {', '.join(missing)}.")
        if params["media_id"] not in self.media:
            raise _ApiError(40002, "media_id is invalid.")
        return {"download_url": f"{self.url}/fake-media/{params['media_id']}"}

    # -- plumbing -------------------------------------------------------------------------------------------

    def _serve_media(self, media_id: str) -> Response:
        if media_id not in self.media:
            return Response(status_code=404)
        mime, content = self.media[media_id]
        return Response(content, media_type=mime)

    def _take_failure(self, endpoint: str) -> tuple[int, str] | None:
        with self._lock:
            queue = self._failures.get(endpoint)
            if not queue:
                return None
            code, message, _ = failure = queue[0]
            failure[2] -= 1
            if failure[2] == 0:
                queue.pop(0)
            return code, message


class _ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _answer(code: int, message: str, data: dict[str, Any] | None = None) -> JSONResponse:
    body = {"code": code, "message": message, "request_id": uuid.uuid4().hex, "data": data or {}}
    return JSONResponse(body)


async def _params(request: Request) -> dict[str, Any]:
    """Query string plus a JSON or multipart body; an uploaded file becomes ``(mime, content)``."""
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        params.update(json.loads(await request.body() or b"{}"))
    elif content_type.startswith("multipart/form-data"):
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                params[key] = (value.content_type, await value.read())
            else:
                params[key] = value
    return params
