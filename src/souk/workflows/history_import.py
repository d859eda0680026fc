"""History import as a Temporal workflow, shared by every platform whose API gives message history.

Seed 004 describes the WAHA import (``ImportWAHAHistoryUseCase``) and suggests a generic
``BulkImportMessagesCommand``; both are this one workflow. The shape is the same for every platform:

1. ``prepare``: validate the channel, list its threads (WAHA chats, Graph conversations) and turn the strategy
   into a lower time bound;
2. per thread, ``import_slice`` activities that read up to :data:`BATCHES_PER_ACTIVITY` pages of ``Limit``
   messages, apply each page in one transaction with :func:`souk.messaging.ingest.apply` (the normalizer live
   webhooks use, keyed on the message's external id, so a message that also arrives live is stored once) and
   heartbeat the paging cursor after every committed page, so a worker killed mid-import resumes from the last
   completed batch and re-applying a batch changes nothing;
3. ``finish``: record the outcome on the channel (``importCompleted`` only when the import ran to its end).

What differs per platform (how threads are listed, how a page of messages is read and parsed, what the cursor is)
is a :class:`HistorySource`, registered for its channel types in :data:`SOURCES`. The workflow type names the
command: ``WAHAHistoryImport`` for WAHA, ``BulkImportMessages`` for the others; ids are
``<channel_type>-import-<channel_id>-<n>``.

Strategies (``Strategy``):

* ``none``: import nothing; the channel is only marked as imported.
* ``new_only``: messages since the previous import finished, or since the channel was created on the first run
  (what arrived while webhooks were not yet wired).
* ``recent``: messages of the last :data:`RECENT_DAYS` days.
* ``all``: every message the platform gives.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

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

    from souk.channels.models import Channel
    from souk.channels.service import event_payload, get_channel
    from souk.core import events
    from souk.core.errors import Conflict, NotFound
    from souk.db.engine import Database
    from souk.db.types import utcnow
    from souk.messaging import ingest
    from souk.platforms.base import Event
    from souk.platforms.plugin import PlatformError

STRATEGIES = ("none", "new_only", "all", "recent")
RECENT_DAYS = 30
#: pages one slice activity commits before it reports back (progress granularity for long threads)
BATCHES_PER_ACTIVITY = 10
MAX_ERRORS_KEPT = 20
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
#: a query needs a live worker: without one the progress route answers from Temporal's description instead
QUERY_TIMEOUT = timedelta(seconds=5)
RUNNING = "running"
DEFAULT_TASK_QUEUE = "souk"


@dataclass
class BulkImportMessagesCommand:
    """Seed 004's workflow input (``WAHAHistoryImportWorkflowInput``), field names as the seed writes them.

    ``Limit`` is the batch size (seed: "messages per batch"); ``SessionID`` is the WAHA session (empty elsewhere).
    """

    ChannelID: str
    SessionID: str
    Strategy: str
    Limit: int
    ProjectID: str
    TenantID: str
    UserID: str = ""


@dataclass
class Plan:
    threads: list[str]
    me: dict[str, Any] | None  # the business side as the platform names it (WAHA's ``me``), when it matters
    since_ts: int | None


@dataclass
class ThreadSlice:
    inp: BulkImportMessagesCommand
    thread_id: str
    cursor: str  # "" = the thread's first page; otherwise the source's own paging cursor
    me: dict[str, Any] | None
    since_ts: int | None


@dataclass
class SliceResult:
    next_cursor: str | None  # None: the thread is done
    seen: int
    imported: int
    errors: list[str] = field(default_factory=list)


@dataclass
class Progress:
    workflow_id: str
    state: str = RUNNING  # running, completed, cancelled, failed
    strategy: str = ""
    chats_done: int = 0  # threads: WAHA chats, Graph conversations
    chats_total: int | None = None
    messages_done: int = 0
    messages_imported: int = 0
    messages_total: int | None = None  # no platform gives a count worth trusting: known once every thread is paged
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    started_at: str | None = None
    finished_at: str | None = None


@dataclass
class Finish:
    inp: BulkImportMessagesCommand
    progress: Progress


@dataclass
class Page:
    """One page of a thread as a source read it: the events to apply, how many items were read, the items that
    could not be understood, and the cursor of the next page (None: the thread is done)."""

    events: list[Event]
    seen: int
    next_cursor: str | None
    errors: list[str] = field(default_factory=list)


class HistorySource:
    """How one platform's history is read. Sources know HTTP and parsing, never the database."""

    channel_types: ClassVar[tuple[str, ...]] = ()

    async def threads(
        self, channel: Channel, inp: BulkImportMessagesCommand, since: datetime | None, http: httpx.AsyncClient
    ) -> Plan:
        """The threads to import; those with nothing after ``since`` may be left out (``since_ts`` is filled in by
        the caller)."""
        raise NotImplementedError

    async def page(
        self,
        channel: Channel,
        part: ThreadSlice,
        cursor: str,
        since: datetime | None,
        http: httpx.AsyncClient,
    ) -> Page:
        raise NotImplementedError


def source_for(channel_type: str) -> HistorySource | None:
    from souk.workflows.meta_import import GraphConversationsSource
    from souk.workflows.waha_import import WAHAChatsSource

    for source in (WAHAChatsSource(), GraphConversationsSource()):
        if channel_type in source.channel_types:
            return source
    return None


# -- activities -------------------------------------------------------------------------------------------------


class ImportActivities:
    """Activities bound to a worker's database and HTTP client; the channel's type picks the source."""

    def __init__(self, db: Database, http: httpx.AsyncClient) -> None:
        self.db = db
        self.http = http

    async def _channel(self, session: Any, inp: BulkImportMessagesCommand) -> tuple[Channel, HistorySource]:
        channel = await get_channel(session, uuid.UUID(inp.ChannelID))
        source = source_for(channel.channel_type)
        if source is None:
            raise ApplicationError(
                f"channel {inp.ChannelID} ({channel.channel_type}) has no history to import", non_retryable=True
            )
        return channel, source

    @activity.defn(name="history_import_prepare")
    async def prepare(self, inp: BulkImportMessagesCommand) -> Plan:
        """Validate the channel, list its threads, and turn the strategy into a lower time bound."""
        async with self.db.tenant_session(uuid.UUID(inp.TenantID)) as session:
            channel, source = await self._channel(session, inp)
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
        try:
            plan = await source.threads(channel, inp, since, self.http)
        except PlatformError as exc:
            if not exc.retryable:
                raise ApplicationError(str(exc), non_retryable=True) from exc
            raise
        plan.threads = list(dict.fromkeys(plan.threads))
        plan.since_ts = int(since.timestamp()) if since else None
        return plan

    @activity.defn(name="history_import_slice")
    async def import_slice(self, part: ThreadSlice) -> SliceResult:
        """Up to :data:`BATCHES_PER_ACTIVITY` pages of one thread, each committed, then heartbeated as the cursor."""
        details = activity.info().heartbeat_details  # (cursor, seen, imported) of a killed attempt
        cursor = str(details[0]) if details else part.cursor
        result = SliceResult(next_cursor=cursor, seen=int(details[1]) if details else 0, imported=0)
        result.imported = int(details[2]) if details else 0
        tenant_id = uuid.UUID(part.inp.TenantID)
        async with self.db.tenant_session(tenant_id) as session:
            channel, source = await self._channel(session, part.inp)
        since = datetime.fromtimestamp(part.since_ts, tz=UTC) if part.since_ts else None
        committed = [cursor, result.seen, result.imported]  # what the heartbeat says: the last committed page
        alive = asyncio.create_task(_keep_heartbeating(committed))
        try:
            for _ in range(BATCHES_PER_ACTIVITY):
                try:
                    page = await source.page(channel, part, cursor, since, self.http)
                except PlatformError as exc:
                    if not exc.retryable:
                        raise ApplicationError(str(exc), non_retryable=True) from exc
                    raise
                result.errors += page.errors
                result.seen += page.seen
                # a cancel comes with the answer to any heartbeat, the background ones too: it must never cut a
                # batch's transaction in half (an interrupted SQLite transaction can keep the write lock)
                await asyncio.shield(self._apply_batch(tenant_id, part, page.events, result))
                if page.next_cursor is None:
                    activity.heartbeat(cursor, result.seen, result.imported)
                    result.next_cursor = None
                    return result
                cursor = page.next_cursor
                committed[:] = [cursor, result.seen, result.imported]
                activity.heartbeat(*committed)
                result.next_cursor = cursor
            return result
        finally:
            alive.cancel()

    async def _apply_batch(
        self, tenant_id: uuid.UUID, part: ThreadSlice, batch: list[Event], result: SliceResult
    ) -> None:
        """One transaction per batch; if it fails, message by message so one bad message costs only itself."""
        with events.history_import():  # the events say "imported": no rule or bot answers months-old messages
            try:
                applied = ingest.Applied()
                async with self.db.tenant_session(tenant_id) as session:
                    channel, _ = await self._channel(session, part.inp)
                    for ev in batch:
                        await ingest.apply(session, channel, ev, inbound_event_id=None, applied=applied)
                result.imported += applied.messages_created
                return
            except (SQLAlchemyError, ingest.SubEventFailed):
                pass
            for ev in batch:
                try:
                    applied = ingest.Applied()
                    async with self.db.tenant_session(tenant_id) as session:
                        channel, _ = await self._channel(session, part.inp)
                        await ingest.apply(session, channel, ev, inbound_event_id=None, applied=applied)
                    result.imported += applied.messages_created
                except (SQLAlchemyError, ingest.SubEventFailed) as exc:
                    result.errors.append(f"{part.thread_id}: message {getattr(ev, 'external_id', '?')}: {exc}")

    @activity.defn(name="history_import_finish")
    async def finish(self, done: Finish) -> None:
        """Record the outcome on the channel; ``importCompleted`` only when the import ran to its end."""
        inp, progress = done.inp, done.progress
        async with self.db.tenant_session(uuid.UUID(inp.TenantID)) as session:
            channel, _ = await self._channel(session, inp)
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

    def all(self) -> list[Any]:
        return [self.prepare, self.import_slice, self.finish]


def _summary(progress: Progress) -> dict[str, Any]:
    return {
        "workflow_id": progress.workflow_id,
        "state": progress.state,
        "chats": progress.chats_done,
        "messages_seen": progress.messages_done,
        "messages_imported": progress.messages_imported,
        "errors": progress.error_count,
    }


# -- workflows --------------------------------------------------------------------------------------------------


class HistoryImport:
    """The import's steps; each workflow type below is this with its own name."""

    def __init__(self) -> None:
        self.progress = Progress(workflow_id="")

    async def _run(self, inp: BulkImportMessagesCommand) -> Progress:
        info = workflow.info()
        self.progress = Progress(workflow_id=info.workflow_id, strategy=inp.Strategy)
        self.progress.started_at = workflow.now().isoformat()
        short = {"start_to_close_timeout": timedelta(minutes=5), "retry_policy": RetryPolicy(maximum_attempts=5)}
        try:
            plan: Plan = await workflow.execute_activity(
                "history_import_prepare", inp, result_type=Plan, heartbeat_timeout=timedelta(minutes=1), **short
            )
            self.progress.chats_total = len(plan.threads)
            for thread_id in plan.threads:
                cursor: str | None = ""
                while cursor is not None:
                    part = ThreadSlice(inp, thread_id, cursor, plan.me, plan.since_ts)
                    result: SliceResult = await workflow.execute_activity(
                        "history_import_slice",
                        part,
                        result_type=SliceResult,
                        start_to_close_timeout=timedelta(minutes=30),
                        heartbeat_timeout=HEARTBEAT_TIMEOUT,
                        retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
                    )
                    self._count(result)
                    cursor = result.next_cursor
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

    async def _finish(self, inp: BulkImportMessagesCommand, options: dict[str, Any]) -> None:
        self.progress.finished_at = workflow.now().isoformat()
        await workflow.execute_activity("history_import_finish", Finish(inp, self.progress), **options)


@workflow.defn(name="WAHAHistoryImport")
class WAHAHistoryImportWorkflow(HistoryImport):
    """Seed 004's ``ImportWAHAHistoryUseCase``: the WAHA chats API."""

    @workflow.query(name="progress")
    def get_progress(self) -> Progress:
        return self.progress

    @workflow.run
    async def run(self, inp: BulkImportMessagesCommand) -> Progress:
        return await self._run(inp)


@workflow.defn(name="BulkImportMessages")
class BulkImportMessagesWorkflow(HistoryImport):
    """Seed 004's suggested ``BulkImportMessagesCommand``: Messenger and Instagram through the Graph API's
    conversations endpoint."""

    @workflow.query(name="progress")
    def get_progress(self) -> Progress:
        return self.progress

    @workflow.run
    async def run(self, inp: BulkImportMessagesCommand) -> Progress:
        return await self._run(inp)


WORKFLOWS = [WAHAHistoryImportWorkflow, BulkImportMessagesWorkflow]


# -- starting and watching (API and CLI side) -------------------------------------------------------------------


def task_queue() -> str:
    """``souk``; ``SOUK_TEMPORAL_TASK_QUEUE`` overrides it so installations (or test runs) sharing one Temporal
    server do not take each other's tasks."""
    return os.environ.get("SOUK_TEMPORAL_TASK_QUEUE") or DEFAULT_TASK_QUEUE


def supports_import(channel_type: str) -> bool:
    return source_for(channel_type) is not None


def workflow_prefix(channel: Channel) -> str:
    return f"{channel.channel_type}-import-{channel.id}-"


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
    """Start ``<type>-import-<channel>-<n>``; :class:`Conflict` naming the running one when an import runs."""
    running = await running_import(client, channel)
    if running:
        raise Conflict(f"a history import is already running: {running}", workflow_id=running)
    config = dict(channel.config or {})
    n = int(config.get("importRuns") or 0) + 1
    workflow_id = f"{workflow_prefix(channel)}{n}"
    inp = BulkImportMessagesCommand(
        ChannelID=str(channel.id),
        SessionID=str(config.get("sessionID") or "") if channel.channel_type == "waha" else "",
        Strategy=strategy,
        Limit=limit,
        ProjectID=str(channel.project_id),
        TenantID=str(channel.tenant_id),
        UserID=str(user_id or ""),
    )
    run = WAHAHistoryImportWorkflow.run if channel.channel_type == "waha" else BulkImportMessagesWorkflow.run
    try:
        await client.start_workflow(run, inp, id=workflow_id, task_queue=task_queue())
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
    if not workflow_id.startswith(workflow_prefix(channel)):
        raise NotFound("no such import for this channel")
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound("no such import for this channel") from None
        raise
    try:
        progress = await handle.query("progress", result_type=Progress, rpc_timeout=QUERY_TIMEOUT)
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


async def _keep_heartbeating(committed: list[Any]) -> None:
    """Heartbeat the last committed cursor every third of :data:`HEARTBEAT_TIMEOUT` while a slice runs.

    A page that takes long (a busy database waiting for its write lock, a slow platform) is not a dead worker: with
    heartbeats only after each page, such a page let the heartbeat time out and the server started the slice again
    beside the one still running. Only a worker that is gone (killed, its loop stuck) now misses its heartbeats.
    """
    while True:
        await asyncio.sleep(HEARTBEAT_TIMEOUT.total_seconds() / 3)
        activity.heartbeat(*committed)
