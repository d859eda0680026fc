"""``souk simulate`` against a real Souk server: the simulated Telegram customers get the demo shop's answers."""

from __future__ import annotations

import pytest

from souk.commerce.demo import load_demo_shop
from souk.settings import Settings
from souk.simulate import CUSTOMERS, simulate
from tests.conftest import TenantFixture
from tests.e2e.browser import serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True})


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_simulated_customers_are_answered_from_the_shop(app, client, tenant: TenantFixture) -> None:
    async with app.state.db.tenant_session(tenant.id) as session:
        await load_demo_shop(session, tenant.id)
    lines: list[str] = []
    async with serve(app) as base:
        sent = await simulate(base, tenant.key, rounds=1, pause=0, say=lines.append)
    by_name = {c.first_name: sent.get(c.chat_id, []) for c in CUSTOMERS}
    assert all(len(by_name[c.first_name]) >= len(c.script) for c in CUSTOMERS), by_name
    assert any("1250.00" in reply for reply in by_name["Layla"])  # the winter jacket's price, in Arabic
    assert any("199.99 EGP" in reply for reply in by_name["Tom"]) and any("399.98" in r for r in by_name["Tom"])
    assert any(line.startswith("→ Omar") for line in lines) and any("← Souk to Sara" in line for line in lines)
    # a second run reuses the channel (new port, same channel)
    async with serve(app) as base:
        await simulate(base, tenant.key, rounds=1, pause=0, say=lines.append)
    channels = (await client.get("/api/v1/channels", headers=tenant.headers)).json()["items"]
    assert [c["name"] for c in channels].count("Demo Telegram (simulated)") == 1
