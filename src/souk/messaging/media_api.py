"""Media files over HTTP: the stored bytes of an attachment for the tenant's users, and a retry for failed downloads.

The bytes are whatever a customer sent, served from Souk's own origin next to the inbox's session cookie, so they
are never allowed to act as a page: every answer is ``nosniff`` with a sandboxing Content-Security-Policy, and
types a browser would render as a document (HTML, SVG, XML, scripts…) are sent as attachments.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from souk.bus import work
from souk.bus.client import Bus
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import Conflict, NotFound
from souk.core.observability import log
from souk.messaging.api import media_out
from souk.messaging.media import MediaConfig, MediaMissing, reset_for_retry, store_for
from souk.messaging.models import MediaStatus, MessageMedia
from souk.messaging.schemas import MediaOut

router = APIRouter(prefix="/api/v1/media", tags=["media"])

#: shown inline; anything else is a download, so a file cannot run script in the inbox's origin
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "audio/", "video/", "text/plain")


async def _media(ctx: Ctx, media_id: uuid.UUID) -> MessageMedia:
    media = await ctx.session.scalar(select(MessageMedia).where(MessageMedia.id == media_id))
    if media is None:
        raise NotFound("no such media")
    return media


def _disposition(media: MessageMedia, mime: str) -> str:
    inline = any(mime.lower().startswith(t) for t in INLINE_TYPES)
    name = media.filename or str(media.id)
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "").replace("\\", "")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@router.get(
    "/{media_id}",
    summary="Download a media file of a message",
    response_model=None,
    response_class=StreamingResponse,
    responses={
        200: {"description": "The file's bytes, with its MIME type", "content": {"application/octet-stream": {}}},
        304: {"description": "Not modified (If-None-Match matched the ETag, the file's SHA-256)"},
        404: {"description": "No such media in your tenant, or its stored file is gone"},
        409: {"description": "Not downloaded yet (pending) or the download failed: see `media_status` and `error`"},
    },
)
async def get_media(media_id: uuid.UUID, request: Request, ctx: Ctx = Depends(agent)) -> Response:
    media = await _media(ctx, media_id)
    if media.status != MediaStatus.stored or not media.storage_key:
        detail = "the file is not downloaded yet" if media.status == MediaStatus.pending else "the download failed"
        raise Conflict(
            f"{detail}: {media.error}" if media.error else detail,
            media_status=media.status,
            error=media.error,
            attempts=media.attempts,
        )
    mime = media.mime or "application/octet-stream"
    headers = {
        "Cache-Control": "private, max-age=86400",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": _disposition(media, mime),
    }
    if media.sha256:
        headers["ETag"] = f'"{media.sha256}"'
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
    store = store_for(MediaConfig.from_settings(request.app.state.settings), request.app.state.http)
    try:
        stored = await store.open(media.storage_key)
    except MediaMissing:
        raise NotFound("the media's stored file is gone from the media store") from None
    headers["Content-Length"] = str(stored.size)
    return StreamingResponse(stored.chunks, media_type=mime, headers=headers)


async def _enqueue(bus: Bus, media_id: uuid.UUID) -> None:
    """After the commit; if the bus is down the media sweeper queues the row later."""
    try:
        await work.enqueue(bus, "media", str(media_id), dedup=False)
    except Exception as exc:
        log.warning("media retry enqueue failed; the sweeper will queue it", media_id=str(media_id), error=str(exc))


@router.post(
    "/{media_id}/retry",
    summary="Download a failed media file again",
    status_code=202,
    response_model=MediaOut,
    responses={
        404: {"description": "No such media in your tenant"},
        409: {"description": "The media is not failed (already stored, or still pending)"},
    },
)
async def retry_media(
    media_id: uuid.UUID, request: Request, background: BackgroundTasks, ctx: Ctx = Depends(admin)
) -> MediaOut:
    media = await _media(ctx, media_id)
    before = {"status": media.status, "error": media.error, "attempts": media.attempts}
    reset_for_retry(media)
    audit.record(ctx, "media.retried", "message_media", media.id, before=before, after={"status": media.status})
    await ctx.session.flush()
    background.add_task(_enqueue, request.app.state.bus, media.id)
    return media_out(media)
