"""Imports every model module so ``Base.metadata`` is complete (for Alembic and the model/migration check)."""

from __future__ import annotations

import importlib

from souk.db.base import Base

MODEL_MODULES = [
    "souk.core.models",
    "souk.channels.models",
    "souk.crm.models",
    "souk.messaging.models",
    "souk.messaging.outbox_models",
    "souk.commerce.models",
    "souk.agent.models",
    "souk.automation.models",
]


def load_models() -> type[Base]:
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base
