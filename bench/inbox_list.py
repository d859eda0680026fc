"""The inbox list (``GET /api/v1/conversations``) over 100,000 conversations and 1,000,000 messages on PostgreSQL,
against a bare indexed SQL query measured in the same run.

    python bench/inbox_list.py [--conversations 100000] [--messages 1000000] [--requests 30] [--keep]

A fresh embedded PostgreSQL, migrated and provisioned like the other benchmarks (``_servers.provision``), plus four
more channels and ten agents; then customers, conversations and messages are seeded in the server with
``INSERT … SELECT FROM generate_series`` (one customer per conversation, messages spread evenly over them, statuses
60% open / 10% pending / 5% snoozed / 25% resolved, half of them assigned) and ``ANALYZE``d. Souk is served by
uvicorn as in ``ingest.py``; one client reads each list ``--requests`` times in a row (after two warm-up reads).

For every variant (first page, then with filters) it prints the API's median and p95 time, and beside it, timed
with asyncpg on one connection, (a) the bare indexed query, the tenant's newest 20 conversations by
``(tenant_id, last_activity)``, the baseline of every ratio, (b) the same page query the API runs, and (c) the
``count(*)`` the API runs for ``total``, so the ratio can be read as app overhead + page + count.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _servers
import ingest
from _servers import Children, Site

PAGE = 20
STATUS_CASE = """CASE WHEN i % 20 < 12 THEN 'open' WHEN i % 20 < 14 THEN 'pending'
                      WHEN i % 20 < 15 THEN 'snoozed' ELSE 'resolved' END"""


async def extras(site: Site) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Four more channels (five in all) and ten agents of the site's tenant."""
    from souk.channels.models import Channel, ChannelStatus
    from souk.core import service
    from souk.core.models import Role
    from souk.db.engine import Database

    db = Database(site.database_url)
    channels = [site.channel_id]
    users = []
    try:
        async with db.tenant_session(site.tenant_id) as session:
            project = await service.default_project(session, site.tenant_id)
            for k in range(4):
                channel = Channel(
                    id=uuid.uuid4(),
                    project_id=project.id,
                    name=f"Bench channel {k}",
                    channel_type="telegram",
                    status=ChannelStatus.active,
                    config={},
                    secrets={},
                )
                session.add(channel)
                channels.append(channel.id)
        async with db.system_session() as session:
            session.info["tenant_id"] = site.tenant_id
            for k in range(10):
                user = await service.create_user(
                    session, site.tenant_id, f"agent{k}@bench.test", "bench password 123", Role.agent, f"Agent {k}"
                )
                users.append(user.id)
    finally:
        await db.dispose()
    return channels, users


async def seed(conn: Any, tenant: uuid.UUID, channels: list[uuid.UUID], users: list[uuid.UUID], args: Any) -> None:
    n, m = args.conversations, args.messages
    t0 = time.perf_counter()
    await conn.execute(
        """
        INSERT INTO customers (id, tenant_id, platform, display_name, created_at, updated_at, is_active, lead_stage,
                               lead_score, last_stage_change)
        SELECT md5('cust' || i)::uuid, $1, 'whatsapp', 'Customer ' || i, now(), now(), true, 'INTAKE', 0, now()
        FROM generate_series(1, $2) AS i
        """,
        tenant,
        n,
    )
    await conn.execute(
        f"""
        INSERT INTO conversations (id, tenant_id, channel_id, customer_id, external_thread_id, status, started_at,
                                   last_activity, is_active, message_count, assignee_id, created_at, updated_at)
        SELECT md5('conv' || i)::uuid, $1, ($3::uuid[])[1 + i % cardinality($3::uuid[])], md5('cust' || i)::uuid,
               'thread-' || i, {STATUS_CASE}, now() - interval '1 second' * (i * 37 % $2) - interval '1 day',
               now() - interval '1 second' * (i * 37 % $2), true, $5,
               CASE WHEN i % 2 = 0 THEN ($4::uuid[])[1 + (i / 2) % cardinality($4::uuid[])] END,
               now() - interval '1 day', now() - interval '1 second' * (i * 37 % $2)
        FROM generate_series(1, $2) AS i
        """,
        tenant,
        n,
        channels,
        users,
        m // n,
    )
    print(f"  {n:,} customers and conversations in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    step = 200_000
    for start in range(0, m, step):
        await conn.execute(
            """
            INSERT INTO messages (id, tenant_id, channel_id, conversation_id, customer_id, external_id, sender_id,
                                  message_text, direction, status, timestamp, message_type, message_metadata,
                                  platform, message_source, sent_by, reactions, edit_history, created_at,
                                  updated_at)
            SELECT gen_random_uuid(), $1, ($3::uuid[])[1 + c % cardinality($3::uuid[])], md5('conv' || c)::uuid,
                   md5('cust' || c)::uuid, 'wamid.seed' || j, 'sender-' || c, 'seeded message number ' || j,
                   CASE WHEN j % 3 = 0 THEN 'outbound' ELSE 'inbound' END, 'delivered',
                   now() - interval '1 second' * j, 'text', '{}'::json, 'whatsapp', 'direct_message', 'customer',
                   '[]'::json, '[]'::json, now(), now()
            FROM (SELECT j, 1 + j % $2 AS c FROM generate_series($4::bigint, $5::bigint) AS j) AS s
            """,
            tenant,
            n,
            channels,
            start + 1,
            min(start + step, m),
        )
        print(f"  {min(start + step, m):,} messages ({time.perf_counter() - t0:.0f} s)", flush=True)
    await conn.execute("VACUUM ANALYZE customers")
    await conn.execute("VACUUM ANALYZE conversations")
    await conn.execute("VACUUM ANALYZE messages")


def variants(channels: list[uuid.UUID], users: list[uuid.UUID]) -> list[tuple[str, dict[str, str], str, list[Any]]]:
    """(name, API query, the SQL condition the API adds to the tenant's, its arguments from $2)."""
    return [
        ("first page", {}, "", []),
        ("status=open", {"status": "open"}, "AND status = $2", ["open"]),
        ("status=pending", {"status": "pending"}, "AND status = $2", ["pending"]),
        ("channel_id", {"channel_id": str(channels[1])}, "AND channel_id = $2", [channels[1]]),
        ("assignee_id", {"assignee_id": str(users[3])}, "AND assignee_id = $2", [users[3]]),
        ("unassigned=true", {"unassigned": "true"}, "AND assignee_id IS NULL", []),
        (
            "status=open&assignee_id",
            {"status": "open", "assignee_id": str(users[3])},
            "AND assignee_id = $2 AND status = $3",
            [users[3], "open"],
        ),
        ("page 50 (offset 980)", {"page": "50"}, "", []),
    ]


async def timed_sql(conn: Any, sql: str, args: list[Any], repeat: int) -> list[float]:
    await conn.fetch(sql, *args)
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        await conn.fetch(sql, *args)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def timed_api(client: Any, url: str, params: dict[str, str], headers: dict[str, str], repeat: int) -> list[float]:
    for _ in range(2):
        r = await client.get(url, params={**params, "limit": str(PAGE)}, headers=headers)
        r.raise_for_status()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = await client.get(url, params={**params, "limit": str(PAGE)}, headers=headers)
        out.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return out


def _nodes(plan: list[Any]) -> str:
    """``Limit > Index Scan Backward using … on conversations``: the plan's nodes, top down, without costs."""
    nodes = []
    for (line,) in plan:
        text = line.strip().removeprefix("->").strip()
        if text and not text.startswith(
            ("Filter", "Index Cond", "Recheck Cond", "Sort Key", "Presorted Key", "Group Key")
        ):
            nodes.append(text.split("  (cost")[0])
    return " > ".join(nodes)


def _p(values: list[float], q: float) -> float:
    return ingest._pct(values, q)


async def run(args: argparse.Namespace, root: Path, children: Children) -> None:
    import asyncpg
    import httpx

    started = datetime.now(UTC)
    print(f"bench/inbox_list.py, {started:%Y-%m-%d %H:%M} UTC; {_servers.machine()}", flush=True)
    pg = _servers.Postgres(root / "pg")
    children.add("postgres", pg.stop)
    nats_url, _ = _servers.start_nats(children, "nats", root / "nats")
    url = await pg.create_database("souk_inbox")
    site = await _servers.provision("postgresql", url, root / "data", nats_url)
    channels, users = await extras(site)
    conn = await asyncpg.connect(**pg._connect_args("souk_inbox"))
    try:
        print(f"seeding {args.conversations:,} conversations and {args.messages:,} messages …", flush=True)
        await seed(conn, site.tenant_id, channels, users, args)
        server = _servers.start_uvicorn(
            children, "souk", "souk.app:create_app", log_dir=root / "logs", env=site.env(), factory=True
        )
        await asyncio.to_thread(_servers.wait_ready, server.url)
        tenant = site.tenant_id
        bare_sql = f"SELECT * FROM conversations WHERE tenant_id = $1 ORDER BY last_activity DESC LIMIT {PAGE}"
        headers = {"X-API-Key": site.api_key}
        rows = []
        async with httpx.AsyncClient(timeout=60.0, trust_env=False) as client:
            for name, params, cond, extra in variants(channels, users):
                offset = (int(params.get("page", "1")) - 1) * PAGE
                where = f"WHERE tenant_id = $1 {cond}"
                page_sql = (
                    f"SELECT * FROM conversations {where} ORDER BY last_activity DESC, id DESC "
                    f"LIMIT {PAGE} OFFSET {offset}"
                )
                count_sql = f"SELECT count(*) FROM (SELECT id FROM conversations {where}) AS s"
                bare = await timed_sql(conn, bare_sql, [tenant], args.requests * 3)
                api = await timed_api(client, server.url + "/api/v1/conversations", params, headers, args.requests)
                page = await timed_sql(conn, page_sql, [tenant, *extra], args.requests)
                count = await timed_sql(conn, count_sql, [tenant, *extra], args.requests)
                plan = await conn.fetch("EXPLAIN " + page_sql, tenant, *extra)
                count_plan = await conn.fetch("EXPLAIN " + count_sql, tenant, *extra)
                rows.append((name, api, bare, page, count, f"page: {_nodes(plan)}; count: {_nodes(count_plan)}"))
                print(f"  {name}: API {statistics.median(api):.1f} ms", flush=True)
    finally:
        await conn.close()
    # the baseline: the bare indexed query, pooled over the whole run (it was read before every variant)
    baseline = [x for row in rows for x in row[2]]
    b50, b95 = _p(baseline, 50), _p(baseline, 95)
    print(f"\n{args.conversations:,} conversations, {args.messages:,} messages, {args.requests} reads each; ms")
    print(f"  bare indexed query (tenant's newest {PAGE} by last_activity): p50 {b50:.2f} ms, p95 {b95:.2f} ms")
    print(f"  {'':<26}{'API p50':>9}{'API p95':>9}{'ratio p50':>11}{'ratio p95':>11}{'page SQL':>10}{'count SQL':>11}")
    for name, api, _bare, page, count, _ in rows:
        print(
            f"  {name:<26}{_p(api, 50):>9.1f}{_p(api, 95):>9.1f}"
            f"{_p(api, 50) / b50:>11.1f}{_p(api, 95) / b95:>11.1f}"
            f"{_p(page, 50):>10.2f}{_p(count, 50):>11.2f}"
        )
    print("\n  plans:")
    for name, *_, plan in rows:
        print(f"  {name}: {plan}")
    print(f"\ndone in {(datetime.now(UTC) - started).total_seconds():.0f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conversations", type=int, default=100_000)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=30, help="reads per variant (default 30)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _servers.run_bench("souk-bench-inbox-", args.keep, lambda root, children: run(args, root, children))


if __name__ == "__main__":
    raise SystemExit(main())
