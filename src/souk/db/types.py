"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Text, cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlalchemy.types import TypeDecorator, UserDefinedType

#: JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then 74 random bits.

    Rows keyed by it are inserted at the right-hand edge of the primary-key B-tree instead of on a random page
    (the hot-insert tables: ``inbound_events``). It is still a plain UUID, so the column type does not change.
    """
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76
        | (rand >> 62 & 0xFFF) << 64
        | 0b10 << 62
        | rand & 0x3FFF_FFFF_FFFF_FFFF
    )
    return uuid.UUID(int=value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime. SQLite forgets the zone; this puts it back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EncryptedText(TypeDecorator[str]):
    """Text encrypted at rest with the process keyring (see :mod:`souk.core.secrets`).

    The database only ever holds ciphertext; rotation re-encrypts every column of this type.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        from souk.core.secrets import keyring

        return keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        from souk.core.secrets import keyring

        return keyring().decrypt(value)


class EncryptedJSON(TypeDecorator[dict]):
    """A JSON object encrypted as a whole (for credential bundles such as a channel's secrets)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict | None, dialect: Any) -> str | None:
        if value is None:
            return None
        from souk.core.secrets import keyring

        return keyring().encrypt(json.dumps(value, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect: Any) -> dict | None:
        if value is None:
            return None
        from souk.core.secrets import keyring

        return json.loads(keyring().decrypt(value))


class PgVector(UserDefinedType[list[float]]):
    """pgvector's ``vector`` (any dimension). Values are sent as text (``[0.1,0.2]``) cast to ``vector`` and come
    back as text (asyncpg falls back to text for a type it has no codec for), so the driver needs no extension."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(bindvalue, self)

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> Any:
            if value is None or isinstance(value, str):
                return value
            return "[" + ",".join(repr(float(v)) for v in value) + "]"

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        return None


class Vector(TypeDecorator[list[float]]):
    """An embedding: pgvector's ``vector`` on PostgreSQL (searched with its ``<=>`` operator), a JSON array of
    floats on SQLite (compared in Python)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PgVector())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: list[float] | None, dialect: Any) -> Any:
        if value is None:
            return None
        return [float(v) for v in value]

    def process_result_value(self, value: Any, dialect: Any) -> list[float] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = json.loads(value)
        return [float(v) for v in value]


# reflection (Alembic's model/migration comparison) knows the column type, as pgvector's own package teaches it
postgresql_base.ischema_names.setdefault("vector", PgVector)
