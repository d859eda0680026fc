"""The send API: reply in a conversation (text, media by URL or upload, WhatsApp templates, buttons, lists, quick
replies) and resend a failed message.

The handler stores the message and its outbox row; the request's session commits before the response goes out,
and only then is the outbox id published on ``work.outbound`` (a background task), so a worker never looks for a
row that is not committed. A publish that fails is harmless: the sender's sweeper re-publishes queued rows.
"""

from __future__ import annotations

import mimetypes
import uuid
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, Request, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from souk.bus.work import enqueue
from souk.core.auth import Ctx, agent
from souk.core.errors import Unprocessable, field_error, validation_errors
from souk.core.observability import log
from souk.messaging import outbound
from souk.messaging.api import render_messages
from souk.messaging.outbound import Queued, SendMessageIn, Upload
from souk.messaging.outbox_models import OutboundMessage
from souk.messaging.schemas import MessageOut

router = APIRouter(prefix="/api/v1", tags=["messages"])

#: form fields of a multipart send besides ``file``
FORM_FIELDS = frozenset({"type", "caption", "reply_to", "tag", "message_thread_id"})


class DeliveryOut(BaseModel):
    """Where the send stands in the outbox."""

    status: str = Field(description="queued, sending, sent or failed.", examples=["queued"])
    attempts: int = Field(description="Platform calls made so far.")
    next_attempt_at: datetime | None = Field(description="When a queued send is tried (again).")
    sent_at: datetime | None
    last_error: str | None = Field(description="The last platform error, also while a retry is pending.")
    last_error_code: str | None


class OutboundMessageOut(MessageOut):
    delivery: DeliveryOut


class TemplateOut(BaseModel):
    name: str = Field(examples=["order_update"])
    language: str = Field(examples=["en_US"])
    category: str | None = Field(examples=["UTILITY"])
    body: str | None = Field(description="The body text with its {{n}} placeholders.", examples=["Order {{1}} ships."])
    parameters: int = Field(description="How many body parameters a send must give.")


class TemplateList(BaseModel):
    items: list[TemplateOut] = Field(description="The approved templates; empty when none could be listed.")
    listed: bool = Field(
        description="False when the platform could not list them (no business account id, the platform is down): "
        "a send is then judged by the platform alone."
    )


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` references resolved in place (for a hand-written OpenAPI request body)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(dict(defs[ref.rsplit("/", 1)[1]]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


_UPLOAD_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The file (the platform's size limits apply)."},
        "type": {
            "type": "string",
            "enum": ["image", "video", "audio", "voice", "document", "sticker"],
            "description": "Defaults from the file's MIME type (image/*, video/*, audio/*, else document).",
        },
        "caption": {"type": "string"},
        "reply_to": {"type": "string"},
        "tag": {"type": "string", "enum": ["HUMAN_AGENT"]},
        "message_thread_id": {"type": "integer"},
    },
    "examples": [{"file": "blue-jacket.jpg", "type": "image", "caption": "The blue one, size L"}],
}

_SEND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": _inline(SendMessageIn.model_json_schema()),
                "examples": {
                    "text": {"value": {"text": "Yes, we have it in blue. Shall I reserve one?"}},
                    "image": {
                        "value": {"type": "image", "media": {"url": "https://shop.example/blue.jpg"}, "caption": "Blue"}
                    },
                    "template": {
                        "value": {
                            "template": {
                                "name": "order_update",
                                "language": "en_US",
                                "components": [{"type": "body", "parameters": [{"type": "text", "text": "#123"}]}],
                            }
                        }
                    },
                    "buttons": {
                        "value": {
                            "text": "Which size?",
                            "buttons": [{"id": "size_m", "title": "M"}, {"id": "size_l", "title": "L"}],
                        }
                    },
                },
            },
            "multipart/form-data": {"schema": _UPLOAD_SCHEMA},
        },
    }
}


def _validate(raw: dict[str, Any]) -> SendMessageIn:
    try:
        return SendMessageIn.model_validate(raw)
    except ValidationError as exc:
        errors = validation_errors(list(exc.errors()))
        raise Unprocessable("invalid fields: " + ", ".join(e["field"] for e in errors), errors=errors) from None


def _kind_of(mime: str) -> str:
    major = mime.split("/", 1)[0]
    return {"image": "image", "video": "video", "audio": "audio"}.get(major, "document")


async def read_send_request(request: Request) -> tuple[SendMessageIn, Upload | None, dict[str, Any]]:
    """The send, from a JSON body or a multipart upload; the raw fields are what the idempotency hash covers."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=len(FORM_FIELDS))
        file = form.get("file")
        fields = {k: v for k, v in form.multi_items() if k != "file" and isinstance(v, str)}
        unknown = sorted(set(fields) - FORM_FIELDS)
        if unknown:
            raise Unprocessable(
                "unknown form fields: " + ", ".join(unknown),
                errors=[field_error(name, "extra fields not permitted", "extra_forbidden") for name in unknown],
            )
        if not isinstance(file, UploadFile):
            raise Unprocessable("a multipart send needs a file", errors=[field_error("file", "required", "missing")])
        data = await file.read()
        filename = file.filename or "file"
        mime = (file.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream").split(";")[0]
        raw: dict[str, Any] = {"type": fields.get("type") or _kind_of(mime)}
        raw.update({k: v for k, v in fields.items() if k != "type" and v != ""})
        return _validate(raw), Upload(filename=filename, mime=mime, data=data), raw
    body = await request.body()
    if not body.strip():
        raise Unprocessable("the request has no body", errors=[field_error("body", "required", "missing")])
    try:
        raw = orjson.loads(body)
    except ValueError:
        raise Unprocessable(
            "the body is not valid JSON", errors=[field_error("body", "invalid JSON", "json_invalid")]
        ) from None
    if not isinstance(raw, dict):
        raise Unprocessable("the body must be a JSON object", errors=[field_error("body", "not an object")])
    return _validate(raw), None, raw


async def _publish(app: FastAPI, row_id: uuid.UUID, *, first: bool = True) -> None:
    """After the commit: wake the event publisher and hand the outbox row to the senders.

    A resend publishes the same row id again, so it must not be deduplicated against the first publish.
    """
    app.state.outbox_wake.set()
    try:
        await enqueue(app.state.bus, "outbound", str(row_id), dedup=first)
    except Exception as exc:  # the sender's sweeper publishes queued rows it finds unclaimed
        log.warning("could not publish an outbound message; the sweeper will", row=str(row_id), error=str(exc))


async def render(ctx: Ctx, queued: Queued) -> OutboundMessageOut:
    (message,) = await render_messages(ctx.session, [queued.message])
    return OutboundMessageOut(**message.model_dump(), delivery=_delivery(queued.outbox))


def _delivery(row: OutboundMessage) -> DeliveryOut:
    return DeliveryOut(
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == "queued" else None,
        sent_at=row.sent_at,
        last_error=row.last_error,
        last_error_code=row.last_error_code,
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    summary="Send a reply in a conversation (text, media, template, buttons, list, quick replies)",
    status_code=201,
    response_model=OutboundMessageOut,
    openapi_extra=_SEND_BODY,
    responses={
        201: {"description": "Stored as pending and queued; with the same Idempotency-Key, the first message."},
        404: {"description": "No such conversation (or another tenant's)"},
        422: {
            "description": "Empty or unsupported content, media too large, unknown template, closed window, "
            "inactive channel, or an Idempotency-Key reused with a different request"
        },
    },
)
async def send_message(
    conversation_id: uuid.UUID,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    ctx: Ctx = Depends(agent),
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes retries safe: the same key and request return the first message, never a second one.",
    ),
) -> OutboundMessageOut:
    body, upload, raw = await read_send_request(request)
    principal = ctx.principal
    queued = await outbound.queue_message(
        ctx.session,
        ctx.tenant_id,
        conversation_id,
        body,
        sender=outbound.Sender(principal.actor_type, str(principal.actor_id), principal.label),
        http=request.app.state.http,
        upload=upload,
        idempotency_key=idempotency_key,
        digest=outbound.request_hash(conversation_id, raw, upload) if idempotency_key else None,
    )
    if queued.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        background.add_task(_publish, request.app, queued.outbox.id)
    return await render(ctx, queued)


@router.get(
    "/conversations/{conversation_id}/templates",
    summary="The approved WhatsApp templates this conversation's channel can send",
    response_model=TemplateList,
    responses={404: {"description": "No such conversation (or another tenant's)"}},
)
async def list_templates(conversation_id: uuid.UUID, request: Request, ctx: Ctx = Depends(agent)) -> TemplateList:
    templates = await outbound.templates_for(ctx.session, conversation_id, http=request.app.state.http)
    if templates is None:
        return TemplateList(items=[], listed=False)
    return TemplateList(items=[TemplateOut(**t) for t in templates], listed=True)


@router.post(
    "/messages/{message_id}/resend",
    summary="Queue a failed outbound message again",
    response_model=OutboundMessageOut,
    responses={
        404: {"description": "No such message (or another tenant's)"},
        409: {"description": "The message is not a failed Souk send"},
        422: {"description": "The channel is inactive or the platform's window is closed"},
    },
)
async def resend_message(
    message_id: uuid.UUID, request: Request, background: BackgroundTasks, ctx: Ctx = Depends(agent)
) -> OutboundMessageOut:
    queued = await outbound.resend(ctx.session, message_id, http=request.app.state.http)
    background.add_task(_publish, request.app, queued.outbox.id, first=False)
    return await render(ctx, queued)
