"""A fake S3-compatible bucket service: path-style PUT/GET/DELETE of objects, every request's SigV4 checked.

The signature is recomputed from the request *as received* (raw path, query and the signed headers off the wire),
so a client that signs one thing and sends another is refused with S3's ``SignatureDoesNotMatch``. The algorithm
itself is pinned by AWS's published example in ``test_media_s3.py``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from tests.support.servers import FakePlatformServer

from souk.messaging.media import sigv4_headers

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/s3/aws4_request, SignedHeaders=([^,]+), ")


def _error(status: int, code: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code></Error>'
    return Response(body, status_code=status, media_type="application/xml")


class FakeS3(FakePlatformServer):
    def __init__(self, access_key_id: str = "SOUKTESTKEY", secret_access_key: str = "souk-test-secret") -> None:
        super().__init__()
        self.keys = {access_key_id: secret_access_key}
        self.objects: dict[str, tuple[str, bytes]] = {}  # "<bucket>/<key>" -> (content type, bytes)
        self._lock = threading.Lock()

    def _signature_ok(self, request: Request, body: bytes) -> bool:
        auth = request.headers.get("authorization", "")
        match = _AUTH.match(auth)
        if not match or match.group(1) not in self.keys:
            return False
        access_key, region, names = match.group(1), match.group(2), match.group(3).split(";")
        payload = request.headers.get("x-amz-content-sha256", "")
        if payload != hashlib.sha256(body).hexdigest():
            return False
        raw_path = request.scope["raw_path"].decode()
        query = request.scope["query_string"].decode()
        url = f"http://{request.headers['host']}{raw_path}" + (f"?{query}" if query else "")
        now = datetime.strptime(request.headers.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        extra = {n: request.headers[n] for n in names if n not in ("host", "x-amz-date", "x-amz-content-sha256")}
        expected = sigv4_headers(
            request.method,
            url,
            region=region,
            access_key_id=access_key,
            secret_access_key=self.keys[access_key],
            payload_sha256=payload,
            now=now,
            headers=extra,
        )
        return expected["Authorization"] == auth

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if not self._signature_ok(request, body):
            return _error(403, "SignatureDoesNotMatch")
        name = request.url.path.lstrip("/")  # decoded: the object's real key
        with self._lock:
            if request.method == "PUT":
                self.objects[name] = (request.headers.get("content-type", "binary/octet-stream"), body)
                return Response(status_code=200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
            if request.method == "DELETE":
                self.objects.pop(name, None)
                return Response(status_code=204)
            if request.method == "GET" and name in self.objects:
                content_type, data = self.objects[name]
                return Response(data, media_type=content_type)
        return _error(404, "NoSuchKey") if request.method == "GET" else _error(405, "MethodNotAllowed")
