"""WAHA history import (seed 004's ``ImportWAHAHistoryUseCase``): the WAHA chats API as a history source.

The workflow, its activities, progress and cancellation are shared with the other platforms in
:mod:`souk.workflows.history_import`; this module only knows how WAHA lists chats and pages through a chat's
messages (offset paging, the offset is the cursor; a short page is not the end, an empty one is) and parses them
with the webhook's own parser (:func:`souk.platforms.waha.parse.parse_wamessage`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from datetime import datetime

    import httpx

    from souk.channels.models import Channel
    from souk.platforms.waha.client import WAHAClient
    from souk.platforms.waha.parse import is_ignored_chat, parse_wamessage
    from souk.workflows.history_import import (
        RECENT_DAYS,
        RUNNING,
        STRATEGIES,
        BulkImportMessagesCommand,
        HistorySource,
        ImportActivities,
        Page,
        Plan,
        Progress,
        ThreadSlice,
        WAHAHistoryImportWorkflow,
        cancel_import,
        import_progress,
        start_import,
        task_queue,
    )

#: seed 004's name for the workflow input
WAHAHistoryImportWorkflowInput = BulkImportMessagesCommand
CHAT_PAGE = 100

__all__ = [
    "RECENT_DAYS",
    "RUNNING",
    "STRATEGIES",
    "ImportActivities",
    "Progress",
    "WAHAChatsSource",
    "WAHAHistoryImportWorkflow",
    "WAHAHistoryImportWorkflowInput",
    "cancel_import",
    "import_progress",
    "start_import",
    "task_queue",
]


def _client(channel: Channel, session_id: str, http: httpx.AsyncClient) -> WAHAClient:
    """The channel's WAHA client on the session the import was started for."""
    config = {**channel.config, "sessionID": session_id or channel.config.get("sessionID")}
    return WAHAClient(config, channel.secrets, http)


class WAHAChatsSource(HistorySource):
    channel_types: ClassVar[tuple[str, ...]] = ("waha",)

    async def threads(
        self, channel: Channel, inp: BulkImportMessagesCommand, since: datetime | None, http: httpx.AsyncClient
    ) -> Plan:
        client = _client(channel, inp.SessionID, http)
        session_info = await client.get_session()
        chat_ids: list[str] = []
        offset = 0
        while True:
            page = await client.list_chats(limit=CHAT_PAGE, offset=offset)
            if not page:  # only an empty page ends the list: WAHA's filters can answer short pages mid-list
                break
            chat_ids += [c["id"] for c in page if c.get("id") and not is_ignored_chat(c["id"])]
            offset += CHAT_PAGE
            activity.heartbeat(offset)
        me = session_info.get("me") if isinstance(session_info.get("me"), dict) else None
        return Plan(chat_ids, me, None)

    async def page(
        self,
        channel: Channel,
        part: ThreadSlice,
        cursor: str,
        since: datetime | None,
        http: httpx.AsyncClient,
    ) -> Page:
        offset = int(cursor or 0)
        client = _client(channel, part.inp.SessionID, http)
        items = await client.list_chat_messages(part.thread_id, limit=part.inp.Limit, offset=offset, since=since)
        parsed: list[Any] = []
        errors: list[str] = []
        for item in items:
            try:
                parsed.append(parse_wamessage(item, me=part.me))
            except (ValueError, KeyError, TypeError) as exc:
                errors.append(f"{part.thread_id}: message {item.get('id')!r} unreadable: {exc}")
        # WAHA (NOWEB's filters) can answer a short page in the middle of a chat: only an empty page ends it, and the
        # next page starts ``Limit`` further on whatever came back (protocols.md, WAHA paging)
        return Page(parsed, len(items), None if not items else str(offset + part.inp.Limit), errors)
