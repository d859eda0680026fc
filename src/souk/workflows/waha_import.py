"""WAHA history import as a Temporal workflow (seed 004's ``ImportWAHAHistoryUseCase``).

Steps: validate the channel is WAHA and list its chats; page through each chat's messages in batches of ``Limit``
and apply every message with :func:`souk.messaging.ingest.apply` (the normalizer live webhooks use, keyed on the
message's external id, so a message that also arrives live is stored once); mark the channel ``importCompleted``;
return a summary. Durability: each chat activity heartbeats the paging offset after every committed batch, so a
worker killed mid-import resumes from the last completed batch, and re-applying a batch changes nothing.

Strategies (``Strategy``):

* ``none``: import nothing; the channel is only marked as imported.
* ``new_only``: messages since the previous import finished, or since the channel was created on the first run
  (what arrived while webhooks were not yet wired).
* ``recent``: messages of the last :data:`RECENT_DAYS` days.
* ``all``: every message WAHA has.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError, is_cancelled_exception
from temporalio.service import RPCError, RPCStatusCode

with workflow.unsafe.imports_passed_through():
    import uuid
    from datetime import UTC, datetime

    import httpx
    from sqlalchemy.exc import SQLAlchemyError

    from souk.channels.models import Channel, ChannelType
    from souk.channels.service import event_payload, get_channel
    from souk.core import events
    from souk.core.errors import Conflict, NotFound
    from souk.db.engine import Database
    from souk.db.types import utcnow
    from souk.messaging import ingest
    from souk.platforms.plugin import PlatformError
    from souk.platforms.waha.client import WAHAClient
    from souk.platforms.waha.parse import is_ignored_chat, parse_wamessage

STRATEGIES = ("none", "new_only", "all", "recent")
RECENT_DAYS = 30
#: batches one chat activity commits before it reports back (progress granularity for long chats)
BATCHES_PER_ACTIVITY = 10
CHAT_PAGE = 100
MAX_ERRORS_KEPT = 20
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
#: a query needs a live worker: without one the progress route answers from Temporal's description instead
QUERY_TIMEOUT = timedelta(seconds=5)


@dataclass
class WAHAHistoryImportWorkflowInput:
    """Seed 004's workflow input, field names as the seed writes them. ``Limit`` is the batch size."""

    ChannelID: str
    SessionID: str
    Strategy: str
    Limit: int
    ProjectID: str
    TenantID: str
    UserID: str = ""


@dataclass
class Plan:
    chat_ids: list[str]
    me: dict[str, Any] | None
    since_ts: int | None


@dataclass
class ChatSlice:
    inp: WAHAHistoryImportWorkflowInput
    chat_id: str
    offset: int
    me: dict[str, Any] | None
    since_ts: int | None


@dataclass
class SliceResult:
    next_offset: int | None  # None: the chat is done
    seen: int
    imported: int
    errors: list[str] = field(default_factory=list)


@dataclass
class Progress:
    workflow_id: str
    state: str = "running"  # running, completed, cancelled, failed
    strategy: str = ""
    chats_done: int = 0
    chats_total: int | None = None
    messages_done: int = 0
    messages_imported: int = 0
    messages_total: int | None = None  # WAHA gives no per-chat count: known once every chat is paged
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    started_at: str | None = None
    finished_at: str | None = None


@dataclass
class Finish:
    inp: WAHAHistoryImportWorkflowInput
    progress: Progress


# -- activities -------------------------------------------------------------------------------------------------


class ImportActivities:
    """Activities bound to a worker's database and HTTP client."""

    def __init__(self, db: Database, http: httpx.AsyncClient) -> None:
        self.db = db
        self.http = http

    async def _channel(self, session: Any, inp: WAHAHistoryImportWorkflowInput) -> Channel:
        channel = await get_channel(session, uuid.UUID(inp.ChannelID))
        if channel.channel_type != ChannelType.waha:
            raise ApplicationError(f"channel {inp.ChannelID} is not a WAHA channel", non_retryable=True)
        return channel

    def _client(self, channel: Channel, session_id: str) -> WAHAClient:
        """The channel's WAHA client on the session the import was started for."""
        config = {**channel.config, "sessionID": session_id or channel.config.get("sessionID")}
        return WAHAClient(config, channel.secrets, self.http)

    @activity.defn(name="waha_import_prepare")
    async def prepare(self, inp: WAHAHistoryImportWorkflowInput) -> Plan:
        """Validate the channel, list its chats, and turn the strategy into a lower time bound."""
        async with self.db.tenant_session(uuid.UUID(inp.TenantID)) as session:
            channel = await self._channel(session, inp)
            client = self._client(channel, inp.SessionID)
            since: datetime | None = None
            if inp.Strategy == "recent":
                since = utcnow() - timedelta(days=RECENT_DAYS)
            elif inp.Strategy == "new_only":
                until = channel.config.get("importedUntil")
                since = datetime.fromisoformat(until) if until else channel.created_at
            events.emit(
                session,
                channel.tenant_id,
                "channel.history_import.started",
                {**event_payload(channel), "workflow_id": activity.info().workflow_id, "strategy": inp.Strategy},
            )
        if inp.Strategy == "none":
            return Plan([], None, None)
        session_info = await client.get_session()
        chat_ids: list[str] = []
        offset = 0
        while True:
            page = await client.list_chats(limit=CHAT_PAGE, offset=offset)
            chat_ids += [c["id"] for c in page if c.get("id") and not is_ignored_chat(c["id"])]
            if len(page) < CHAT_PAGE:
                break
            offset += CHAT_PAGE
            activity.heartbeat(offset)
        me = session_info.get("me") if isinstance(session_info.get("me"), dict) else None
        return Plan(list(dict.fromkeys(chat_ids)), me, int(since.timestamp()) if since else None)

    @activity.defn(name="waha_import_chat")
    async def import_chat(self, part: ChatSlice) -> SliceResult:
        """Up to :data:`BATCHES_PER_ACTIVITY` batches of one chat, each committed, then heartbeated as the cursor."""
        details = activity.info().heartbeat_details  # (offset, seen, imported) of a killed attempt
        offset = int(details[0]) if details else part.offset
        result = SliceResult(next_offset=offset, seen=int(details[1]) if details else 0, imported=0)
        result.imported = int(details[2]) if details else 0
        tenant_id = uuid.UUID(part.inp.TenantID)
        async with self.db.tenant_session(tenant_id) as session:
            client = self._client(await self._channel(session, part.inp), part.inp.SessionID)
        since = datetime.fromtimestamp(part.since_ts, tz=UTC) if part.since_ts else None
        for _ in range(BATCHES_PER_ACTIVITY):
            try:
                page = await client.list_chat_messages(part.chat_id, limit=part.inp.Limit, offset=offset, since=since)
            except PlatformError as exc:
                if not exc.retryable:
                    raise ApplicationError(str(exc), non_retryable=True) from exc
                raise
            await self._apply_batch(tenant_id, part, page, result)
            offset += len(page)
            activity.heartbeat(offset, result.seen, result.imported)
            if len(page) < part.inp.Limit:
                result.next_offset = None
                return result
            result.next_offset = offset
        return result

    async def _apply_batch(
        self, tenant_id: uuid.UUID, part: ChatSlice, page: list[dict[str, Any]], result: SliceResult
    ) -> None:
        """One transaction per batch; if it fails, message by message so one bad message costs only itself."""
        events_ = []
        for item in page:
            try:
                events_.append(parse_wamessage(item, me=part.me))
            except (ValueError, KeyError, TypeError) as exc:
                result.errors.append(f"{part.chat_id}: message {item.get('id')!r} unreadable: {exc}")
        result.seen += len(page)
        try:
            applied = ingest.Applied()
            async with self.db.tenant_session(tenant_id) as session:
                channel = await self._channel(session, part.inp)
                for ev in events_:
                    await ingest.apply(session, channel, ev, inbound_event_id=None, applied=applied)
            result.imported += applied.messages_created
            return
        except (SQLAlchemyError, ingest.SubEventFailed):
            pass
        for ev in events_:
            try:
                applied = ingest.Applied()
                async with self.db.tenant_session(tenant_id) as session:
                    channel = await self._channel(session, part.inp)
                    await ingest.apply(session, channel, ev, inbound_event_id=None, applied=applied)
                result.imported += applied.messages_created
            except (SQLAlchemyError, ingest.SubEventFailed) as exc:
                result.errors.append(f"{part.chat_id}: message {getattr(ev, 'external_id', '?')}: {exc}")

    @activity.defn(name="waha_import_finish")
    async def finish(self, done: Finish) -> None:
        """Record the outcome on the channel; ``importCompleted`` only when the import ran to its end."""
        inp, progress = done.inp, done.progress
        async with self.db.tenant_session(uuid.UUID(inp.TenantID)) as session:
            channel = await self._channel(session, inp)
            config = dict(channel.config or {})
            config["importStrategy"] = inp.Strategy
            config["lastImport"] = {
                "workflow_id": progress.workflow_id,
                "state": progress.state,
                "messages_imported": progress.messages_imported,
                "finished_at": progress.finished_at,
            }
            if progress.state == "completed":
                config["importCompleted"] = True
                config["importedUntil"] = progress.started_at
            channel.config = config
            channel.updated_at = utcnow()
            events.emit(
                session,
                channel.tenant_id,
                "channel.history_import.finished",
                {**event_payload(channel), **_summary(progress)},
            )


def _summary(progress: Progress) -> dict[str, Any]:
    return {
        "workflow_id": progress.workflow_id,
        "state": progress.state,
        "chats": progress.chats_done,
        "messages_seen": progress.messages_done,
        "messages_imported": progress.messages_imported,
        "errors": progress.error_count,
    }


# -- workflow ---------------------------------------------------------------------------------------------------


@workflow.defn(name="WAHAHistoryImport")
class WAHAHistoryImportWorkflow:
    def __init__(self) -> None:
        self.progress = Progress(workflow_id="")

    @workflow.query(name="progress")
    def get_progress(self) -> Progress:
        return self.progress

    @workflow.run
    async def run(self, inp: WAHAHistoryImportWorkflowInput) -> Progress:
        info = workflow.info()
        self.progress = Progress(workflow_id=info.workflow_id, strategy=inp.Strategy)
        self.progress.started_at = workflow.now().isoformat()
        short = {"start_to_close_timeout": timedelta(minutes=5), "retry_policy": RetryPolicy(maximum_attempts=5)}
        try:
            plan: Plan = await workflow.execute_activity(
                "waha_import_prepare", inp, result_type=Plan, heartbeat_timeout=timedelta(minutes=1), **short
            )
            self.progress.chats_total = len(plan.chat_ids)
            for chat_id in plan.chat_ids:
                offset: int | None = 0
                while offset is not None:
                    part = ChatSlice(inp, chat_id, offset, plan.me, plan.since_ts)
                    result: SliceResult = await workflow.execute_activity(
                        "waha_import_chat",
                        part,
                        result_type=SliceResult,
                        start_to_close_timeout=timedelta(minutes=30),
                        heartbeat_timeout=HEARTBEAT_TIMEOUT,
                        retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
                    )
                    self._count(result)
                    offset = result.next_offset
                self.progress.chats_done += 1
            self.progress.state = "completed"
            self.progress.messages_total = self.progress.messages_done
        except (asyncio.CancelledError, Exception) as exc:
            # a cancel reaches the workflow as CancelledError, or as the cancelled activity's ActivityError
            self.progress.state = "cancelled" if is_cancelled_exception(exc) else "failed"
            if self.progress.state == "failed":
                self._error(str(exc.__cause__ or exc))
            await self._finish(inp, short)
            raise
        await self._finish(inp, short)
        return self.progress

    def _count(self, result: SliceResult) -> None:
        self.progress.messages_done += result.seen
        self.progress.messages_imported += result.imported
        for error in result.errors:
            self._error(error)

    def _error(self, error: str) -> None:
        self.progress.error_count += 1
        if len(self.progress.errors) < MAX_ERRORS_KEPT:
            self.progress.errors.append(error)

    async def _finish(self, inp: WAHAHistoryImportWorkflowInput, options: dict[str, Any]) -> None:
        self.progress.finished_at = workflow.now().isoformat()
        await workflow.execute_activity("waha_import_finish", Finish(inp, self.progress), **options)


# -- starting and watching (API and CLI side) -------------------------------------------------------------------

DEFAULT_TASK_QUEUE = "souk"
RUNNING = "running"


def task_queue() -> str:
    """``souk``; ``SOUK_TEMPORAL_TASK_QUEUE`` overrides it so installations (or test runs) sharing one Temporal
    server do not take each other's tasks."""
    return os.environ.get("SOUK_TEMPORAL_TASK_QUEUE") or DEFAULT_TASK_QUEUE


def workflow_prefix(channel_id: uuid.UUID | str) -> str:
    return f"waha-import-{channel_id}-"


async def running_import(client: Client, channel: Channel) -> str | None:
    """The id of this channel's import that is still running, if any."""
    last = (channel.config or {}).get("importWorkflowId")
    if not last:
        return None
    try:
        description = await client.get_workflow_handle(last).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return last if description.status == WorkflowExecutionStatus.RUNNING else None


async def start_import(
    client: Client, channel: Channel, strategy: str, limit: int, *, user_id: uuid.UUID | None
) -> str:
    """Start ``waha-import-<channel>-<n>``; :class:`Conflict` naming the running one when an import runs."""
    running = await running_import(client, channel)
    if running:
        raise Conflict(f"a history import is already running: {running}", workflow_id=running)
    config = dict(channel.config or {})
    n = int(config.get("importRuns") or 0) + 1
    workflow_id = f"{workflow_prefix(channel.id)}{n}"
    inp = WAHAHistoryImportWorkflowInput(
        ChannelID=str(channel.id),
        SessionID=str(config.get("sessionID") or ""),
        Strategy=strategy,
        Limit=limit,
        ProjectID=str(channel.project_id),
        TenantID=str(channel.tenant_id),
        UserID=str(user_id or ""),
    )
    try:
        await client.start_workflow(WAHAHistoryImportWorkflow.run, inp, id=workflow_id, task_queue=task_queue())
    except WorkflowAlreadyStartedError:
        raise Conflict(f"a history import is already running: {workflow_id}", workflow_id=workflow_id) from None
    config.update(importRuns=n, importWorkflowId=workflow_id, importStrategy=strategy)
    channel.config = config
    channel.updated_at = utcnow()
    return workflow_id


_CLOSED = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
}


async def import_progress(client: Client, channel: Channel, workflow_id: str) -> Progress:
    """The import's progress from its ``progress`` query; the state follows Temporal's view of the workflow."""
    if not workflow_id.startswith(workflow_prefix(channel.id)):
        raise NotFound("no such import for this channel")
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound("no such import for this channel") from None
        raise
    try:
        progress = await handle.query(WAHAHistoryImportWorkflow.get_progress, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):
        progress = Progress(workflow_id=workflow_id)
        progress.started_at = description.start_time.isoformat() if description.start_time else None
        progress.finished_at = description.close_time.isoformat() if description.close_time else None
    if description.status in _CLOSED:
        progress.state = _CLOSED[description.status]
    elif progress.state != RUNNING and description.status == WorkflowExecutionStatus.RUNNING:
        progress.state = RUNNING  # e.g. "cancelled" set while the finish activity still runs
    return progress


async def cancel_import(client: Client, channel: Channel, workflow_id: str) -> Progress:
    """Ask the import to stop: the current batch ends, the channel records ``cancelled``; idempotent."""
    progress = await import_progress(client, channel, workflow_id)
    if progress.state == RUNNING:
        await client.get_workflow_handle(workflow_id).cancel()
        progress.state = "cancelling"
    return progress
