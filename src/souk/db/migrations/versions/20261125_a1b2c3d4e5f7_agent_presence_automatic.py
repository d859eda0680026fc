"""agent_presence: automatic availability from the web inbox's heartbeats (automatic, seen_at, active_at)

Rows that exist were written by an explicit choice through the API, so they keep it (automatic false); people without
a row get one, automatic, on their inbox's first heartbeat.

Revision ID: a1b2c3d4e5f7
Revises: f6a7b8c9d0e2
Create Date: 2026-11-25 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import souk.db.types

revision: str = "a1b2c3d4e5f7"
down_revision: str | Sequence[str] | None = "f6a7b8c9d0e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_presence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("seen_at", souk.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("active_at", souk.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_presence", schema=None) as batch_op:
        batch_op.drop_column("active_at")
        batch_op.drop_column("seen_at")
        batch_op.drop_column("automatic")
