"""Webhook ingest on PostgreSQL with 1, 2 and 4 ``souk api`` processes against the bare endpoint, in one run.

    python bench/ingest_scale.py [--processes 1,2,4] [--seconds 10] [--rounds 1] [--connections 32] [--keep]

One embedded PostgreSQL, one nats-server and one provisioned site (see ``_servers.provision``). For each process
count N, the bare Starlette endpoint and Souk (``souk.app:create_app``) are each served by uvicorn with N worker
processes on one socket (otherwise exactly as in ``ingest.py``), warmed up, then loaded in turn by ``wrk`` with the
same signed ~1 KB WhatsApp webhooks as ``ingest.py`` (its request pools, Lua script and measurement are reused).
Printed per N: requests/s of both, the ratio Souk/bare at the same N, the ratio to the bare endpoint with one
process (the single-process ceiling), Souk's scaling against its own N=1, and CPU per request (all processes).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _servers
import ingest
from _servers import Children

WARMUP_SECONDS = 2


async def run(args: argparse.Namespace, wrk: str, root: Path, children: Children) -> None:
    started = datetime.now(UTC)
    print(f"bench/ingest_scale.py, {started:%Y-%m-%d %H:%M} UTC; {_servers.machine()}")
    print(f"wrk {ingest.WRK_THREADS} threads, {args.connections} connections, {args.seconds} s per run", flush=True)
    script = root / "webhooks.lua"
    script.write_text(ingest.LUA)
    load = ingest.Load(wrk, script, args.seconds, args.connections)
    pg = _servers.Postgres(root / "pg")
    children.add("postgres", pg.stop)
    nats_url, nats_pid = _servers.start_nats(children, "nats", root / "nats")
    site = await _servers.provision("postgresql", await pg.create_database("souk_scale"), root / "data", nats_url)
    bare_pool = root / "pool-bare"
    ingest.write_pool(bare_pool, "bare", ingest.BARE_POOL)
    logs = root / "logs"
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for n in args.processes:
        bare = ingest.Target(
            "bare",
            _servers.start_uvicorn(children, f"bare-{n}", "_servers:bare_app", log_dir=logs, env={}, workers=n),
        )
        server = _servers.start_uvicorn(
            children, f"souk-{n}", "souk.app:create_app", log_dir=logs, env=site.env(), factory=True, workers=n
        )
        souk = ingest.Target("postgresql", server, site, [nats_pid, pg.pid], site.webhook_path)
        await asyncio.to_thread(_servers.wait_ready, server.url, 120.0)
        await ingest.measure(load, bare, bare_pool, seconds=WARMUP_SECONDS)
        warm_pool = root / f"pool-{n}-warm"
        ingest.write_pool(warm_pool, f"s{n}w", 60_000)
        warm = await ingest.measure(load, souk, warm_pool, seconds=WARMUP_SECONDS)
        results[n] = {"bare": [], "souk": []}
        for r in range(1, args.rounds + 1):
            results[n]["bare"].append(await ingest.measure(load, bare, bare_pool))
            pool = root / f"pool-{n}-{r}"
            ingest.write_pool(pool, f"s{n}r{r}", max(50_000, int(warm["rps"] * args.seconds * 2.5)))
            results[n]["souk"].append(await ingest.measure(load, souk, pool))
            for part in root.glob(f"pool-{n}-{r}.*"):
                part.unlink()
            b, s = results[n]["bare"][-1], results[n]["souk"][-1]
            print(f"  {n} process(es), round {r}: bare {b['rps']:,.0f}/s, Souk {s['rps']:,.0f}/s", flush=True)
        children.stop(f"souk-{n}")
        children.stop(f"bare-{n}")
    report(results, args)
    print(f"\ndone in {(datetime.now(UTC) - started).total_seconds():.0f} s")


def _median(rows: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def report(results: dict[int, dict[str, list[dict[str, Any]]]], args: argparse.Namespace) -> None:
    first = min(results)
    bare_1 = _median(results[first]["bare"], "rps")
    souk_1 = _median(results[first]["souk"], "rps")
    print(f"\nPostgreSQL, medians of {args.rounds} round(s) of {args.seconds} s, {args.connections} connections")
    print(
        f"  {'processes':>9}{'bare/s':>10}{'Souk/s':>10}{'Souk/bare':>11}{f'Souk/bare@{first}':>13}"
        f"{f'Souk/Souk@{first}':>13}{'Souk p99 ms':>13}{'Souk CPU µs/req':>17}{'db+bus µs/req':>15}"
    )
    for n, r in results.items():
        b, s = _median(r["bare"], "rps"), _median(r["souk"], "rps")
        print(
            f"  {n:>9}{b:>10,.0f}{s:>10,.0f}{s / b:>11.2f}{s / bare_1:>13.2f}{s / souk_1:>13.2f}"
            f"{_median(r['souk'], 'p99_us') / 1000:>13.1f}{_median(r['souk'], 'cpu_us'):>17.0f}"
            f"{_median(r['souk'], 'infra_cpu_us'):>15.0f}"
        )
        for i, x in enumerate(r["souk"], 1):
            acked = x["requests"] - x["non2xx"]
            if x["non2xx"] or x["socket_errors"] or x["wraps"] or x.get("stored", acked) < acked:
                print(
                    f"  WARNING {n} process(es), round {i}: {x['non2xx']} non-2xx, {x['socket_errors']} socket "
                    f"errors, {x['wraps']} pool wraps, {acked} acked / {x.get('stored')} stored"
                )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", default="1,2,4", help="comma-separated process counts (default 1,2,4)")
    p.add_argument("--seconds", type=int, default=10, help="length of each measured wrk run (default 10)")
    p.add_argument("--rounds", type=int, default=1, help="rounds of bare then Souk per process count (default 1)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = p.parse_args(argv)
    args.processes = [int(x) for x in args.processes.split(",") if x.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ingest.ensure_wrk()
    return _servers.run_bench("souk-bench-scale-", args.keep, lambda root, children: run(args, wrk, root, children))


if __name__ == "__main__":
    raise SystemExit(main())
