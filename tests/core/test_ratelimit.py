"""Per-API-key limits: a key that exceeds its rate gets 429 with Retry-After; other keys and web sessions do not."""

from __future__ import annotations

import uuid

import httpx
import pytest

from souk.core.errors import TooManyRequests
from souk.core.ratelimit import KeyLimiter
from souk.settings import Settings
from tests.conftest import TenantFixture, make_tenant


def test_bucket_refills_at_the_rate() -> None:
    limiter = KeyLimiter(per_minute=60, burst=3)
    key, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        limiter.take(key, now=100.0)
    with pytest.raises(TooManyRequests) as refused:
        limiter.take(key, now=100.0)
    assert refused.value.extra["headers"] == {"Retry-After": "1"}
    limiter.take(other, now=100.0)  # another key has its own bucket
    limiter.take(key, now=101.0)  # one a second comes back
    KeyLimiter(per_minute=0, burst=1).take(key)  # 0 turns limits off


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_rate_limit_per_minute": 60, "api_rate_limit_burst": 5})


async def test_a_key_over_its_limit_gets_429(app, client: httpx.AsyncClient, tenant: TenantFixture) -> None:
    answers = [(await client.get("/api/v1/auth/me", headers=tenant.headers)).status_code for _ in range(7)]
    assert answers[:5] == [200] * 5 and answers[5:] == [429, 429]
    r = await client.get("/api/v1/auth/me", headers=tenant.headers)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert (
        r.headers["content-type"].startswith("application/problem+json") and "requests a minute" in r.json()["detail"]
    )
    other = await make_tenant(app, "calm")
    assert (await client.get("/api/v1/auth/me", headers=other.headers)).status_code == 200
    # a person logged in to the inbox is not limited by the API key's bucket
    r = await client.post("/api/v1/auth/login", json={"email": tenant.owner_email, "password": tenant.password})
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/auth/me")).status_code == 200
