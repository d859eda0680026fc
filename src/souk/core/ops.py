"""Operations endpoints: liveness, readiness (database, NATS, Temporal), Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from souk.core.observability import exposed_registry

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(coro: Any, timeout: float) -> str | None:
    try:
        await asyncio.wait_for(coro, timeout)
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _db_ping(request: Request) -> None:
    async with request.app.state.db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@router.get(
    "/readyz",
    summary="Database, NATS and Temporal are reachable (503 names the one that is not)",
    responses={503: {"description": "A dependency is down; the body names it."}},
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks = {
        "database": _check(_db_ping(request), 3.0),
        "nats": _check(state.bus.ping(), 2.0),
        "temporal": _check(state.temporal.ping(), 3.0),
    }
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    failing = {k: v for k, v in results.items() if v}
    body = {
        "status": "ready" if not failing else "unavailable",
        "checks": {k: ("ok" if v is None else v) for k, v in results.items()},
    }
    if failing:
        body["detail"] = "not ready: " + ", ".join(failing)
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get("/metrics", summary="Prometheus metrics (of every `souk api` worker process)", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(exposed_registry()), media_type=CONTENT_TYPE_LATEST)
