"""catalog import jobs and knowledge base embeddings

Revision ID: b1c0e5a7d2f3
Revises: a5a59c02d100
Create Date: 2026-11-25 09:00:00.000000

PostgreSQL keeps document embeddings in pgvector's ``vector`` type (the extension is created here, so the server
must ship pgvector); SQLite keeps them as a JSON array of floats.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import souk.db.types

revision: str = "b1c0e5a7d2f3"
down_revision: str | Sequence[str] | None = "a5a59c02d100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _require_pgvector() -> None:
    available = op.get_bind().scalar(sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"))
    if not available:
        raise RuntimeError(
            "this PostgreSQL server has no pgvector extension; install it (package postgresql-<version>-pgvector, "
            "or a server image that ships it) and run the migration again"
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")


def upgrade() -> None:
    op.create_table(
        "product_import_jobs",
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", JSONType, nullable=False),
        sa.Column("rows", JSONType, nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("started_at", souk.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", souk.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", souk.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", souk.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_product_import_jobs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_import_jobs")),
    )
    op.create_index(
        "ix_product_import_jobs_tenant_created", "product_import_jobs", ["tenant_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_product_import_jobs_status"), "product_import_jobs", ["status"], unique=False)
    op.create_index(op.f("ix_product_import_jobs_tenant_id"), "product_import_jobs", ["tenant_id"], unique=False)

    # plain ALTER TABLE (no batch copy on SQLite: the FTS5 triggers on knowledge_base must survive)
    if op.get_bind().dialect.name == "postgresql":
        _require_pgvector()
        op.add_column("knowledge_base", sa.Column("embedding", souk.db.types.PgVector(), nullable=True))
    else:
        op.add_column("knowledge_base", sa.Column("embedding", sa.JSON(), nullable=True))
    op.add_column("knowledge_base", sa.Column("embedding_model", sa.String(length=200), nullable=True))
    op.add_column("knowledge_base", sa.Column("embedded_at", souk.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("knowledge_base", "embedded_at")
    op.drop_column("knowledge_base", "embedding_model")
    op.drop_column("knowledge_base", "embedding")
    op.drop_index(op.f("ix_product_import_jobs_tenant_id"), table_name="product_import_jobs")
    op.drop_index(op.f("ix_product_import_jobs_status"), table_name="product_import_jobs")
    op.drop_index("ix_product_import_jobs_tenant_created", table_name="product_import_jobs")
    op.drop_table("product_import_jobs")
    # the vector extension stays (like pg_trgm): dropping it could break objects this migration did not create
