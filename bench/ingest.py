"""Durable webhook ingest (verify + store + ack) against a bare Starlette endpoint, measured in the same run.

    python bench/ingest.py [--db sqlite|postgresql|both] [--seconds 10] [--rounds 3] [--connections 32]
                           [--e2e-rate 200] [--e2e-seconds 10] [--keep]

Both are served the same way (one uvicorn worker, uvloop + httptools, no access log, each in its own process) and
loaded by ``wrk`` with ~1 KB WhatsApp Cloud ``messages`` payloads, each with a unique message id and a real
``X-Hub-Signature-256`` of its exact bytes: Souk de-duplicates on the body's hash, so a repeated body would be a
cheap duplicate and flatter the figures. Rounds alternate bare and Souk; the figures are medians, printed as
ratios to the bare endpoint (absolute numbers drift 5-20% from run to run here, see docs/performance.md), with
the server's CPU time per request beside them (the steadiest figure on a shared machine).

Then, with the worker running (``souk worker``, a separate process, fresh database and NATS), a steady
``--e2e-rate`` webhooks/s for ``--e2e-seconds`` measures the time from webhook to message stored
(``messages.created_at`` − ``inbound_events.received_at``) and, for a sample, to message visible through
``GET /api/v1/messages?channel_id=&external_id=``. ``--rounds 0`` skips the load part, ``--e2e-seconds 0`` this one.
Every child process (uvicorn, worker, NATS, PostgreSQL, wrk) is stopped at the end, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _servers
from _servers import APP_SECRET, PHONE_NUMBER_ID, Children, Server, Site

AIM = 0.5
WRK_THREADS = 2
BARE_POOL = 100_000  # the bare endpoint stores nothing: its requests may repeat
WARMUP_SECONDS = 2
ID_MARK = "@@MESSAGE_ID@@"
POLL_SECONDS = 0.02
DRAIN_SECONDS = 20.0

# Each wrk thread reads its own file: line 1 the body before the message id, line 2 the body after it, then one
# "<message id> <hex signature>" per request. The body is rebuilt per request from the three parts, so a pool of
# hundreds of thousands of unique signed requests costs ~100 bytes each instead of a kilobyte.
LUA = r"""
local threads = {}
local next_index = 0

function setup(thread)
  thread:set("index", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1] .. "." .. index, "r"))
  prefix = f:read("*l")
  suffix = f:read("*l")
  ids, sigs = {}, {}
  for line in f:lines() do
    local id, sig = line:match("^(%S+) (%S+)$")
    ids[#ids + 1] = id
    sigs[#sigs + 1] = "sha256=" .. sig
  end
  f:close()
  n, i, wraps = #ids, 0, 0
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wraps = wraps + 1
  end
  local headers = {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = sigs[i]}
  return wrk.format("POST", nil, headers, prefix .. ids[i] .. suffix)
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, t in ipairs(threads) do
    wrapped = wrapped + (t:get("wraps") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"socket_errors":%d,"wraps":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout, wrapped))
end
"""


# -- payloads -----------------------------------------------------------------------------------------------------


def payload(message_id: str, *, timestamp: int, text: str, size: int = 0) -> bytes:
    """A WhatsApp Cloud ``messages`` webhook as Meta sends it (compact JSON), padded to about ``size`` bytes."""
    body: dict[str, Any] = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551181"}],
                            "messages": [
                                {
                                    "from": "16315551181",
                                    "id": message_id,
                                    "timestamp": str(timestamp),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    if size > len(raw):
        message = body["entry"][0]["changes"][0]["value"]["messages"][0]
        message["text"]["body"] = text + " " + "x" * (size - len(raw) - 1)
        raw = json.dumps(body, separators=(",", ":")).encode()
    return raw


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


def message_id(tag: str, n: int) -> str:
    return f"wamid.BENCH{tag}{n:09d}"


def write_pool(base: Path, tag: str, count: int) -> None:
    """``count`` unique signed requests (ids ``wamid.BENCH<tag>…``), split into one file per wrk thread."""
    template = payload(ID_MARK, timestamp=1722503523, text="Hi! Is the linen shirt still available in M?", size=1024)
    prefix, suffix = template.split(ID_MARK.encode())
    mac = hmac.new(APP_SECRET.encode(), prefix, hashlib.sha256)
    per_thread = math.ceil(count / WRK_THREADS)
    for t in range(WRK_THREADS):
        lines = [prefix.decode() + "\n", suffix.decode() + "\n"]
        for k in range(per_thread):
            mid = message_id(f"{tag}t{t}x", k)
            h = mac.copy()
            h.update(mid.encode() + suffix)
            lines.append(f"{mid} {h.hexdigest()}\n")
        Path(f"{base}.{t}").write_text("".join(lines))


# -- wrk ----------------------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing and we are root, else how to install it (exit 2)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk …", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        result = subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    print(
        "bench/ingest.py needs wrk (https://github.com/wg/wrk): `sudo apt-get install wrk` on Debian/Ubuntu, "
        "`brew install wrk` on macOS.",
        file=sys.stderr,
    )
    raise SystemExit(2)


@dataclass
class Load:
    wrk: str
    script: Path
    seconds: int
    connections: int

    async def run(self, url: str, pool: Path, seconds: int | None = None) -> dict[str, Any]:
        command = [
            self.wrk,
            f"-t{WRK_THREADS}",
            f"-c{self.connections}",
            f"-d{seconds or self.seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(self.script),
            url,
            "--",
            str(pool),
        ]
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await proc.communicate()
        except BaseException:  # interrupted: wrk must not outlive us
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        for line in out.decode().splitlines():
            if line.startswith("BENCH "):
                return json.loads(line[6:])
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()[-2000:]}{out.decode()[-2000:]}")


# -- the load rounds ----------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str  # bare | sqlite | postgresql
    server: Server
    site: Site | None = None
    infra_pids: list[int] = field(default_factory=list)  # the database and NATS processes Souk uses
    path: str = "/webhooks/whatsapp/00000000-0000-0000-0000-000000000000"
    warm_rate: float = 0.0
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url + self.path


async def measure(load: Load, target: Target, pool: Path, *, seconds: int | None = None) -> dict[str, Any]:
    """One wrk run with the server's (and its database's and NATS's) CPU time and, for Souk, the rows stored."""
    rows_before = await target.site.count_events() if target.site else 0
    cpu0 = _servers.cpu_seconds([target.server.pid])
    infra0 = _servers.cpu_seconds(target.infra_pids)
    result = await load.run(target.url, pool, seconds)
    cpu1 = _servers.cpu_seconds([target.server.pid])
    infra1 = _servers.cpu_seconds(target.infra_pids)
    n = max(result["requests"], 1)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["cpu_us"] = (cpu1 - cpu0) / n * 1e6
    result["infra_cpu_us"] = (infra1 - infra0) / n * 1e6 if target.infra_pids else None
    if target.site is not None:
        await asyncio.sleep(0.5)  # requests in flight when wrk stopped still commit
        result["stored"] = await target.site.count_events() - rows_before
    return result


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report_load(bare: Target, souk: Target, args: argparse.Namespace) -> dict[str, Any]:
    label = {"sqlite": "SQLite (WAL, synchronous=NORMAL)", "postgresql": "PostgreSQL (fsync, synchronous_commit on)"}
    print(f"\n{label[souk.name]}: medians of {args.rounds} rounds of {args.seconds} s, {args.connections} connections")
    header = f"  {'':<22}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'server CPU µs/req':>19}{'db+bus CPU µs/req':>19}"
    print(header)
    rows: dict[str, dict[str, float]] = {}
    for name, target in (("bare Starlette", bare), ("Souk (verify+store)", souk)):
        r = target.rounds
        row = {
            "rps": _median([x["rps"] for x in r]),
            "p50": _median([x["p50_us"] for x in r]) / 1000,
            "p99": _median([x["p99_us"] for x in r]) / 1000,
            "cpu": _median([x["cpu_us"] for x in r]),
            "infra": _median([x["infra_cpu_us"] for x in r]) if target.infra_pids else float("nan"),
        }
        rows[name] = row
        infra = f"{row['infra']:>19.0f}" if target.infra_pids else f"{'-':>19}"
        print(f"  {name:<22}{row['rps']:>12,.0f}{row['p50']:>9.2f}{row['p99']:>9.2f}{row['cpu']:>19.0f}{infra}")
    per_round = [s["rps"] / b["rps"] for s, b in zip(souk.rounds, bare.rounds, strict=True)]
    ratio = _median(per_round)
    b, s = rows["bare Starlette"], rows["Souk (verify+store)"]
    cpu_ratio = b["cpu"] / s["cpu"] if s["cpu"] else float("nan")
    rounds = ", ".join(f"{x:.2f}" for x in per_round)
    verdict = "reached" if ratio >= AIM else "NOT reached"
    print(f"  ratio Souk/bare, requests/s: {ratio:.2f} (rounds: {rounds}); aim >= {AIM}: {verdict}")
    print(f"  ratio of server CPU per request, bare/Souk: {cpu_ratio:.2f}")
    problems = []
    for i, x in enumerate(souk.rounds, 1):
        acked = x["requests"] - x["non2xx"]
        if x["non2xx"] or x["socket_errors"]:
            problems.append(f"round {i}: {x['non2xx']} non-2xx, {x['socket_errors']} socket errors")
        if x.get("stored", acked) < acked:
            problems.append(f"round {i}: {acked} acked but only {x['stored']} new rows (repeated requests?)")
        if x["wraps"]:
            problems.append(f"round {i}: the request pool wrapped {x['wraps']} time(s): some requests repeated")
    stored = sum(x.get("stored", 0) for x in souk.rounds)
    acked = sum(x["requests"] - x["non2xx"] for x in souk.rounds)
    print(f"  check: {acked:,} webhooks acknowledged, {stored:,} new inbound_events rows")
    for p in problems:
        print(f"  WARNING {p}")
    return {"ratio": ratio, "cpu_ratio": cpu_ratio, "bare": b, "souk": s}


# -- end to end ---------------------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


async def _count_done(site: Site, prefix: str) -> int:
    from sqlalchemy import func, select

    from souk.db.engine import Database
    from souk.messaging.models import Message

    db = Database(site.database_url)
    try:
        async with db.system_session() as s:
            stmt = select(func.count()).select_from(Message).where(Message.external_id.startswith(prefix))
            return int(await s.scalar(stmt) or 0)
    finally:
        await db.dispose()


async def _stored_latencies(site: Site, prefix: str) -> tuple[list[float], float]:
    """messages.created_at − inbound_events.received_at, both written by the server, in milliseconds; and messages
    stored per second from the first webhook received to the last message stored (the worker's own pace, whatever
    the client waited for after sending)."""
    from sqlalchemy import select

    from souk.db.engine import Database
    from souk.messaging.models import InboundEvent, Message

    db = Database(site.database_url)
    try:
        async with db.system_session() as s:
            rows = (
                await s.execute(
                    select(Message.created_at, InboundEvent.received_at)
                    .join(InboundEvent, InboundEvent.id == Message.inbound_event_id)
                    .where(Message.external_id.startswith(prefix))
                )
            ).all()
    finally:
        await db.dispose()
    latencies = [(created - received).total_seconds() * 1000 for created, received in rows]
    span = (max(c for c, _ in rows) - min(r for _, r in rows)).total_seconds() if rows else 0.0
    return latencies, len(rows) / span if span > 0 else 0.0


async def _wait_messages(site: Site, prefix: str, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = await _count_done(site, prefix)
        if done >= count:
            break
        await asyncio.sleep(0.2)
    return done


async def steady(site: Site, server: Server, *, rate: int, seconds: int, tag: str) -> dict[str, Any]:
    """Paced webhooks; one at a time, a sampled message is polled through the API until it is visible.

    One sample in flight at most, polled every ``POLL_SECONDS`` or a tenth of the time waited: the polling is
    itself load on the API, and a tight poller per message would swamp the server exactly when it falls behind.
    """
    import httpx

    total = rate * seconds
    acks: list[float] = []
    visible: list[float] = []
    failures: list[str] = []
    api_headers = {"X-API-Key": site.api_key}
    sampling = asyncio.Lock()

    async def one(client: httpx.AsyncClient, n: int) -> None:
        mid = message_id(tag, n)
        body = payload(mid, timestamp=int(time.time()), text=f"steady message {n}", size=1024)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature(body)}
        start = time.perf_counter()
        try:
            r = await client.post(server.url + site.webhook_path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        acks.append((time.perf_counter() - start) * 1000)
        if r.status_code != 200 or r.json().get("status") != "stored":
            failures.append(f"{r.status_code} {r.text[:200]}")
            return
        if sampling.locked():
            return
        async with sampling:
            params = {"channel_id": str(site.channel_id), "external_id": mid}
            deadline = time.perf_counter() + 30.0
            while time.perf_counter() < deadline:
                got = await client.get(server.url + "/api/v1/messages", params=params, headers=api_headers)
                if got.status_code == 200 and got.json()["items"]:
                    visible.append((time.perf_counter() - start) * 1000)
                    return
                # 20 ms, or a tenth of the time waited so far: ±10% resolution without a flood of GETs
                await asyncio.sleep(max(POLL_SECONDS, (time.perf_counter() - start) / 10))
            failures.append(f"{mid} not visible 30 s after its ack")

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=60.0, trust_env=False) as client:
        tasks: list[asyncio.Task[None]] = []
        t0 = time.perf_counter()
        for n in range(total):
            delay = t0 + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, n)))
        sent_for = time.perf_counter() - t0
        await asyncio.gather(*tasks)
    return {"total": total, "sent_rate": total / sent_for, "acks": acks, "visible": visible, "failures": failures}


async def end_to_end(
    kind: str, root: Path, children: Children, pg: _servers.Postgres | None, args: argparse.Namespace
) -> dict[str, Any]:
    """A fresh database and NATS, Souk and ``souk worker`` processes, then the steady load."""
    nats_url, _ = _servers.start_nats(children, f"nats-e2e-{kind}", root / f"nats-e2e-{kind}")
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{root / 'e2e.db'}"
    else:
        assert pg is not None
        url = await pg.create_database("souk_bench_e2e")
    site = await _servers.provision(kind, url, root / "data", nats_url)
    logs = root / "logs"
    server = _servers.start_uvicorn(
        children, f"souk-e2e-{kind}", "souk.app:create_app", log_dir=logs, env=site.env(), factory=True
    )
    worker = _servers.start_worker(children, f"worker-e2e-{kind}", log_dir=logs, env=site.env(), only=args.worker_only)
    assert worker.pid is not None
    await asyncio.to_thread(_servers.wait_ready, server.url)
    # warm both processes (and make sure the worker consumes) before the measured part
    warm_tag = f"e2e{kind[0]}w"
    warm = await steady(site, server, rate=50, seconds=1, tag=warm_tag)
    if warm["failures"] or await _wait_messages(site, f"wamid.BENCH{warm_tag}", 50, 60.0) < 50:
        raise RuntimeError(f"end-to-end warm-up failed on {kind}: {warm['failures'][:3]}; see {logs}")
    tag = f"e2e{kind[0]}s"
    api0, worker0 = _servers.cpu_seconds([server.pid]), _servers.cpu_seconds([worker.pid])
    result = await steady(site, server, rate=args.e2e_rate, seconds=args.e2e_seconds, tag=tag)
    result["done_at_end"] = await _count_done(site, f"wamid.BENCH{tag}")
    result["done"] = await _wait_messages(site, f"wamid.BENCH{tag}", result["total"], DRAIN_SECONDS)
    n = max(result["done"], 1)
    result["api_cpu_ms"] = (_servers.cpu_seconds([server.pid]) - api0) / n * 1000
    result["worker_cpu_ms"] = (_servers.cpu_seconds([worker.pid]) - worker0) / n * 1000
    result["stored"], result["processed_rate"] = await _stored_latencies(site, f"wamid.BENCH{tag}")
    for name in (f"worker-e2e-{kind}", f"souk-e2e-{kind}", f"nats-e2e-{kind}"):
        children.stop(name)
    return result


def report_e2e(kind: str, r: dict[str, Any], args: argparse.Namespace) -> None:
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[kind]
    print(
        f"\nEnd to end, {name}: {r['total']} webhooks sent at {r['sent_rate']:.0f}/s for {args.e2e_seconds} s, "
        f"`souk worker` in its own process; {r['done_at_end']} messages stored when every ack and sampled read "
        f"had come back, {r['done']} after up to {DRAIN_SECONDS:.0f} s more"
    )
    acks, s, v = r["acks"], r["stored"], r["visible"]
    print(f"  ack:                               p50 {_pct(acks, 50):8.1f} ms   p99 {_pct(acks, 99):8.1f} ms")
    print(
        f"  webhook received → message stored: p50 {_pct(s, 50):8.1f} ms   p99 {_pct(s, 99):8.1f} ms"
        f"   (messages.created_at − inbound_events.received_at, n={len(s)})"
    )
    print(
        f"  webhook sent → visible in the API: p50 {_pct(v, 50):8.1f} ms   p99 {_pct(v, 99):8.1f} ms"
        f"   (GET /api/v1/messages every {POLL_SECONDS * 1000:.0f} ms or 10% of the wait, one at a time, n={len(v)})"
    )
    print(
        f"  messages stored per second, first webhook received to last message stored: {r['processed_rate']:.0f}; "
        f"CPU per webhook: API {r['api_cpu_ms']:.2f} ms (with the polling), worker {r['worker_cpu_ms']:.2f} ms"
    )
    if r["failures"]:
        print(f"  WARNING {len(r['failures'])} failures, e.g. {r['failures'][:3]}")


# -- main ---------------------------------------------------------------------------------------------------------


async def load_phase(
    args: argparse.Namespace, kinds: list[str], load: Load, root: Path, children: Children, pg: _servers.Postgres | None
) -> dict[str, Any]:
    """Bare and Souk servers side by side, warmed up, then ``--rounds`` rounds of bare, Souk on each database."""
    logs = root / "logs"
    nats_url, nats_pid = _servers.start_nats(children, "nats", root / "nats")
    bare = Target("bare", _servers.start_uvicorn(children, "bare", "_servers:bare_app", log_dir=logs, env={}))
    targets: list[Target] = []
    for kind in kinds:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{root / 'load.db'}"
        else:
            assert pg is not None
            url = await pg.create_database("souk_bench")
        site = await _servers.provision(kind, url, root / "data", nats_url)
        server = _servers.start_uvicorn(
            children, f"souk-{kind}", "souk.app:create_app", log_dir=logs, env=site.env(), factory=True
        )
        infra = [nats_pid] + ([pg.pid] if kind == "postgresql" and pg else [])
        targets.append(Target(kind, server, site, infra, site.webhook_path))
    for t in targets:
        await asyncio.to_thread(_servers.wait_ready, t.server.url)

    bare_pool = root / "pool-bare"
    write_pool(bare_pool, "bare", BARE_POOL)
    print(f"warming up ({WARMUP_SECONDS} s each) …", flush=True)
    warm = await measure(load, bare, bare_pool, seconds=WARMUP_SECONDS)
    for t in targets:
        pool = root / f"pool-{t.name}-warm"
        write_pool(pool, f"{t.name[0]}w", 60_000)
        t.warm_rate = (await measure(load, t, pool, seconds=WARMUP_SECONDS))["rps"]
    print(f"  bare {warm['rps']:,.0f}/s, " + ", ".join(f"{t.name} {t.warm_rate:,.0f}/s" for t in targets))

    for r in range(1, args.rounds + 1):
        bare.rounds.append(await measure(load, bare, bare_pool))
        line = [f"round {r}: bare {bare.rounds[-1]['rps']:,.0f}/s"]
        for t in targets:
            pool = root / f"pool-{t.name}-{r}"
            # enough unique requests for 2.5 times the warm-up rate; a wrap would be reported
            write_pool(pool, f"{t.name[0]}{r}", max(50_000, int(t.warm_rate * args.seconds * 2.5)))
            t.rounds.append(await measure(load, t, pool))
            for part in Path(root).glob(f"pool-{t.name}-{r}.*"):
                part.unlink()
            line.append(f"{t.name} {t.rounds[-1]['rps']:,.0f}/s")
        print("  " + ", ".join(line), flush=True)

    summary = {t.name: report_load(bare, t, args) for t in targets}
    for name in ["bare", "nats"] + [f"souk-{k}" for k in kinds]:
        children.stop(name)  # the end-to-end part gets the machine to itself
    return summary


async def run(args: argparse.Namespace, wrk: str, root: Path, children: Children) -> None:
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    started = datetime.now(UTC)
    print(f"bench/ingest.py, {started:%Y-%m-%d %H:%M} UTC; {_servers.machine()}")
    print(f"wrk {WRK_THREADS} threads, {args.connections} connections; data in {root}", flush=True)
    script = root / "webhooks.lua"
    script.write_text(LUA)
    load = Load(wrk, script, args.seconds, args.connections)
    pg = None
    if "postgresql" in kinds:
        pg = _servers.Postgres(root / "pg")
        children.add("postgres", pg.stop)
    summary = await load_phase(args, kinds, load, root, children, pg) if args.rounds > 0 else {}
    if args.e2e_seconds > 0:
        for kind in kinds:
            report_e2e(kind, await end_to_end(kind, root, children, pg, args), args)
    elapsed = (datetime.now(UTC) - started).total_seconds()
    ratios = ", ".join(f"{k} {v['ratio']:.2f}" for k, v in summary.items())
    print(f"\ndone in {elapsed:.0f} s" + (f"; ratios Souk/bare: {ratios}" if ratios else ""))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--seconds", type=int, default=10, help="length of each measured wrk run (default 10)")
    p.add_argument(
        "--rounds", type=int, default=3, help="rounds, each bare then Souk per database; 0 skips (default 3)"
    )
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--e2e-rate", type=int, default=200, help="webhooks/s of the end-to-end part (default 200)")
    p.add_argument("--e2e-seconds", type=int, default=10, help="length of the end-to-end part; 0 skips it")
    p.add_argument(
        "--worker-only",
        help="the end-to-end worker runs only these tasks (`souk worker --only`), e.g. inbound,outbox",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    return _servers.run_bench("souk-bench-", args.keep, lambda root, children: run(args, wrk, root, children))


if __name__ == "__main__":
    raise SystemExit(main())
