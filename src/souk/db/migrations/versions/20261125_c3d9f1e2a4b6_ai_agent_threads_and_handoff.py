"""ai agent threads and conversation handoff

Revision ID: c3d9f1e2a4b6
Revises: b1c0e5a7d2f3
Create Date: 2026-11-24 21:24:38.889259
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import souk.db.types

revision: str = "c3d9f1e2a4b6"
down_revision: str | Sequence[str] | None = "b1c0e5a7d2f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = souk.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_threads",
        sa.Column("thread_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("state", JSON, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_agent_threads_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_agent_threads_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_agent_threads_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_threads")),
        sa.UniqueConstraint("tenant_id", "thread_id", name=op.f("uq_agent_threads_tenant_id_thread_id")),
    )
    with op.batch_alter_table("agent_threads") as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_threads_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agent_threads_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "agent_turns",
        sa.Column("thread_pk", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("source_message_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("agent_used", sa.String(length=50), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("tools_called", JSON, nullable=False),
        sa.Column("citations", JSON, nullable=False),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("handoff_reason", sa.String(length=200), nullable=True),
        sa.Column("fallback_reason", sa.Text(), nullable=True),
        sa.Column("response_time_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_agent_turns_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_message_id"],
            ["messages.id"],
            name=op.f("fk_agent_turns_source_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_agent_turns_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["thread_pk"], ["agent_threads.id"], name=op.f("fk_agent_turns_thread_pk_agent_threads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_turns")),
        sa.UniqueConstraint("tenant_id", "source_message_id", name=op.f("uq_agent_turns_tenant_id_source_message_id")),
    )
    with op.batch_alter_table("agent_turns") as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_turns_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agent_turns_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_agent_turns_thread_created", ["thread_pk", "created_at"], unique=False)

    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("ai_agent", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("handoff_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("handoff_reason", sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_conversations_assignee_id_users"), "users", ["assignee_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_conversations_assignee_id_users"), type_="foreignkey")
        batch_op.drop_column("handoff_reason")
        batch_op.drop_column("handoff_at")
        batch_op.drop_column("ai_agent")
        batch_op.drop_column("assignee_id")
    op.drop_table("agent_turns")
    op.drop_table("agent_threads")
