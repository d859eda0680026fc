"""History import tests run the app's worker with Souk's Temporal worker on a task queue of their own (the WAHA
import tests' fixtures), against a fresh fake Graph server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.waha.conftest import settings, task_queue  # noqa: F401 - fixtures
from tests.support.fakes.graph import FakeGraphServer


@pytest.fixture
def graph() -> Iterator[FakeGraphServer]:
    server = FakeGraphServer()
    server.start()
    yield server
    server.stop()
