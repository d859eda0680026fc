"""inbound_events: drop the channel_id index, which the (channel_id, event_key) unique key already serves

Every webhook inserts one row into every index of this table; the single-column channel_id index duplicated the
leading column of the unique key (channel look-ups and the cascade on channel deletion use that key).

Revision ID: f6a7b8c9d0e2
Revises: e5f6a7b8c9d1
Create Date: 2026-11-25 04:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f6a7b8c9d0e2"
down_revision: str | Sequence[str] | None = "e5f6a7b8c9d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_events_channel_id")


def downgrade() -> None:
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_events_channel_id", ["channel_id"], unique=False)
