"""The offline agent: intent → tools → the tenant's templates, in the customer's language. No model, no network.

It is the default provider and the fallback of every other one, so it must never guess: prices, stock and order
facts are read from tool results only, a question it cannot place twice in a row goes to a person, and a complaint
or an ask for a person goes to a person at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from souk.agent.intents import Understanding
from souk.agent.templates import Templates
from souk.agent.tools import Toolbox, money
from souk.core.errors import SoukError

#: a product search hit below this relevance is not trusted to be what the customer meant
MIN_RELEVANCE = 0.5
#: two questions in a row the agent could not place → a person takes over
MAX_UNANSWERED = 2


@dataclass
class Outcome:
    reply: str
    intent: str
    agent_used: str
    confidence: float
    handoff: bool = False
    handoff_reason: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


class OfflineAgent:
    def __init__(self, box: Toolbox, templates: Templates, language: str) -> None:
        self.box = box
        self.t = templates
        self.lang = language

    def say(self, template: str, /, **values: Any) -> str:
        return self.t.render(self.lang, template, **values)

    async def respond(self, u: Understanding, text: str, state: dict[str, Any]) -> Outcome:
        state = {k: v for k, v in state.items() if k != "unanswered"} | {"unanswered": state.get("unanswered", 0)}
        draft = state.pop("draft", None)
        out = await self._route(u, text, state, draft)
        if out.intent == "unknown" and not out.handoff:
            state["unanswered"] += 1
            if state["unanswered"] >= MAX_UNANSWERED:
                out.handoff, out.handoff_reason = True, "low confidence: the agent could not answer twice in a row"
                out.reply = self.say("handoff")
        else:
            state["unanswered"] = 0
        out.state = state
        return out

    def _out(self, reply: str, u: Understanding, intent: str | None = None, **kw: Any) -> Outcome:
        intent = intent or u.intent
        agent = "support" if intent in {"order_status", "order_history", "policy", "complaint", "human"} else "sales"
        return Outcome(reply, intent, agent, u.confidence, **kw)

    async def _route(self, u: Understanding, text: str, state: dict[str, Any], draft: dict[str, Any] | None) -> Outcome:
        if u.intent == "human":
            return self._out(self.say("handoff"), u, handoff=True, handoff_reason="the customer asked for a person")
        if u.angry or u.intent == "complaint":
            return self._out(
                self.say("handoff_complaint"), u, "complaint", handoff=True, handoff_reason="complaint or anger"
            )
        if draft and u.intent == "confirm":
            return await self._place(u, draft)
        if draft and u.intent == "decline":
            return self._out(self.say("order_dropped"), u)
        if u.intent == "order_status":
            return await self._order_status(u)
        if u.intent == "order_history":
            return await self._history(u)
        if u.intent == "policy":
            answer = await self._knowledge(u, text)
            if answer is not None:
                return answer
        if u.intent == "thanks":
            return self._out(self.say("thanks"), u)
        if u.intent == "greeting" and not u.product_query:
            return self._out(self.say("greeting"), u)
        if u.intent == "recommend" and not u.product_query:
            return await self._bestsellers(u)
        if u.intent in {"price", "stock", "order_create", "recommend", "greeting", "confirm", "unknown"}:
            products = await self._products(u, state)
            if products:
                return await self._about_products(u, products, state)
            # "how much is shipping?" asks a price, of a policy: what the catalog does not know, the knowledge
            # base may
            answer = await self._knowledge(u, text)
            if answer is not None:
                return answer
            if u.product_query and u.intent != "unknown":
                return self._out(self.say("no_product", query=u.product_query), u)
        return self._out(self.say("not_understood"), u, "unknown")

    # -- sales ---------------------------------------------------------------------------------------------------

    async def _products(self, u: Understanding, state: dict[str, Any]) -> list[dict[str, Any]]:
        if u.product_query:
            found = await self.box.search_products(u.product_query)
            trusted = [p for p in found if p.get("relevance", 0) >= MIN_RELEVANCE and p.get("stock") is not None]
            if trusted:
                state["last_products"] = [p["product_id"] for p in trusted[:3]]
                return trusted
            return []
        last = state.get("last_products") or []
        if last and u.intent in {"price", "stock", "order_create"}:
            product = await self.box.get_product(last[0])
            return [] if "error" in product else [product]
        return []

    async def _about_products(self, u: Understanding, products: list[dict[str, Any]], state: dict[str, Any]) -> Outcome:
        top = products[0]
        close = [p for p in products if p.get("relevance", 1) >= top.get("relevance", 1) - 0.05]
        if u.intent == "order_create":
            return self._draft(u, top, state)
        if u.intent == "stock":
            return self._out(self.say("in_stock" if top["in_stock"] else "out_of_stock", **top), u)
        if u.intent == "price" and len(close) == 1:
            return self._out(self.say("price_stock" if top["in_stock"] else "price_no_stock", **top), u)
        lines = "\n".join(self.say("option_line", **p) for p in products[:5])
        return self._out(self.say("options", lines=lines), u, "price" if u.intent == "price" else "recommend")

    def _draft(self, u: Understanding, product: dict[str, Any], state: dict[str, Any]) -> Outcome:
        quantity = u.quantity or 1
        if product["stock"] < quantity:
            if product["stock"] <= 0:
                return self._out(self.say("out_of_stock", **product), u)
            return self._out(self.say("not_enough_stock", **product), u)
        total = money(Decimal(product["price"]) * quantity, product["currency"])
        state["draft"] = {"items": [{"product_id": product["product_id"], "quantity": quantity}]}
        reply = self.say("confirm_order", quantity=quantity, total=total, **product)
        return self._out(reply, u, "order_create")

    async def _place(self, u: Understanding, draft: dict[str, Any]) -> Outcome:
        try:
            order = await self.box.create_order(draft["items"])
        except SoukError as exc:
            reply = self.say("order_failed", reason=exc.detail)
            return self._out(reply, u, "order_create", handoff=True, handoff_reason="the order could not be placed")
        return self.placed(u, order)

    def placed(self, u: Understanding, order: dict[str, Any], state: dict[str, Any] | None = None) -> Outcome:
        """The reply for an order just placed (by this agent, or by a model whose turn then failed)."""
        lines = ", ".join(self.say("order_line", **i) for i in order["items"])
        return self._out(self.say("order_placed", lines=lines, **order), u, "order_create", state=state or {})

    async def _bestsellers(self, u: Understanding) -> Outcome:
        products = await self.box.bestsellers()
        if not products:
            return self._out(self.say("no_bestsellers"), u, "recommend")
        lines = "\n".join(self.say("option_line", **p) for p in products)
        return self._out(self.say("bestsellers", lines=lines), u, "recommend")

    # -- support -------------------------------------------------------------------------------------------------

    def _status(self, order: dict[str, Any]) -> dict[str, Any]:
        return order | {"status": self.say(f"status_{order['status']}"), "date": order["created_at"]}

    async def _order_status(self, u: Understanding) -> Outcome:
        order = await self.box.order_status(u.order_ref)
        if "error" in order:
            ref = f" #{u.order_ref.upper()}" if u.order_ref else ""
            return self._out(self.say("no_order", ref=ref), u)
        return self._out(self.say("order_status", **self._status(order)), u)

    async def _history(self, u: Understanding) -> Outcome:
        rows = await self.box.order_history()
        if not rows:
            return self._out(self.say("no_history"), u)
        lines = "\n".join(self.say("history_line", **self._status(o)) for o in rows)
        return self._out(self.say("history", lines=lines), u)

    async def _knowledge(self, u: Understanding, text: str) -> Outcome | None:
        docs = await self.box.search_knowledge(text)
        if not docs:
            return None
        doc = docs[0]
        self.box.cite(doc)
        return self._out(self.say("kb_answer", content=doc["content"].strip(), title=doc["title"]), u, "policy")
