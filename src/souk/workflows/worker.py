"""The Temporal worker as a Souk worker task: runs Souk's workflows and activities while the worker runs.

The task queue is :func:`souk.workflows.history_import.task_queue`. While Temporal is unreachable the task waits and
tries again instead of crashing the worker: Temporal is only needed for history imports.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from souk import __version__
from souk.channels import waha as _waha_sessions  # noqa: F401 - registers the "waha-sessions" task
from souk.core.observability import log
from souk.worker import WorkerContext, register
from souk.workflows.history_import import WORKFLOWS, ImportActivities, task_queue

RECONNECT_SECONDS = (1.0, 30.0)


async def _connect(ctx: WorkerContext) -> Client | None:
    """A Temporal client, retrying with backoff until it connects or the worker stops."""
    address = ctx.settings.temporal_address or "127.0.0.1:7233"
    delay, warned = RECONNECT_SECONDS[0], False
    while not ctx.stopping.is_set():
        try:
            return await asyncio.wait_for(Client.connect(address, namespace=ctx.settings.temporal_namespace), 5.0)
        except Exception as exc:  # any connection failure: Temporal is optional until an import starts
            if not warned:
                log.warning("Temporal unreachable; history imports wait for it", address=address, error=str(exc))
                warned = True
        with suppress(TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), delay)
        delay = min(delay * 2, RECONNECT_SECONDS[1])
    return None


@register("temporal")
async def run_temporal_worker(ctx: WorkerContext) -> None:
    client = await _connect(ctx)
    if client is None:
        return
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=5.0), headers={"User-Agent": f"Souk/{__version__}"}
    ) as http:
        activities = ImportActivities(ctx.db, http)
        worker = Worker(
            client,
            task_queue=task_queue(),
            workflows=WORKFLOWS,
            activities=activities.all(),
            graceful_shutdown_timeout=timedelta(seconds=5),
        )
        async with worker:
            await ctx.stopping.wait()
