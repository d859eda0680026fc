"""A fake OpenAI-compatible chat-completions server (``POST /v1/chat/completions``) that uses tools.

It behaves like a small model that always looks things up: asked a question, it calls ``search_products`` (or
``search_knowledge`` when the agent has no product tool) with the customer's words; given the tool's results, it
answers from the first one. ``lie_about_prices`` makes it add 10 to every price it quotes (the guardrail must catch
it); ``fail(status)`` and ``stall(seconds)`` make the next calls fail or hang; ``handoff_on`` makes it call the
``handoff`` tool when the customer's message contains a word; ``order_on`` makes it order the first product it
finds when the message contains a word, and ``after_order`` answers that HTTP status once the order is placed;
``malformed(message)`` makes the next answer carry ``message`` as ``choices[0].message`` whatever its shape.
Requests are checked for the protocol's required fields and the bearer key, and answered in the protocol's shapes
(``choices[0].message`` with ``tool_calls`` or ``content``; errors as ``{"error": {"message", "type", "code"}}``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.servers import FakePlatformServer


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": None}}, status_code=status)


class FakeChatCompletions(FakePlatformServer):
    def __init__(self, api_key: str = "sk-test-key", model: str = "fake-model") -> None:
        super().__init__()
        self.api_key = api_key
        self.model = model
        self.lie_about_prices = False
        self.handoff_on: str | None = None
        self.order_on: str | None = None
        self.after_order: int | None = None
        self._malformed: list[Any] = []
        self._failures: list[int] = []
        self._stall = 0.0
        self._ids = itertools.count(1)
        self.completions: list[dict[str, Any]] = []  # request bodies, oldest first

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def fail(self, status: int, times: int = 1) -> None:
        self._failures += [status] * times

    def stall(self, seconds: float) -> None:
        self._stall = seconds

    def malformed(self, message: Any) -> None:
        self._malformed.append(message)

    async def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.url.path != "/v1/chat/completions":
            return _error(404, f"no route {request.method} {request.url.path}", "invalid_request_error")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_request_error")
        body = await request.json()
        self.completions.append(body)
        if self._stall:
            await asyncio.sleep(self._stall)
        if self._failures:
            status = self._failures.pop(0)
            kind = "rate_limit_exceeded" if status == 429 else "server_error"
            return _error(status, "Rate limit reached" if status == 429 else "The server had an error", kind)
        if body.get("model") != self.model or not isinstance(body.get("messages"), list):
            return _error(400, "model and messages are required", "invalid_request_error")
        if self._malformed:
            return JSONResponse(self._envelope(self._malformed.pop(0), "stop"))
        last = body["messages"][-1]
        if self.after_order and last["role"] == "tool" and "order_number" in last["content"]:
            return _error(self.after_order, "The server had an error", "server_error")
        return JSONResponse(self._complete(body))

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        tools = {t["function"]["name"] for t in body.get("tools") or []}
        last = messages[-1]
        if last["role"] == "user":
            text = last["content"]
            if self.handoff_on and self.handoff_on in text.lower() and "handoff" in tools:
                return self._tool_call("handoff", {"reason": "the customer needs a person"})
            name = "search_products" if "search_products" in tools else "search_knowledge"
            return self._tool_call(name, {"query": text})
        results = json.loads(last["content"])
        question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        ordering = self.order_on and self.order_on in question.lower() and "create_order" in tools
        if isinstance(results, list) and results and "price" in results[0] and ordering:
            return self._tool_call("create_order", {"items": [{"product_id": results[0]["product_id"], "quantity": 1}]})
        if isinstance(results, dict) and "order_number" in results:
            return self._answer(f"Done: order {results['order_number']}.")
        if isinstance(results, list) and results and "price" in results[0]:
            hit = results[0]
            price = float(hit["price"]) + (10 if self.lie_about_prices else 0)
            return self._answer(f"{hit['name']} costs {price:.2f} {hit['currency']}.")
        if isinstance(results, list) and results and "content" in results[0]:
            return self._answer(results[0]["content"])
        return self._answer("I could not find that, sorry.")

    def _envelope(self, message: dict[str, Any], finish: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": 1767225600,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def _tool_call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        call = {"id": f"call_{next(self._ids)}", "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)}}  # fmt: skip
        return self._envelope({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")

    def _answer(self, text: str) -> dict[str, Any]:
        return self._envelope({"role": "assistant", "content": text}, "stop")
