"""Per-API-key request limits: a token bucket per key in each API process.

A key may spend ``api_rate_limit_per_minute`` requests a minute on average and up to ``api_rate_limit_burst`` at once;
beyond that it gets 429 with ``Retry-After``. Buckets live in the process (no database or bus round trip on every
request), so with N API processes a key can reach N times the limit: the limit protects each process from one
runaway integration, and the docs say so. Web sessions (people in the inbox) and webhooks are not limited here.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from souk.core.errors import TooManyRequests

MAX_KEYS = 10_000  # buckets kept; the least recently used are forgotten (a forgotten key starts full)


@dataclass
class _Bucket:
    tokens: float
    at: float


class KeyLimiter:
    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: OrderedDict[uuid.UUID, _Bucket] = OrderedDict()

    def take(self, key_id: uuid.UUID, now: float | None = None) -> None:
        """Spend one request of ``key_id`` or raise 429 saying when the next one is allowed."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(key_id, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key_id] = bucket
        if len(self._buckets) > MAX_KEYS:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            wait = math.ceil((1.0 - bucket.tokens) / self.rate)
            raise TooManyRequests(
                f"this API key sent more than {round(self.rate * 60)} requests a minute; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        bucket.tokens -= 1.0
