"""CRM tests write their data as ORM rows (the messaging read-API helper) and drive the customers API over HTTP."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from souk.settings import Settings
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Only the outbox publisher runs in the app; the scoring consumer is started by the tests that need it."""
    return settings.model_copy(update={"run_worker_in_process": False})


@pytest.fixture
def rows(app: FastAPI, tenant: TenantFixture) -> Rows:
    return Rows(app.state.db, tenant.id)


@pytest.fixture
def other_rows(app: FastAPI, other_tenant: TenantFixture) -> Rows:
    return Rows(app.state.db, other_tenant.id)
