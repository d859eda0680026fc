"""The background worker: consumers of the work queue, the outbox publisher and the sweepers.

`souk worker` runs it alone (scale it out in production); `souk run` runs it inside the API process. Packages add
their consumers with :func:`register`; the worker starts each one as a task and drains them on shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field

from souk.bus.client import Bus
from souk.bus.outbox import run_publisher
from souk.core.observability import log
from souk.db.engine import Database
from souk.settings import Settings


@dataclass
class WorkerContext:
    settings: Settings
    db: Database
    bus: Bus
    outbox_wake: asyncio.Event
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


Task = Callable[[WorkerContext], Awaitable[None]]
_TASKS: dict[str, Task] = {}


def register(name: str) -> Callable[[Task], Task]:
    """Decorator: run this coroutine function as a long-lived worker task."""

    def _wrap(fn: Task) -> Task:
        _TASKS[name] = fn
        return fn

    return _wrap


@register("outbox")
async def _outbox(ctx: WorkerContext) -> None:
    await run_publisher(ctx.db, ctx.bus, wake=ctx.outbox_wake, stopping=ctx.stopping)


def load_task_modules() -> None:
    """Import the packages that register worker tasks."""
    import importlib

    for name in WORKER_MODULES:
        importlib.import_module(name)


WORKER_MODULES: list[str] = [
    "souk.messaging.inbound_worker",
    "souk.messaging.vendor_inbound",
    "souk.messaging.media_worker",
    "souk.messaging.sender",
    "souk.crm.scoring_worker",
    "souk.commerce.import_jobs",
    "souk.workflows.worker",
    "souk.agent.responder",
    "souk.automation.sweeper",
    "souk.automation.webhooks",
    "souk.automation.engine",
]


def task_names() -> list[str]:
    """Every task a worker runs, by name (what ``souk worker --only`` takes)."""
    load_task_modules()
    return sorted(_TASKS)


class Worker:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, *, only: set[str] | None = None) -> None:
        """Start every registered task, or ``only`` those named."""
        load_task_modules()
        for name, fn in _TASKS.items():
            if only is not None and name not in only:
                continue
            self.tasks[name] = asyncio.create_task(self._supervise(name, fn), name=f"worker:{name}")
        log.info("worker started", tasks=sorted(self.tasks))

    async def _supervise(self, name: str, fn: Task) -> None:
        """Restart a task that crashed, with a pause, so one bug does not stop the whole worker."""
        while not self.ctx.stopping.is_set():
            try:
                await fn(self.ctx)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker task crashed; restarting", task=name)
                await asyncio.sleep(1.0)

    async def stop(self, grace: float = 10.0) -> None:
        """Ask tasks to finish their current unit of work, then cancel what is left."""
        self.ctx.stopping.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks.values(), timeout=grace)
            for t in pending:
                t.cancel()
            for t in pending:
                with suppress(asyncio.CancelledError, Exception):
                    await t
        log.info("worker stopped")
