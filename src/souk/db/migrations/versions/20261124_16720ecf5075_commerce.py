"""commerce: products, orders, order items, knowledge base, and their search indexes

Revision ID: 16720ecf5075
Revises: 0b31647fc584
Create Date: 2026-11-24 20:20:55.088345

The search structures are not in the models (they are not tables the ORM maps): SQLite gets FTS5 virtual tables over
``search_text`` kept in sync by triggers; PostgreSQL gets pg_trgm and GIN expression indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import souk.db.types
from souk.db.types import JSONType

revision: str = "16720ecf5075"
down_revision: str | Sequence[str] | None = "0b31647fc584"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, fts5 tokenizer): products match by trigram (typo tolerance), documents by word (BM25 over words)
FTS = [("products", "trigram"), ("knowledge_base", "unicode61 remove_diacritics 2")]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", souk.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", souk.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "knowledge_base",
        sa.Column("doc_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=255), nullable=True),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("metadata", JSONType, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_knowledge_base_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_base")),
        sa.UniqueConstraint("tenant_id", "doc_id", name=op.f("uq_knowledge_base_tenant_id_doc_id")),
    )
    with op.batch_alter_table("knowledge_base", schema=None) as batch_op:
        batch_op.create_index("idx_knowledge_base_active", ["is_active"], unique=False)
        batch_op.create_index("idx_knowledge_base_category", ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_base_doc_id"), ["doc_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_base_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "products",
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("images", JSONType, nullable=False),
        sa.Column("category", sa.String(length=255), nullable=True),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("is_bestseller", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_not_negative")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_products_stock_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_products_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("tenant_id", "external_id", name=op.f("uq_products_tenant_id_external_id")),
        sa.UniqueConstraint("tenant_id", "sku", name=op.f("uq_products_tenant_id_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index("ix_products_tenant_active_price", ["tenant_id", "is_active", "price"], unique=False)
        batch_op.create_index("ix_products_tenant_category", ["tenant_id", "category"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("instagram_user", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_price", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("shipping_address", JSONType, nullable=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("channel_type", sa.String(length=32), nullable=True),
        sa.Column("channel_metadata", JSONType, nullable=False),
        sa.Column("source_message_id", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("total_price >= 0", name=op.f("ck_orders_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_orders_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_message_id"],
            ["messages.id"],
            name=op.f("fk_orders_source_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_orders_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("tenant_id", "source_message_id", name=op.f("uq_orders_tenant_id_source_message_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_instagram_user"), ["instagram_user"], unique=False)
        batch_op.create_index("ix_orders_tenant_created", ["tenant_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "order_items",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("product_name", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_items_quantity_positive")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_order_items_unit_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_items_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_items_product_id_products"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_order_items_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
    )
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_items_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_items_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_items_tenant_id"), ["tenant_id"], unique=False)

    _create_search()


def _create_search() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, tokenizer in FTS:
            fts = f"{table}_fts"
            op.execute(
                f"CREATE VIRTUAL TABLE {fts} USING fts5(search_text, content='{table}', content_rowid='rowid', "
                f"tokenize='{tokenizer}')"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
                f"INSERT INTO {fts}(rowid, search_text) VALUES (new.rowid, new.search_text); END"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); END"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_au AFTER UPDATE OF search_text ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); "
                f"INSERT INTO {fts}(rowid, search_text) VALUES (new.rowid, new.search_text); END"
            )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, _ in FTS:
        # expression indexes: the queries in souk.commerce.search use exactly these expressions
        op.execute(
            f"CREATE INDEX {table}_search_tsv ON {table} USING gin (to_tsvector('simple'::regconfig, search_text))"
        )
    op.execute("CREATE INDEX products_search_trgm ON products USING gin (lower(search_text) gin_trgm_ops)")


def _drop_search() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, _ in FTS:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
        return
    op.execute("DROP INDEX IF EXISTS products_search_trgm")
    for table, _ in FTS:
        op.execute(f"DROP INDEX IF EXISTS {table}_search_tsv")


def downgrade() -> None:
    _drop_search()
    op.drop_table("order_items")
    op.drop_table("orders")
    op.drop_table("products")
    op.drop_table("knowledge_base")
