"""``souk simulate``: customers writing to the demo shop on every platform, with no platform account.

For each platform (Telegram, WhatsApp Cloud API, Messenger, Instagram, WAHA, TikTok, Chotot) it serves a small local
stand-in for the platform's API (just what Souk calls when it sends and tests a connection, answering in the
platform's documented shape), points a "Demo <Platform> (simulated)" channel at it through Souk's own API (created
once, active, ``ai_enabled``), and plays scripted customers in English and Arabic. Each message is a real webhook in
the platform's format with its real signature, posted to the channel's webhook URL, so it goes through everything a
real one does (verification, storage, the worker, the AI agent, the outbox); Chotot, which has no webhooks, publishes
its buyers' messages on the channel's broker subject on Souk's NATS server, as its chat vendor does. Souk's replies
arrive at the stand-ins and are printed beside the questions; a moment later the stand-in sends the platform's
receipts (WhatsApp ``statuses``, Messenger ``delivery``/``read``, Instagram ``read``, WAHA ``message.ack``, TikTok
``im_mark_read_msg``, Chotot ``read``), so the inbox's ticks go from one to two to blue. Telegram has no receipts for
bots: its replies keep one tick.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable

import httpx

from souk.simulate.base import Customer, StandIn
from souk.simulate.chotot import ChototStandIn
from souk.simulate.meta import InstagramStandIn, MessengerStandIn
from souk.simulate.telegram import TelegramStandIn
from souk.simulate.tiktok import TikTokStandIn
from souk.simulate.waha import WAHAStandIn
from souk.simulate.whatsapp import WhatsAppStandIn

#: every simulated platform, by channel type, in the order they are started
PLATFORMS: dict[str, type[StandIn]] = {
    cls.channel_type: cls
    for cls in (
        WhatsAppStandIn,
        TelegramStandIn,
        MessengerStandIn,
        InstagramStandIn,
        WAHAStandIn,
        TikTokStandIn,
        ChototStandIn,
    )
}

__all__ = ["PLATFORMS", "Customer", "StandIn", "receipt_delay", "simulate"]


def receipt_delay(pause: float) -> float:
    """Seconds between one receipt and the next (sent, delivered, read): a third of the pause, 0.05 to 1.5."""
    return min(1.5, max(0.05, pause / 3))


async def simulate(
    souk_url: str,
    api_key: str,
    *,
    platforms: Iterable[str] | None = None,
    customers: int | None = None,
    rounds: int | None = 1,
    pause: float = 2.0,
    reply_timeout: float = 60.0,
    nats_url: str | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, dict[str, list[str]]]:
    """Play the customers of ``platforms`` (default: all) ``rounds`` times (None: until cancelled), the platforms at
    the same time; ``customers`` caps how many play on each. ``nats_url`` is Souk's NATS server, where Chotot
    publishes (without it Chotot is left out). Returns the replies per platform and customer id."""
    chosen = list(platforms or PLATFORMS)
    unknown = [name for name in chosen if name not in PLATFORMS]
    if unknown:
        raise ValueError(f"no simulated platform {', '.join(unknown)}; choose among {', '.join(PLATFORMS)}")
    replies: dict[tuple[str, str], asyncio.Queue[str]] = {}

    def on_reply(stand_in: StandIn, customer: Customer, text: str) -> None:
        say(f"  ← Souk to {customer.name} on {stand_in.label}: {text}")
        replies.setdefault((stand_in.channel_type, customer.id), asyncio.Queue()).put_nowait(text)

    stand_ins = [PLATFORMS[name](on_reply, receipt_delay=receipt_delay(pause), broker_url=nats_url) for name in chosen]
    started: list[StandIn] = []
    drain = max(5.0, 6 * receipt_delay(pause))  # the last replies' receipts
    try:
        async with httpx.AsyncClient(base_url=souk_url, headers={"X-API-Key": api_key}, timeout=30) as api:
            playing: list[StandIn] = []
            for stand_in in stand_ins:
                await stand_in.start()
                started.append(stand_in)
                try:
                    await stand_in.connect(api, souk_url)
                except (httpx.HTTPStatusError, RuntimeError) as exc:  # the other platforms still play
                    say(f"Simulated {stand_in.label} is left out: {_reason(exc)}")
                    continue
                playing.append(stand_in)
                say(
                    f"Simulated {stand_in.label} at {stand_in.url} ({stand_in.account}); "
                    f"customers write to {stand_in.inbound}"
                )
            if not playing:
                raise RuntimeError("no simulated platform could be set up in Souk")

            async def play(stand_in: StandIn) -> None:
                cast = stand_in.customers[:customers] if customers else stand_in.customers
                for _ in itertools.count() if rounds is None else range(rounds):
                    for turn in range(max(len(c.script) for c in cast)):
                        for customer in cast:
                            if turn >= len(customer.script):
                                continue
                            text = customer.script[turn]
                            queue = replies.setdefault((stand_in.channel_type, customer.id), asyncio.Queue())
                            while not queue.empty():  # a late answer to an earlier question
                                queue.get_nowait()
                            say(f"→ {customer.name} on {stand_in.label}: {text}")
                            try:
                                await stand_in.write(customer, text)
                            except (httpx.HTTPStatusError, RuntimeError) as exc:  # e.g. the channel was deactivated
                                say(
                                    f"  (Souk refused the {stand_in.label} webhook, {_reason(exc)}; "
                                    f"the {stand_in.label} customers stop)"
                                )
                                return
                            try:
                                await asyncio.wait_for(queue.get(), reply_timeout)
                            except TimeoutError:
                                say(
                                    f"  (no reply to {customer.name} on {stand_in.label}: a person has the "
                                    "conversation, or the bot is off; see the inbox)"
                                )
                            await asyncio.sleep(pause)

            await asyncio.gather(*(play(stand_in) for stand_in in playing))
    except asyncio.CancelledError:
        drain = 0.0  # Ctrl-C or Souk stopping: no waiting
        raise
    finally:
        for stand_in in started:
            await stand_in.stop(drain=drain)
    return {stand_in.channel_type: stand_in.sent for stand_in in stand_ins}


def _reason(exc: Exception) -> str:
    """What went wrong, in a line: Souk's problem ``detail`` when it answered one."""
    if not isinstance(exc, httpx.HTTPStatusError):
        return str(exc)
    try:
        body = exc.response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {exc.response.status_code} from {exc.request.url.path}" + (f": {detail}" if detail else "")
