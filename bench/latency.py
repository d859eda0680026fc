"""End-to-end latency at a steady rate: webhook → stored → routed, against the bare endpoint's ack, in one run.

    python bench/latency.py [--db postgresql|sqlite] [--rate 50] [--seconds 30] [--keep]

A throwaway site (``_servers.provision``: migrated database, tenant, active WhatsApp Cloud channel), nats-server,
Souk (``souk.app:create_app``) and ``souk worker`` each in its own process, and the bare Starlette endpoint served
the same way. Both get ``--rate`` signed ~1 KB webhooks/s for ``--seconds`` from one paced client (``ingest.py``'s
payloads), each from a new sender so every message opens a conversation that routing must place (pipeline, first
stage, team). Measured per message, from the database's own timestamps (all written by Souk's processes):

* ack: the HTTP round trip of the webhook (the bare endpoint's ack is the baseline);
* stored: ``messages.created_at − inbound_events.received_at``;
* routed: ``inbound_events.processed_at − received_at`` (the worker marks the delivery processed in the transaction
  that stored the message and routed its new conversation, so this is when routing was done; ``stage_changes`` by
  ``routing`` is checked to exist for every message);
* sent → routed, wall clock: the client's send time to ``processed_at`` (same machine, same clock).

Ratios are Souk's p50/p99 over the bare endpoint's ack p50/p99 in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _servers
import ingest
from _servers import Children, Site

SENDER = b"16315551181"
DRAIN_SECONDS = 60.0


def body_for(tag: str, n: int) -> tuple[str, bytes]:
    mid = ingest.message_id(tag, n)
    raw = ingest.payload(mid, timestamp=int(time.time()), text=f"latency message {n}", size=1024)
    return mid, raw.replace(SENDER, f"2{n:010d}".encode())  # a new customer, so a new conversation to route


async def paced(url: str, *, rate: int, seconds: int, tag: str) -> dict[str, Any]:
    """``rate`` webhooks/s for ``seconds``; ack latencies (ms) and each message's send time (epoch seconds)."""
    import httpx

    acks: list[float] = []
    sent_at: dict[str, float] = {}
    failures: list[str] = []

    async def one(client: httpx.AsyncClient, n: int) -> None:
        mid, body = body_for(tag, n)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": ingest.signature(body)}
        sent_at[mid] = time.time()
        start = time.perf_counter()
        try:
            r = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        acks.append((time.perf_counter() - start) * 1000)
        if r.status_code != 200:
            failures.append(f"{r.status_code} {r.text[:200]}")

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=60.0, trust_env=False) as client:
        tasks = []
        t0 = time.perf_counter()
        for n in range(rate * seconds):
            delay = t0 + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, n)))
        sent_for = time.perf_counter() - t0
        await asyncio.gather(*tasks)
    return {"acks": acks, "sent_at": sent_at, "failures": failures, "sent_rate": rate * seconds / sent_for}


async def timings(site: Site, prefix: str) -> list[dict[str, Any]]:
    from sqlalchemy import func, select

    from souk.automation.models import StageChange
    from souk.db.engine import Database
    from souk.messaging.models import InboundEvent, Message

    db = Database(site.database_url)
    try:
        async with db.system_session() as s:
            routed = (
                select(StageChange.conversation_id, func.min(StageChange.at).label("at"))
                .where(StageChange.actor == "routing")
                .group_by(StageChange.conversation_id)
                .subquery()
            )
            rows = (
                await s.execute(
                    select(
                        Message.external_id,
                        InboundEvent.received_at,
                        Message.created_at,
                        InboundEvent.processed_at,
                        routed.c.at,
                    )
                    .join(InboundEvent, InboundEvent.id == Message.inbound_event_id)
                    .outerjoin(routed, routed.c.conversation_id == Message.conversation_id)
                    .where(Message.external_id.startswith(prefix))
                )
            ).all()
    finally:
        await db.dispose()
    return [
        {"mid": mid, "received": rec, "stored": created, "processed": processed, "stage": stage}
        for mid, rec, created, processed, stage in rows
    ]


def _ms(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() * 1000


async def run(args: argparse.Namespace, root: Path, children: Children) -> None:
    started = datetime.now(UTC)
    print(f"bench/latency.py, {started:%Y-%m-%d %H:%M} UTC; {_servers.machine()}")
    print(f"{args.rate} webhooks/s for {args.seconds} s on {args.db}, worker running", flush=True)
    logs = root / "logs"
    nats_url, _ = _servers.start_nats(children, "nats", root / "nats")
    if args.db == "postgresql":
        pg = _servers.Postgres(root / "pg")
        children.add("postgres", pg.stop)
        url = await pg.create_database("souk_latency")
    else:
        url = f"sqlite+aiosqlite:///{root / 'latency.db'}"
    site = await _servers.provision(args.db, url, root / "data", nats_url)
    bare = _servers.start_uvicorn(children, "bare", "_servers:bare_app", log_dir=logs, env={})
    server = _servers.start_uvicorn(children, "souk", "souk.app:create_app", log_dir=logs, env=site.env(), factory=True)
    _servers.start_worker(children, "worker", log_dir=logs, env=site.env())
    await asyncio.to_thread(_servers.wait_ready, server.url)

    # warm-up: both servers, and the worker has consumed (and routed) before the measured part
    await paced(bare.url + site.webhook_path, rate=args.rate, seconds=2, tag="bwarm")
    warm = await paced(server.url + site.webhook_path, rate=args.rate, seconds=2, tag="warm")
    if warm["failures"] or await ingest._wait_messages(site, "wamid.BENCHwarm", 2 * args.rate, 90.0) < 2 * args.rate:
        raise RuntimeError(f"warm-up failed: {warm['failures'][:3]}; see {logs}")

    base = await paced(bare.url + site.webhook_path, rate=args.rate, seconds=args.seconds, tag="b")
    souk = await paced(server.url + site.webhook_path, rate=args.rate, seconds=args.seconds, tag="lat")
    total = args.rate * args.seconds
    done = await ingest._wait_messages(site, "wamid.BENCHlat", total, DRAIN_SECONDS)
    rows = await timings(site, "wamid.BENCHlat")
    report(args, base, souk, rows, total, done)
    print(f"\ndone in {(datetime.now(UTC) - started).total_seconds():.0f} s")


def report(
    args: argparse.Namespace,
    base: dict[str, Any],
    souk: dict[str, Any],
    rows: list[dict[str, Any]],
    total: int,
    done: int,
) -> None:
    pct = ingest._pct
    stored = [_ms(r["received"], r["stored"]) for r in rows]
    routed = [_ms(r["received"], r["processed"]) for r in rows if r["processed"]]
    wall = [
        (r["processed"].timestamp() - souk["sent_at"][r["mid"]]) * 1000
        for r in rows
        if r["processed"] and r["mid"] in souk["sent_at"]
    ]
    b50, b99 = pct(base["acks"], 50), pct(base["acks"], 99)
    print(f"\n{total} webhooks at {souk['sent_rate']:.0f}/s; {done} messages stored, {len(routed)} routed")
    print(f"  {'':<42}{'p50 ms':>10}{'p99 ms':>10}{'p50/bare':>10}{'p99/bare':>10}")
    lines = [
        ("bare endpoint: ack", base["acks"]),
        ("Souk: ack", souk["acks"]),
        ("Souk: received → stored", stored),
        ("Souk: received → routed (processed_at)", routed),
        ("Souk: sent → routed, wall clock", wall),
    ]
    for name, values in lines:
        p50, p99 = pct(values, 50), pct(values, 99)
        print(f"  {name:<42}{p50:>10.1f}{p99:>10.1f}{p50 / b50:>10.1f}{p99 / b99:>10.1f}")
    unrouted = sum(1 for r in rows if r["stage"] is None)
    if unrouted:
        print(f"  WARNING {unrouted} stored messages have no routing stage change")
    for name, result in (("bare", base), ("Souk", souk)):
        if result["failures"]:
            print(f"  WARNING {name}: {len(result['failures'])} failures, e.g. {result['failures'][:3]}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    p.add_argument("--rate", type=int, default=50, help="webhooks per second (default 50)")
    p.add_argument("--seconds", type=int, default=30, help="length of the measured part (default 30)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _servers.run_bench("souk-bench-latency-", args.keep, lambda root, children: run(args, root, children))


if __name__ == "__main__":
    raise SystemExit(main())
