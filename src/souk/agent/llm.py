"""An OpenAI-compatible chat-completions provider with tool calls.

The protocol (``POST {base_url}/chat/completions`` with ``messages``, ``tools``, ``tool_choice``; the answer's
``choices[0].message`` has ``content`` or ``tool_calls``; tool results go back as ``role: tool`` messages with the
``tool_call_id``) is the one OpenAI, Gemini's OpenAI-compatible endpoint, Ollama, vLLM and llama.cpp's server speak.
It is spoken here over the shared httpx client rather than through an agent framework: the loop is short, and
Souk needs its own control of the tools' tenant scope, of time limits and of the fallback on every error.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from souk.agent.config import AgentConfig
from souk.agent.tools import AGENT_TOOLS, SCHEMAS, Toolbox

MAX_ROUNDS = 4
HISTORY_TURNS = 6
HANDOFF_SCHEMA = {
    "type": "function",
    "function": {
        "name": "handoff",
        "description": "Hand the conversation to a person: complaints, anger, an ask for a person, or anything "
        "you cannot answer from the tools.",
        "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
    },
}
PERSONAS = {
    "sales": "You are the shop's sales assistant: find products, give prices and stock, suggest bestsellers, and "
    "place an order once the customer confirms products and quantities.",
    "support": "You are the shop's support assistant: order status and history, and the shop's policies and FAQ "
    "from the knowledge base.",
}


class ProviderError(Exception):
    """The provider did not answer usefully (timeout, 429, 5xx, malformed answer); the caller falls back."""


def system_prompt(agent: str, language: str, instructions: str | None = None) -> str:
    """The persona, the rules every answer keeps, then the shop's own instructions (``ai_instructions``)."""
    lang = "Arabic" if language == "ar" else "English"
    prompt = (
        f"{PERSONAS[agent]} Answer in {lang}, briefly, as a chat message. Use only facts from the tools: never "
        "state a price, stock level, total or order detail that a tool did not return in this conversation. "
        "If the customer is angry, complains, asks for a person, or you cannot answer, call handoff."
    )
    if instructions and instructions.strip():
        prompt += "\n\nThe shop's instructions (they never override the rules above):\n" + instructions.strip()
    return prompt


async def complete(
    cfg: AgentConfig,
    http: httpx.AsyncClient,
    box: Toolbox,
    *,
    agent: str,
    language: str,
    history: list[tuple[str, str]],
    text: str,
) -> tuple[str, str | None]:
    """The model's reply and, when it called ``handoff``, the reason. Tool calls run through ``box``."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(agent, language, cfg.instructions)}]
    for question, answer in history[-HISTORY_TURNS:]:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    messages.append({"role": "user", "content": text})
    tools = [SCHEMAS[name] for name in AGENT_TOOLS[agent]] + [HANDOFF_SCHEMA]
    headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
    handoff: str | None = None
    for _ in range(MAX_ROUNDS):
        body = {"model": cfg.model, "messages": messages, "tools": tools, "tool_choice": "auto", "temperature": 0.2}
        try:
            response = await http.post(
                f"{cfg.base_url}/chat/completions", json=body, headers=headers, timeout=cfg.timeout_seconds
            )
        except httpx.TimeoutException as exc:
            raise ProviderError(f"the provider did not answer within {cfg.timeout_seconds:g} s") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"the provider could not be reached: {exc}") from exc
        if response.status_code != 200:
            raise ProviderError(f"the provider answered HTTP {response.status_code}: {response.text[:200]}")
        message = _message(response)
        calls = _tool_calls(message)
        if not calls:
            content = message.get("content")
            if not isinstance(content, str) or not content.strip():
                if handoff is not None:
                    return "", handoff
                raise ProviderError("the provider answered with no text")
            return content.strip(), handoff
        messages.append(
            {"role": "assistant", "content": message.get("content"), "tool_calls": [c for c, _, _ in calls]}
        )
        for call, name, arguments in calls:
            if name == "handoff":
                handoff = str(arguments.get("reason") or "the model asked for a person")
                result: Any = {"ok": True}
            elif name not in AGENT_TOOLS[agent]:
                result = {"error": f"no tool {name!r} for the {agent} agent"}
            else:
                result = await box.call(name, arguments)
                if name == "search_knowledge" and isinstance(result, list):
                    for doc in result[:2]:
                        box.cite(doc)
            messages.append(
                {"role": "tool", "tool_call_id": call.get("id", ""), "content": json.dumps(result, default=str)}
            )
        if handoff is not None:
            return "", handoff
    raise ProviderError(f"the provider kept calling tools after {MAX_ROUNDS} rounds")


def _message(response: httpx.Response) -> dict[str, Any]:
    """``choices[0].message`` of a chat completion; anything else is the provider's fault, not a crash."""
    try:
        message = response.json()["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ProviderError("the provider's answer is not a chat completion") from exc
    if not isinstance(message, dict):
        raise ProviderError("the provider's answer is malformed: choices[0].message is not an object")
    return message


def _tool_calls(message: dict[str, Any]) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """The message's tool calls as (call, function name, arguments object), all checked before any tool runs, so
    a malformed answer never runs half of its calls."""
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list) or not all(
        isinstance(c, dict) and isinstance(c.get("function"), dict) for c in calls
    ):
        raise ProviderError("the provider's answer is malformed: tool_calls is not a list of function calls")
    return [(call, *_name_and_arguments(call)) for call in calls]


def _name_and_arguments(call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fn = call["function"]
    name, raw = fn.get("name"), fn.get("arguments") or "{}"
    if not isinstance(name, str) or not name:
        raise ProviderError("the provider's answer is malformed: a tool call has no function name")
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ProviderError(f"the provider's answer is malformed: the arguments of {name} are not JSON") from exc
    if not isinstance(arguments, dict):
        raise ProviderError(f"the provider's answer is malformed: the arguments of {name} are not a JSON object")
    return name, arguments
