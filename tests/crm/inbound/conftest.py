"""Attribution through the whole inbound stack: channels on the fake platforms and the worker running in-process."""

from __future__ import annotations

import pytest

from souk.settings import Settings
from tests.channels.conftest import configs, fakes  # noqa: F401 - re-exported fixtures
from tests.messaging.inbound.conftest import make_channel  # noqa: F401 - re-exported fixture


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True})
