"""Media attachments: where their bytes are kept (the media store) and how each platform's bytes are fetched.

A :class:`~souk.messaging.models.MessageMedia` row is written with its message (metadata only) and its id queued on
``work.media``; the media worker (:mod:`souk.messaging.media_worker`) calls :func:`download`, puts the bytes in the
store and marks the row. The message never waits for its media: a download that fails leaves the message as it is
and the row ``failed`` with the reason, retried with back-off first when the failure may pass.

Downloads are streamed and stopped at the size limit, so an oversized or endless file is never read whole.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import mimetypes
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

import anyio
import httpx

from souk.core.errors import Conflict
from souk.messaging.models import MediaStatus, Message, MessageMedia
from souk.platforms.plugin import PlatformError, VendorClient
from souk.settings import Settings

MiB = 1024 * 1024
CHUNK = 64 * 1024
GENERIC_MIME = "application/octet-stream"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# -- settings ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Config:
    endpoint_url: str
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    prefix: str = ""


@dataclass(frozen=True)
class MediaConfig:
    """The ``media_*`` settings, resolved (default directory, S3 credentials) for the store and the worker."""

    directory: Path
    store: str = "local"
    max_bytes: int = 100 * MiB
    max_bytes_by_kind: Mapping[str, int] = field(default_factory=dict)
    max_attempts: int = 8
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 600.0
    download_timeout_seconds: float = 300.0
    stale_after_seconds: float = 900.0
    sweep_interval_seconds: float = 30.0
    s3: S3Config | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaConfig:
        s3 = None
        if settings.media_store == "s3":
            secret = settings.media_s3_secret_access_key
            s3 = S3Config(
                endpoint_url=settings.media_s3_endpoint_url or "https://s3.amazonaws.com",
                bucket=settings.media_s3_bucket or "",
                region=settings.media_s3_region,
                access_key_id=settings.media_s3_access_key_id or "",
                secret_access_key=secret.get_secret_value() if secret else "",
                prefix=settings.media_s3_prefix,
            )
        return cls(
            directory=Path(settings.media_dir or Path(settings.data_dir) / "media"),
            store=settings.media_store,
            max_bytes=settings.media_max_bytes,
            max_bytes_by_kind=dict(settings.media_max_bytes_by_kind),
            max_attempts=settings.media_max_attempts,
            retry_base_seconds=settings.media_retry_base_seconds,
            retry_max_seconds=settings.media_retry_max_seconds,
            download_timeout_seconds=settings.media_download_timeout_seconds,
            stale_after_seconds=settings.media_stale_after_seconds,
            sweep_interval_seconds=settings.media_sweep_interval_seconds,
            s3=s3,
        )

    def limit_for(self, channel_type: str, kind: str) -> int:
        """The most specific limit: ``"<channel_type>.<kind>"``, then ``"<kind>"``, then ``"<channel_type>"``."""
        for key in (f"{channel_type}.{kind}", kind, channel_type):
            if key in self.max_bytes_by_kind:
                return int(self.max_bytes_by_kind[key])
        return self.max_bytes

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling, capped."""
        return min(self.retry_max_seconds, self.retry_base_seconds * 2 ** max(0, attempt - 1))


# -- the store --------------------------------------------------------------------------------------------------


class MediaMissing(LookupError):
    """The store has nothing under the key (deleted by hand, or a store switched without moving files)."""


@dataclass
class StoredObject:
    size: int
    chunks: AsyncIterator[bytes]


class MediaStore(Protocol):
    """Where media bytes live. Keys are ``/``-separated relative paths; ``put`` replaces atomically."""

    async def put(self, key: str, data: bytes, mime: str | None) -> None: ...

    async def open(self, key: str) -> StoredObject: ...

    async def delete(self, key: str) -> None: ...


def storage_key(media: MessageMedia) -> str:
    """``<tenant>/<yyyy>/<mm>/<media id>``: one folder per tenant (easy to export or erase), then by month."""
    at = media.created_at
    return f"{media.tenant_id}/{at:%Y}/{at:%m}/{media.id}"


def _key_parts(key: str) -> list[str]:
    parts = key.split("/")
    if not key or "\\" in key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a media key: {key!r}")
    return parts


class LocalMediaStore:
    """Files under one directory, written to a temporary file, fsynced, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root.joinpath(*_key_parts(key))

    async def put(self, key: str, data: bytes, mime: str | None) -> None:
        await anyio.to_thread.run_sync(_write_atomically, self.path(key), data)

    async def open(self, key: str) -> StoredObject:
        path = self.path(key)
        try:
            file = await anyio.to_thread.run_sync(path.open, "rb")
        except FileNotFoundError:
            raise MediaMissing(key) from None
        return StoredObject(os.fstat(file.fileno()).st_size, _read_chunks(file))

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self.path(key).unlink(missing_ok=True))


def _write_atomically(path: Path, data: bytes) -> None:
    """A reader sees the old file or the whole new one, never a torn write, even if the process dies midway."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


async def _read_chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(file.read, CHUNK):
            yield chunk
    finally:
        file.close()


def sigv4_headers(
    method: str,
    url: str,
    *,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    payload_sha256: str,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    service: str = "s3",
) -> dict[str, str]:
    """The headers that sign a request with AWS Signature Version 4 (``Authorization``, ``x-amz-date``, …).

    ``url`` must already be percent-encoded as it goes on the wire (S3 does not encode the path twice). Every
    header in ``headers`` is signed along with ``host``, ``x-amz-content-sha256`` and ``x-amz-date``.
    """
    parts = urlsplit(url)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {k.lower(): " ".join(str(v).split()) for k, v in (headers or {}).items()}
    signed.update({"host": parts.netloc, "x-amz-content-sha256": payload_sha256, "x-amz-date": amz_date})
    names = sorted(signed)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    canonical = "\n".join(
        [
            method.upper(),
            parts.path or "/",
            "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_access_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {name: signed[name] for name in names if name != "host"}
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


class S3MediaStore:
    """A bucket of any S3-compatible service (AWS, MinIO, Garage, R2…): path-style URLs, SigV4 over plain httpx.

    An object PUT is atomic by S3's own semantics: readers see the old object or the new one.
    """

    def __init__(self, config: S3Config, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    def url(self, key: str) -> str:
        _key_parts(key)
        path = quote(f"{self.config.prefix.strip('/')}/{key}".lstrip("/"), safe="/-_.~")
        return f"{self.config.endpoint_url.rstrip('/')}/{quote(self.config.bucket, safe='')}/{path}"

    def _signed(self, method: str, url: str, payload_sha256: str, **headers: str) -> dict[str, str]:
        return sigv4_headers(
            method,
            url,
            region=self.config.region,
            access_key_id=self.config.access_key_id,
            secret_access_key=self.config.secret_access_key,
            payload_sha256=payload_sha256,
            now=datetime.now(UTC),
            headers=headers,
        )

    async def put(self, key: str, data: bytes, mime: str | None) -> None:
        url = self.url(key)
        headers = self._signed("PUT", url, hashlib.sha256(data).hexdigest(), **{"content-type": mime or GENERIC_MIME})
        response = await self.http.put(url, content=data, headers=headers)
        if response.is_error:
            raise MediaError(f"the S3 bucket answered HTTP {response.status_code} to a PUT", retryable=True)

    async def open(self, key: str) -> StoredObject:
        url = self.url(key)
        request = self.http.build_request("GET", url, headers=self._signed("GET", url, EMPTY_SHA256))
        response = await self.http.send(request, stream=True)
        if response.status_code == 404:
            await response.aclose()
            raise MediaMissing(key)
        if response.is_error:
            await response.aclose()
            raise OSError(f"the S3 bucket answered HTTP {response.status_code} to a GET")
        return StoredObject(int(response.headers.get("content-length") or 0), _response_chunks(response))

    async def delete(self, key: str) -> None:
        url = self.url(key)
        response = await self.http.delete(url, headers=self._signed("DELETE", url, EMPTY_SHA256))
        if response.is_error and response.status_code != 404:
            raise MediaError(f"the S3 bucket answered HTTP {response.status_code} to a DELETE", retryable=True)


async def _response_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes(CHUNK):
            yield chunk
    finally:
        await response.aclose()


def store_for(config: MediaConfig, http: httpx.AsyncClient) -> MediaStore:
    """The store the settings choose: ``local`` (default) or ``s3`` (any S3-compatible service)."""
    if config.store == "s3":
        if config.s3 is None:
            raise ValueError("media_store is s3 but media_s3_bucket is not set")
        return S3MediaStore(config.s3, http)
    return LocalMediaStore(config.directory)


# -- downloading ------------------------------------------------------------------------------------------------


class MediaError(Exception):
    """A download that did not work; ``retryable`` when trying later may (5xx, 429, network)."""

    def __init__(self, reason: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class MediaSource:
    """What a download needs to know about a row, read in the claiming transaction and used outside it."""

    channel_type: str
    kind: str
    platform_media_id: str | None
    url: str | None
    mime: str | None
    size: int | None
    filename: str | None
    message_external_id: str | None
    thread_id: str | None


@dataclass
class Fetched:
    data: bytes
    mime: str


def _too_large(size: int, limit: int, kind: str) -> MediaError:
    return MediaError(f"the {kind} is {size} bytes, over the {limit}-byte limit; not downloaded")


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, ValueError):
        return None


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    *,
    limit: int,
    kind: str,
    declared: int | None = None,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
) -> tuple[bytes, str | None]:
    """GET ``url`` as a stream, stopping as soon as it passes ``limit`` bytes; returns (bytes, Content-Type).

    Errors never carry the URL: some hold a token (Telegram's file URLs).
    """
    if declared is not None and declared > limit:
        raise _too_large(declared, limit, kind)
    try:
        async with http.stream(
            "GET",
            url,
            headers=dict(headers or {}),
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            follow_redirects=True,  # httpx drops Authorization when a redirect leaves the origin
        ) as response:
            status = response.status_code
            if response.is_error:
                raise MediaError(
                    f"the media download answered HTTP {status}",
                    retryable=status in (408, 425, 429) or status >= 500,
                    retry_after=_retry_after(response.headers),
                )
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > limit:
                raise _too_large(int(length), limit, kind)
            body = bytearray()
            async for chunk in response.aiter_bytes(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise MediaError(f"the {kind} passed the {limit}-byte limit; download stopped")
            return bytes(body), response.headers.get("content-type")
    except httpx.HTTPError as exc:
        raise MediaError(f"the media download failed: {type(exc).__name__}", retryable=True) from None


def _mime(*candidates: str | None, name: str | None) -> str:
    """The first specific MIME type the platform gave, else a guess from the file name."""
    for candidate in candidates:
        if candidate and candidate.split(";", 1)[0].strip().lower() not in ("", GENERIC_MIME):
            return candidate.strip()[:100]
    guessed = mimetypes.guess_type(name)[0] if name else None
    return guessed or GENERIC_MIME


def _sha256_matches(data: bytes, expected: str | None) -> bool:
    """WhatsApp gives the file's SHA-256 (base64 in the media lookup, hex in some payloads)."""
    if not expected:
        return True
    digest = hashlib.sha256(data)
    return expected in (digest.hexdigest(), base64.b64encode(digest.digest()).decode())


Downloader = Callable[[VendorClient, MediaSource, httpx.AsyncClient, int], Awaitable[Fetched]]


async def _whatsapp(client: Any, src: MediaSource, http: httpx.AsyncClient, limit: int) -> Fetched:
    """Media id → ``GET /{media-id}`` → a short-lived URL fetched with the same bearer token."""
    if not src.platform_media_id:
        raise MediaError("the message carries no WhatsApp media id")
    info = await client.get_media(src.platform_media_id)
    if not info.get("url"):
        raise MediaError("WhatsApp gave no URL for the media id")
    data, content_type = await fetch(
        http,
        info["url"],
        limit=limit,
        kind=src.kind,
        declared=_int(info.get("file_size")) or src.size,
        headers={"Authorization": f"Bearer {client.graph.token}"},
    )
    if not _sha256_matches(data, info.get("sha256")):
        raise MediaError("the downloaded file does not match WhatsApp's SHA-256", retryable=True)
    return Fetched(data, _mime(src.mime, info.get("mime_type"), content_type, name=src.filename))


async def _telegram(client: Any, src: MediaSource, http: httpx.AsyncClient, limit: int) -> Fetched:
    """``getFile`` → ``file_path`` → ``/file/bot<token>/<file_path>`` (bots may fetch files up to 20 MB)."""
    if not src.platform_media_id:
        raise MediaError("the message carries no Telegram file_id")
    file = await client.call("getFile", {"file_id": src.platform_media_id})
    path = file.get("file_path")
    if not path:
        raise MediaError("Telegram gave no file_path for the file_id")
    declared = _int(file.get("file_size")) or src.size
    data, content_type = await fetch(http, client.file_url(path), limit=limit, kind=src.kind, declared=declared)
    return Fetched(data, _mime(src.mime, content_type, name=src.filename or path))


async def _waha(client: Any, src: MediaSource, http: httpx.AsyncClient, limit: int) -> Fetched:
    """The payload's ``media.url`` points at WAHA's ``/api/files/…``, behind its API key or basic auth."""
    if not src.url:
        raise MediaError("WAHA sent no media URL (the session does not download media: see its config)")
    url, headers, auth = client.media_request(src.url)
    data, content_type = await fetch(
        http, url, limit=limit, kind=src.kind, declared=src.size, headers=headers, auth=auth
    )
    return Fetched(data, _mime(src.mime, content_type, name=src.filename or url.split("?", 1)[0]))


async def _by_url(client: Any, src: MediaSource, http: httpx.AsyncClient, limit: int) -> Fetched:
    """Messenger and Instagram attachments: ``payload.url`` is a signed CDN URL, fetched without a token."""
    if not src.url:
        raise MediaError("the attachment carries no URL")
    data, content_type = await fetch(http, src.url, limit=limit, kind=src.kind, declared=src.size)
    return Fetched(data, _mime(src.mime, content_type, name=src.filename or src.url.split("?", 1)[0]))


async def _tiktok(client: Any, src: MediaSource, http: httpx.AsyncClient, limit: int) -> Fetched:
    """``POST business/message/media/download/`` → ``download_url``, then a plain GET."""
    if not (src.platform_media_id and src.message_external_id and src.thread_id):
        raise MediaError("a TikTok download needs the media id, the message id and the conversation id")
    url = await client.media_download_url(
        src.thread_id, src.message_external_id, src.platform_media_id, media_type=src.kind.upper()
    )
    data, content_type = await fetch(http, url, limit=limit, kind=src.kind, declared=src.size)
    return Fetched(data, _mime(src.mime, content_type, name=src.filename))


DOWNLOADERS: dict[str, Downloader] = {
    "whatsapp": _whatsapp,
    "telegram": _telegram,
    "waha": _waha,
    "messenger": _by_url,
    "instagram": _by_url,
    "tiktok": _tiktok,
}


async def download(client: VendorClient, src: MediaSource, http: httpx.AsyncClient, *, limit: int) -> Fetched:
    """The bytes of one attachment, by its platform's route; :class:`MediaError` says why not."""
    downloader = DOWNLOADERS.get(src.channel_type)
    if downloader is None:
        raise MediaError(f"Souk cannot download media from {src.channel_type} channels")
    try:
        return await downloader(client, src, http, limit)
    except PlatformError as exc:
        raise MediaError(exc.message, retryable=exc.retryable, retry_after=exc.retry_after) from None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# -- rows -------------------------------------------------------------------------------------------------------


def event_payload(media: MessageMedia, message: Message | None) -> dict[str, Any]:
    """``message.updated`` for a media change (the message's usual fields, plus which media and how it went), so
    the inbox reloads the message and shows the file or the error."""
    payload: dict[str, Any] = {"message_id": str(media.message_id), "channel_id": str(media.channel_id)}
    if message is not None:
        payload.update(
            conversation_id=str(message.conversation_id),
            customer_id=str(message.customer_id),
            direction=message.direction,
            message_type=message.message_type,
            status=message.status,
            sent_by=message.sent_by,
        )
    payload["fields"] = ["media"]
    payload["media"] = {"id": str(media.id), "status": media.status, "error": media.error}
    return payload


def reset_for_retry(media: MessageMedia) -> None:
    """A failed download goes back to ``pending`` with a fresh retry budget; any other status is a 409."""
    if media.status != MediaStatus.failed:
        raise Conflict(
            f"only a failed download can be retried; this one is {media.status}",
            media_status=media.status,
        )
    media.status = MediaStatus.pending
    media.attempts = 0
    media.error = None


def media_id_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
