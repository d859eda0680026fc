"""Catalog imports in the background: a job row that shows progress and the per-row report while rows are upserted.

``POST /api/v1/products/import`` reads the file (a malformed one is refused whole, before anything is written),
stores its rows in a :class:`ProductImportJob` and answers 202. The rows are then imported in batches, each batch in
its own transaction together with the job's counters, so what ``GET /api/v1/products/imports/{id}`` shows is always
what was committed, and a job whose process stopped resumes after its last committed batch.

Who runs a job: the API process that accepted it starts it at once (:class:`ImportRunner`, after the request's
transaction committed); the worker task ``catalog-imports`` picks up jobs nobody started (a queued job older than
:data:`ORPHAN_AFTER`) or nobody is finishing (a running job whose heartbeat, ``updated_at``, is older than
:data:`STALE_AFTER`). Claiming is a conditional update, so two runners never import the same job at once.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce.catalog import import_rows
from souk.commerce.importer import read_rows
from souk.commerce.models import ImportStatus, ProductImportJob
from souk.core.errors import NotFound
from souk.core.observability import log
from souk.core.pagination import PageParams, paginate
from souk.db.engine import Database
from souk.db.types import utcnow
from souk.worker import WorkerContext, register

#: rows per transaction: the job's progress moves (and is committed) once per batch
BATCH = 100
#: a queued job no API process started within this long is taken by the worker
ORPHAN_AFTER = timedelta(seconds=15)
#: a running job whose heartbeat is older than this was left by a stopped process; the worker resumes it
STALE_AFTER = timedelta(minutes=2)
SWEEP_EVERY = 5.0


async def create_job(
    session: AsyncSession, tenant_id: uuid.UUID, data: bytes, fmt: str, filename: str | None
) -> ProductImportJob:
    """A queued job holding the file's rows; a file that cannot be read is a 422 and no job is made."""
    rows = read_rows(data, fmt)
    job = ProductImportJob(
        tenant_id=tenant_id,
        status=ImportStatus.queued,
        filename=(filename or "")[:255] or None,
        format=fmt,
        total_rows=len(rows),
        processed=0,
        created=0,
        updated=0,
        failed=0,
        errors=[],
        rows=rows,
    )
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> ProductImportJob:
    job = await session.get(ProductImportJob, job_id)
    if job is None:
        raise NotFound(f"import {job_id} not found")
    return job


async def list_jobs(session: AsyncSession, params: PageParams) -> tuple[list[ProductImportJob], int]:
    stmt = select(ProductImportJob).order_by(ProductImportJob.created_at.desc(), ProductImportJob.id)
    return await paginate(session, stmt, params)


def _claimable(now: Any) -> Any:
    return or_(
        ProductImportJob.status == ImportStatus.queued,
        and_(ProductImportJob.status == ImportStatus.running, ProductImportJob.updated_at < now - STALE_AFTER),
    )


async def _claim(db: Database, tenant_id: uuid.UUID, job_id: uuid.UUID) -> bool:
    now = utcnow()
    async with db.tenant_session(tenant_id) as session:
        result = await session.execute(
            update(ProductImportJob)
            .where(ProductImportJob.id == job_id, _claimable(now))
            .values(status=ImportStatus.running, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return False
        job = await session.get(ProductImportJob, job_id)
        if job is not None and job.started_at is None:
            job.started_at = now
        return True


async def _batch(db: Database, tenant_id: uuid.UUID, job_id: uuid.UUID, batch: int) -> bool:
    """Import the next batch and move the job's counters in the same transaction; True when the job is done."""
    async with db.tenant_session(tenant_id) as session:
        job = await get_job(session, job_id)
        rows = job.rows or []
        start = job.processed
        chunk = rows[start : start + batch]
        report = await import_rows(session, tenant_id, chunk, first_row=start + 1)
        job.processed = start + len(chunk)
        job.created += report.created
        job.updated += report.updated
        job.failed += len({e.row for e in report.errors})
        job.errors = [*job.errors, *({"row": e.row, "field": e.field, "reason": e.reason} for e in report.errors)]
        job.updated_at = utcnow()
        if job.processed >= job.total_rows:
            job.status, job.finished_at, job.rows = ImportStatus.completed, utcnow(), None
            return True
        return False


async def run_job(db: Database, tenant_id: uuid.UUID, job_id: uuid.UUID, *, batch: int = BATCH) -> bool:
    """Claim the job and import it to the end; False when another runner has it. A crash marks the job failed."""
    if not await _claim(db, tenant_id, job_id):
        return False
    try:
        while not await _batch(db, tenant_id, job_id, batch):
            await asyncio.sleep(0)  # let requests (and the progress reads) in between batches
    except asyncio.CancelledError:
        raise  # the process is stopping: the job stays running and the worker resumes it once it is stale
    except Exception as exc:
        log.exception("catalog import failed", job_id=str(job_id))
        async with db.tenant_session(tenant_id) as session:
            job = await get_job(session, job_id)
            job.status, job.finished_at, job.detail = ImportStatus.failed, utcnow(), f"{type(exc).__name__}: {exc}"
    return True


class ImportRunner:
    """Runs the jobs an API process accepted as tasks of that process, and cancels them when it stops."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tasks: set[asyncio.Task[bool]] = set()

    async def start(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        """Start the job as a task of this process's event loop (async, so a background task runs it on the loop)."""
        task = asyncio.create_task(run_job(self.db, tenant_id, job_id), name=f"catalog-import:{job_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with suppress(asyncio.CancelledError, Exception):
                await task


async def sweep(db: Database) -> int:
    """Run every job that no process is running (orphaned or stale); the number of jobs this call ran."""
    now = utcnow()
    async with db.system_session() as session:
        waiting = (
            await session.execute(
                select(ProductImportJob.tenant_id, ProductImportJob.id)
                .where(
                    or_(
                        and_(
                            ProductImportJob.status == ImportStatus.queued,
                            ProductImportJob.created_at < now - ORPHAN_AFTER,
                        ),
                        and_(
                            ProductImportJob.status == ImportStatus.running,
                            ProductImportJob.updated_at < now - STALE_AFTER,
                        ),
                    )
                )
                .order_by(ProductImportJob.created_at)
                .limit(20)
            )
        ).all()
    ran = 0
    for tenant_id, job_id in waiting:
        ran += await run_job(db, tenant_id, job_id)
    return ran


@register("catalog-imports")
async def _catalog_imports(ctx: WorkerContext) -> None:
    while not ctx.stopping.is_set():
        try:
            await sweep(ctx.db)
        except Exception:
            log.exception("catalog import sweep failed")
        with suppress(TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), SWEEP_EVERY)
