"""Structured logs with a request id, and Prometheus metrics.

Later packages add their own metrics to :data:`REGISTRY` (e.g. forged webhook signatures per channel).

Several processes, one scrape: `souk api --workers N` runs N Uvicorn processes behind one port, and a scrape reaches
one of them. With ``PROMETHEUS_MULTIPROC_DIR`` set (`souk api` sets it when N > 1), prometheus_client keeps every
process's values in files there and :func:`exposed_registry` adds them up, so any process answers for all.
`souk worker` serves its own metrics on ``SOUK_WORKER_METRICS_PORT`` (:func:`serve_worker_metrics`).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "souk_http_requests_total",
    "HTTP requests by route template, method and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "souk_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WORK_HANDLED = Counter(
    "souk_work_handled_total",
    "Work-queue ids handled by the worker, by kind and outcome (done, retry, failed: redelivered later)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def exposed_registry() -> CollectorRegistry:
    """What /metrics shows: this process's registry, or every process's values when they share a directory."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def share_metrics_between_processes() -> str:
    """Give the processes about to be started an empty directory to keep their metric values in (set before they
    import prometheus_client); returns it. An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is kept, emptied."""
    path = os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="souk-metrics-")
    shutil.rmtree(path, ignore_errors=True)  # values of processes that are gone would be added to the new ones
    os.makedirs(path, exist_ok=True)
    os.environ[MULTIPROC_ENV] = path
    return path


def serve_worker_metrics(port: int) -> None:
    """The worker's metrics on ``http://0.0.0.0:<port>/metrics`` (a thread; it has no HTTP server of its own)."""
    start_http_server(port, registry=REGISTRY)


class _LineWriter:
    """structlog's output: a line and its newline in one write, under the standard-library handler's lock.

    structlog's own PrintLogger prints the line and then its newline, under a lock of its own: a library's record
    written by the logging handler from another thread could land between the two, leaving two JSON objects on one
    line, which a log collector cannot read. Sharing the handler's lock and writing once keeps every line whole."""

    def __init__(self, handler: logging.StreamHandler) -> None:
        self._handler = handler

    def msg(self, message: str) -> None:
        self._handler.acquire()
        try:
            self._handler.stream.write(message + "\n")
            self._handler.stream.flush()
        finally:
            self._handler.release()

    log = debug = info = warn = warning = error = err = critical = fatal = exception = failure = msg


def configure_logging(level: str = "info", json: bool | None = None) -> None:
    """JSON lines when stderr is not a terminal (production), readable colours when it is.

    Libraries' standard-library log records (uvicorn, NATS, Temporal, …) go through the same renderer, so a log
    collector gets one JSON object per line, whoever wrote it."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    logging.basicConfig(handlers=[handler], level=getattr(logging, level.upper()), force=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=lambda *_args: _LineWriter(handler),
        cache_logger_on_first_use=True,
    )
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


log = structlog.get_logger("souk")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path or "unmatched"


class RequestContextMiddleware:
    """Request id (``X-Request-ID`` in and out), access log line, and HTTP metrics. Pure ASGI: cheap on hot paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                rid = v.decode("latin-1")[:64]
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        start = time.perf_counter()

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await self.app(scope, receive, _send)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            if status >= 500:
                log.error("request", method=method, path=scope["path"], status=status, ms=round(elapsed * 1000, 1))
            elif not route.startswith("/webhooks"):
                log.debug("request", method=method, path=scope["path"], status=status, ms=round(elapsed * 1000, 1))
            structlog.contextvars.unbind_contextvars("request_id")
