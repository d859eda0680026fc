"""A third-party platform package installed into the venv is registered through the ``souk.platforms`` entry point
and gets the whole channel API (typed config, masked secrets, test-connection)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from souk.platforms import registry
from tests.conftest import make_tenant

PKG = Path(__file__).parent / "plugin_pkg"


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory):
    src = tmp_path_factory.mktemp("plugin") / "souk_fax_pkg"
    shutil.copytree(PKG, src)
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(src)],
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(target))
    import importlib

    importlib.invalidate_caches()
    registry.reload()
    yield
    sys.path.remove(str(target))
    sys.modules.pop("souk_fax", None)
    registry.reload()


async def test_third_party_platform_is_registered(installed_plugin, settings):
    from souk.app import create_app

    assert "fax" in registry.channel_types()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        tenant = await make_tenant(app, "faxco")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post(
                "/api/v1/channels",
                headers=tenant.headers,
                json={"name": "Fax", "channel_type": "fax", "config": {"number": "+15550100", "password": "hunter22"}},
            )
            assert r.status_code == 201, r.text
            assert r.json()["config"]["password"] != "hunter22"
            assert r.json()["vendor"]["name"] == "faxcorp"  # the plugin's vendor, not its channel type
            cid = r.json()["id"]
            t = await client.post(f"/api/v1/channels/{cid}/test-connection", headers=tenant.headers)
            assert t.json()["external_id"] == "+15550100"
            bad = await client.post(
                "/api/v1/channels",
                headers=tenant.headers,
                json={"name": "Fax", "channel_type": "fax", "config": {"number": "1"}},
            )
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "config.password"
            # vendor.name is the detection key: the plugin's own vendor is accepted, its channel type is not one
            fax = {"name": "Fax", "channel_type": "fax", "config": {"number": "+15550101", "password": "pw"}}
            named = await client.post(
                "/api/v1/channels", headers=tenant.headers, json={**fax, "vendor": {"name": "faxcorp"}}
            )
            assert named.status_code == 201 and named.json()["vendor"]["name"] == "faxcorp"
            wrong = await client.post(
                "/api/v1/channels", headers=tenant.headers, json={**fax, "vendor": {"name": "fax"}}
            )
            assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "vendor.name"
            assert "faxcorp" in wrong.json()["errors"][0]["message"]
            # the list's type filter knows plugin types too
            listed = await client.get("/api/v1/channels?type=fax", headers=tenant.headers)
            assert listed.status_code == 200 and listed.json()["total"] == 2
            assert {c["channel_type"] for c in listed.json()["channels"]} == {"fax"}
            unknown = await client.get("/api/v1/channels?type=telex", headers=tenant.headers)
            assert unknown.status_code == 422 and "fax" in unknown.json()["errors"][0]["message"]
    assert registry.detect("faxcorp", "telegram") is registry.get("fax")  # vendor first, type as the fallback
    assert registry.detect(None, "fax") is registry.get("fax")
