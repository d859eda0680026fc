"""The data layer makes an unscoped query on tenant data impossible to write by accident."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from souk.core.models import AppSetting, Project, Tenant
from souk.db.scoping import UnscopedQueryError
from tests.conftest import make_tenant


async def test_tenant_session_sees_only_its_rows(app):
    a = await make_tenant(app, "alpha")
    b = await make_tenant(app, "beta")
    async with app.state.db.tenant_session(a.id) as s:
        s.add(AppSetting(key="k", value="a"))
    async with app.state.db.tenant_session(b.id) as s:
        s.add(AppSetting(key="k", value="b"))
    async with app.state.db.tenant_session(a.id) as s:
        rows = (await s.scalars(select(AppSetting))).all()
        assert [r.value for r in rows] == ["a"]
        # even an explicit filter on the other tenant finds nothing
        assert (await s.scalars(select(AppSetting).where(AppSetting.tenant_id == b.id))).all() == []
        # bulk updates are scoped too
        await s.execute(update(AppSetting).values(value="changed"))
    async with app.state.db.tenant_session(b.id) as s:
        assert (await s.scalar(select(AppSetting.value))) == "b"


async def test_unscoped_query_on_tenant_data_raises(app):
    await make_tenant(app, "alpha")
    with pytest.raises(UnscopedQueryError):
        async with app.state.db.bare_session() as s:
            await s.scalars(select(Project))
    # non-tenant tables stay reachable
    async with app.state.db.bare_session() as s:
        assert (await s.scalars(select(Tenant))).all()


async def test_writing_another_tenants_row_raises(app):
    a = await make_tenant(app, "alpha")
    b = await make_tenant(app, "beta")
    with pytest.raises(UnscopedQueryError):
        async with app.state.db.tenant_session(a.id) as s:
            s.add(AppSetting(key="x", value="y", tenant_id=b.id))
            await s.flush()


async def test_new_rows_get_the_session_tenant(app):
    a = await make_tenant(app, "alpha")
    async with app.state.db.tenant_session(a.id) as s:
        row = AppSetting(key="auto", value="1")
        s.add(row)
        await s.flush()
        assert row.tenant_id == a.id
