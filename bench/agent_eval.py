"""Evaluate the AI agent on the question set kept in ``bench/agent_questions.json``, through the invoke API.

    python bench/agent_eval.py [--db sqlite|postgresql] [--provider offline|openai]
                               [--base-url URL --model NAME --api-key-env VAR] [--questions FILE] [--show-failures]

Sets up a throwaway Souk (temp data dir, a fresh SQLite file or embedded PostgreSQL, a nats-server child), loads
the demo shop (``src/souk/commerce/demo_shop.json``: 20 products and 12 knowledge base documents in English and
Arabic), creates four customers (Layla with a delivered and a shipped order, Omar with a pending one, Sara and
Nour with none) and serves ``souk.app:create_app`` in a uvicorn child. Then every question goes, in file order, to
``POST /api/v2/agent/invoke`` (questions sharing a ``thread`` continue one thread) and the answer is compared with
the expectation: the agent that answered (routing accuracy), the tools called, the facts the reply must contain
(prices, totals, statuses and policy facts from the shop's data; answer-fact accuracy), the citations, and the
handoff (precision and recall). Latency p50/p95 is printed beside a plain ``GET /api/v1/products/{id}`` measured in
the same run, as a ratio (the machine is noisy). With ``--provider openai`` the tenant's settings point the agent
at an OpenAI-compatible server (its key read from the environment variable named by ``--api-key-env``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _servers
from _servers import Children

QUESTIONS = Path(__file__).with_name("agent_questions.json")
CUSTOMERS = {"layla": "Layla Hassan", "omar": "Omar Said", "sara": "Sara Adel", "nour": "Nour Ali"}
#: Layla's orders, oldest first (her latest is the watch, shipped); Omar's backpack is pending
ORDERS = {"layla": [("TSH-01", 2, "delivered"), ("WCH-01", 1, "shipped")], "omar": [("BAG-01", 1, "pending")]}
LIFECYCLE = ["confirmed", "paid", "shipped", "delivered"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def seed(site: _servers.Site) -> dict[str, str]:
    """The demo shop and the customers (rows); returns customer name → id."""
    from souk.commerce.demo import load_demo_shop
    from souk.db.engine import Database
    from souk.messaging.models import ChannelIdentity, Customer

    db = Database(site.database_url)
    ids: dict[str, str] = {}
    try:
        async with db.tenant_session(site.tenant_id) as session:
            await load_demo_shop(session, site.tenant_id)
            for i, (key, name) in enumerate(CUSTOMERS.items()):
                first, last = name.split()
                customer = Customer(platform="whatsapp", first_name=first, last_name=last, display_name=name)
                session.add(customer)
                await session.flush()
                session.add(
                    ChannelIdentity(
                        channel_id=site.channel_id,
                        customer_id=customer.id,
                        platform="whatsapp",
                        external_id=f"2010000000{i}",
                        display_name=name,
                    )
                )
                ids[key] = str(customer.id)
    finally:
        await db.dispose()
    return ids


async def place_orders(api: httpx.AsyncClient, customers: dict[str, str]) -> None:
    products = {p["sku"]: p["id"] for p in (await api.get("/api/v1/products", params={"limit": 100})).json()["items"]}
    for who, orders in ORDERS.items():
        for sku, quantity, status in orders:
            body = {"customer_id": customers[who], "items": [{"product_id": products[sku], "quantity": quantity}]}
            r = await api.post("/api/v1/orders", json=body)
            r.raise_for_status()
            order_id = r.json()["id"]
            for step in LIFECYCLE[: LIFECYCLE.index(status) + 1] if status != "pending" else []:
                (await api.post(f"/api/v1/orders/{order_id}/status", json={"status": step})).raise_for_status()


async def configure_llm(api: httpx.AsyncClient, args: argparse.Namespace) -> None:
    key = os.environ.get(args.api_key_env or "", "")
    settings = {"ai_provider": "openai", "ai_base_url": args.base_url, "ai_model": args.model}
    for name, value in settings.items():
        (await api.put(f"/api/v1/settings/{name}", json={"value": value})).raise_for_status()
    if key:
        r = await api.put("/api/v1/settings/ai_api_key", json={"value": key, "is_sensitive": True})
        r.raise_for_status()


def judge(q: dict[str, Any], out: dict[str, Any]) -> dict[str, bool]:
    expect = q["expect"]
    called = {t["name"] for t in out["tools_called"]}
    cited = {c["doc_id"] for c in out["citations"]}
    return {
        "routing": out["agent_used"] == expect["agent"],
        "tools": set(expect["tools"]) <= called,
        "facts": all(f in out["reply"] for f in expect["facts"]),
        "citations": set(expect.get("citations", [])) <= cited,
    }


async def evaluate(
    base: str, api_key: str, customers: dict[str, str], questions_file: Path, show: bool
) -> dict[str, Any]:
    questions = json.loads(questions_file.read_text(encoding="utf-8"))["questions"]
    threads: dict[str, str] = {}
    results = []
    headers = {"X-API-Key": api_key}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, trust_env=False) as api:
        product_id = (await api.get("/api/v1/products", params={"limit": 1})).json()["items"][0]["id"]
        baseline = []
        for _ in range(50):
            started = time.perf_counter()
            (await api.get(f"/api/v1/products/{product_id}")).raise_for_status()
            baseline.append(time.perf_counter() - started)
        for i, q in enumerate(questions, 1):
            body = {"customer_id": customers[q["customer"]], "message": q["message"], "channel": "whatsapp"}
            if q.get("thread") in threads:
                body["thread_id"] = threads[q["thread"]]
            started = time.perf_counter()
            r = await api.post("/api/v2/agent/invoke", json=body)
            elapsed = time.perf_counter() - started
            if r.status_code != 200:
                raise SystemExit(f"{q['id']}: HTTP {r.status_code}: {r.text}")
            out = r.json()
            if q.get("thread"):
                threads[q["thread"]] = out["thread_id"]
            verdict = judge(q, out)
            results.append({"q": q, "out": out, "ok": verdict, "seconds": elapsed})
            print(f"\r  {i}/{len(questions)} questions", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    if show:
        for r in results:
            if not all(r["ok"].values()) or r["out"]["handoff"] != r["q"]["expect"]["handoff"]:
                failed = [k for k, v in r["ok"].items() if not v]
                print(f"  {r['q']['id']} [{r['q']['lang']}] {r['q']['message']!r} → {failed or 'handoff'}: "
                      f"{r['out']['agent_used']}, {r['out']['reply'][:100]!r}")  # fmt: skip
    return {"results": results, "baseline": baseline}


def report(run: dict[str, Any], label: str) -> None:
    results = run["results"]

    def rate(key: str, subset: list[dict[str, Any]]) -> str:
        ok = sum(1 for r in subset if r["ok"][key])
        return f"{ok}/{len(subset)} ({ok / len(subset):.1%})" if subset else "–"

    with_facts = [r for r in results if r["q"]["expect"]["facts"]]
    with_tools = [r for r in results if r["q"]["expect"]["tools"]]
    with_cites = [r for r in results if r["q"]["expect"].get("citations")]
    predicted = [r for r in results if r["out"]["handoff"]]
    actual = [r for r in results if r["q"]["expect"]["handoff"]]
    hits = [r for r in predicted if r["q"]["expect"]["handoff"]]
    seconds = [r["seconds"] for r in results]
    base_p50 = statistics.median(run["baseline"])
    print(f"\n{label}: {len(results)} questions ({sum(r['q']['lang'] == 'ar' for r in results)} in Arabic)")
    print(f"  routing accuracy      {rate('routing', results)}")
    print(f"  answer-fact accuracy  {rate('facts', with_facts)}")
    print(f"  tools called          {rate('tools', with_tools)}")
    print(f"  citations             {rate('citations', with_cites)}")
    precision = len(hits) / len(predicted) if predicted else 1.0
    recall = len(hits) / len(actual) if actual else 1.0
    print(f"  handoff precision     {len(hits)}/{len(predicted)} ({precision:.1%})")
    print(f"  handoff recall        {len(hits)}/{len(actual)} ({recall:.1%})")
    for lang in ("en", "ar"):
        subset = [r for r in results if r["q"]["lang"] == lang]
        facts = [r for r in subset if r in with_facts]
        print(f"  [{lang}] routing {rate('routing', subset)}, facts {rate('facts', facts)}")
    p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
    print(
        f"  latency p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; a plain GET of one product p50 "
        f"{base_p50 * 1000:.1f} ms in the same run: ratio p50 {p50 / base_p50:.1f}×, p95 {p95 / base_p50:.1f}×"
    )
    server = [r["out"]["response_time_ms"] for r in results]
    print(f"  agent's own time (response_time_ms) p50 {percentile(server, 50)} ms, p95 {percentile(server, 95)} ms")


async def main(args: argparse.Namespace) -> None:
    print(_servers.machine())
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="souk-agent-eval-"))
    try:
        nats_url, _ = _servers.start_nats(children, "nats", tmp / "nats")
        if args.db == "postgresql":
            pg = _servers.Postgres(tmp / "pg")
            children.add("postgres", pg.stop)
            url = await pg.create_database("agent_eval")
        else:
            url = f"sqlite+aiosqlite:///{tmp / 'souk.db'}"
        site = await _servers.provision(args.db, url, tmp / "data", nats_url)
        customers = await seed(site)
        server = _servers.start_uvicorn(
            children, "souk", "souk.app:create_app", log_dir=tmp / "logs", env=site.env(), factory=True
        )
        _servers.wait_ready(server.url)
        async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": site.api_key}, timeout=60) as api:
            await place_orders(api, customers)
            if args.provider == "openai":
                await configure_llm(api, args)
        run = await evaluate(server.url, site.api_key, customers, args.questions, args.show_failures)
        report(run, f"{args.provider} agent on {args.db}, {args.questions.name}")
    finally:
        children.stop_all()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--provider", choices=["offline", "openai"], default="offline")
    parser.add_argument("--base-url", help="the OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1")
    parser.add_argument("--model", help="the model name the server knows")
    parser.add_argument("--api-key-env", help="the environment variable holding the provider's key")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="the question set (default: %(default)s)")
    parser.add_argument("--show-failures", action="store_true", help="print each question that missed")
    args = parser.parse_args()
    if args.provider == "openai" and not (args.base_url and args.model):
        parser.error("--provider openai needs --base-url and --model")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
