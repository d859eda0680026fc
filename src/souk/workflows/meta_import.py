"""Messenger and Instagram history import (seed 004's suggested ``BulkImportMessagesCommand``): the Graph API's
Conversations API as a history source.

Threads are the Page's conversations on the channel's platform (``platform=messenger|instagram``); a thread's
pages are its messages, newest first, and the cursor is Graph's ``after`` cursor. Messages are parsed by
:func:`souk.platforms.meta.conversations.parse_graph_message` into the same canonical Message a webhook gives
(same ``mid``), so the shared workflow in :mod:`souk.workflows.history_import` stores each once.
"""

from __future__ import annotations

from typing import ClassVar

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from datetime import datetime

    import httpx

    from souk.channels.models import Channel
    from souk.channels.service import client_for
    from souk.platforms.base import Event
    from souk.platforms.meta import conversations as graph_history
    from souk.platforms.meta.send_api import SendAPIClient
    from souk.platforms.plugin import PlatformError
    from souk.workflows.history_import import BulkImportMessagesCommand, HistorySource, Page, Plan, ThreadSlice

CONVERSATION_PAGE = 100
#: Graph caps page sizes; a larger batch is read as several pages
GRAPH_MAX_LIMIT = 100


def _client(channel: Channel, http: httpx.AsyncClient) -> SendAPIClient:
    client = client_for(channel, http)
    if not isinstance(client, SendAPIClient):
        raise PlatformError(f"{channel.channel_type} has no Conversations API", code="not_supported")
    return client


class GraphConversationsSource(HistorySource):
    channel_types: ClassVar[tuple[str, ...]] = ("messenger", "instagram")

    async def threads(
        self, channel: Channel, inp: BulkImportMessagesCommand, since: datetime | None, http: httpx.AsyncClient
    ) -> Plan:
        client = _client(channel, http)
        graph, platform = client.graph, str(channel.channel_type)
        ids: list[str] = []
        after: str | None = None
        while True:
            page = await graph_history.list_conversations(
                graph, client.history_node, platform, limit=CONVERSATION_PAGE, after=after
            )
            for conversation in page.items:
                updated = conversation.get("updated_time")
                if since is not None and updated and graph_history.graph_time(updated) < since:
                    continue  # nothing new in it (the list is by update time, but a skip is cheaper than trust)
                if conversation.get("id"):
                    ids.append(str(conversation["id"]))
            if page.after is None:
                break
            after = page.after
            activity.heartbeat(after)
        return Plan(ids, None, None)

    async def page(
        self,
        channel: Channel,
        part: ThreadSlice,
        cursor: str,
        since: datetime | None,
        http: httpx.AsyncClient,
    ) -> Page:
        client = _client(channel, http)
        page = await graph_history.list_messages(
            client.graph, part.thread_id, limit=min(part.inp.Limit, GRAPH_MAX_LIMIT), after=cursor or None
        )
        parsed: list[Event] = []
        errors: list[str] = []
        older = False
        for item in page.items:
            try:
                message = graph_history.parse_graph_message(item, business_ids=client.business_ids, thread_id=None)
            except (ValueError, KeyError, TypeError) as exc:
                errors.append(f"{part.thread_id}: message {item.get('id')!r} unreadable: {exc}")
                continue
            if since is not None and message.timestamp < since:
                older = True  # newest first: the rest of the conversation is older still
                continue
            parsed.append(message)
        done = older or page.after is None
        return Page(parsed, len(parsed) + len(errors), None if done else page.after, errors)
