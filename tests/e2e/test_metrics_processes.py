"""Metrics of several processes in one scrape (Prometheus multiprocess mode, what `souk api --workers N` sets up):
whichever process answers /metrics counts what every process served; one process's own counters would show only
its share.

The processes are spawned Python processes that import only the metrics module, as each Uvicorn worker of
`souk api` imports it: a `souk api --workers 2` would cost three imports of the whole app (about 20 s on a loaded
two-core machine) for the same check.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from souk.core import observability


def serve_requests(n: int) -> int:
    """In a worker process: count ``n`` requests to /healthz, as the request middleware does."""
    import os

    for _ in range(n):
        observability.HTTP_REQUESTS.labels("GET", "/healthz", "200").inc()
    return os.getpid()


def scrape(_: int) -> tuple[int, str]:
    """In a worker process: what its /metrics answers."""
    import os

    return os.getpid(), generate_latest(observability.exposed_registry()).decode()


def healthz_count(metrics: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "souk_http_requests_total" and sample.labels.get("route") == "/healthz"
    )


def test_any_process_answers_for_every_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "counter_999.db"
    monkeypatch.setenv(observability.MULTIPROC_ENV, str(tmp_path))
    stale.write_bytes(b"left by a process of an earlier run")
    assert observability.share_metrics_between_processes() == str(tmp_path)
    assert not stale.exists()  # an earlier run's values are not added to this one's
    spawn = multiprocessing.get_context("spawn")
    pids = set()
    for n in (3, 5):  # two processes, one after the other
        with spawn.Pool(1) as worker:
            pids.add(worker.apply(serve_requests, (n,)))
    with spawn.Pool(1) as worker:  # a third one answers the scrape
        pid, text = worker.apply(scrape, (0,))
    assert len(pids | {pid}) == 3
    assert healthz_count(text) == 8.0, text
