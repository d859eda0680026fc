"""Seed 003's products, orders and knowledge base, tenant-scoped.

Money is ``Numeric`` (``Decimal`` in Python, never float). ``search_text`` holds the normalized text the search
indexes read (see :mod:`souk.commerce.search`): it is computed in Python so SQLite and PostgreSQL index the same
letters; the FTS5 tables, triggers and PostgreSQL GIN indexes over it live in the migration only.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from souk.db.base import Base, TenantScoped, Timestamps, UUIDPk
from souk.db.types import JSONType, Vector

Money = Numeric(14, 3, asdecimal=True)


class Product(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sku"),
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_products_tenant_category", "tenant_id", "category"),
        Index("ix_products_tenant_active_price", "tenant_id", "is_active", "price"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
    )
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    images: Mapped[list[str]] = mapped_column(JSONType, default=list)
    category: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    is_bestseller: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sku: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(255))
    search_text: Mapped[str] = mapped_column(Text, default="")


class OrderStatus(enum.StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    paid = "paid"
    shipped = "shipped"
    delivered = "delivered"
    cancelled = "cancelled"
    refunded = "refunded"


class Order(UUIDPk, Timestamps, TenantScoped, Base):
    """An order. ``customer_id`` and the legacy ``instagram_user`` are both written and both read (seed 003)."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_tenant_created", "tenant_id", "created_at"),
        UniqueConstraint("tenant_id", "source_message_id"),
        CheckConstraint("total_price >= 0", name="total_not_negative"),
    )
    customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    instagram_user: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.pending)
    currency: Mapped[str] = mapped_column(String(3))
    total_price: Mapped[Decimal] = mapped_column(Money)
    notes: Mapped[str | None] = mapped_column(Text)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    #: seed 000's channel metadata: the channel type plus that channel's fields (message id, phone, catalog id…)
    channel_type: Mapped[str | None] = mapped_column(String(32))
    channel_metadata: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: the platform message that created the order, so a redelivered WhatsApp ``order`` message makes one order
    source_message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))


class OrderItem(UUIDPk, TenantScoped, Base):
    """One line: the product, how many, and the unit price frozen at order time."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), index=True)
    product_name: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)


class KnowledgeBase(UUIDPk, Timestamps, TenantScoped, Base):
    """A FAQ or policy document (seed 003); ``metadata`` is the column name, ``extra_data`` the attribute."""

    __tablename__ = "knowledge_base"
    __table_args__ = (
        UniqueConstraint("tenant_id", "doc_id"),
        Index("idx_knowledge_base_category", "category"),
        Index("idx_knowledge_base_active", "is_active"),
    )
    doc_id: Mapped[str] = mapped_column(String(255), index=True)
    title: Mapped[str] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    extra_data: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    search_text: Mapped[str] = mapped_column(Text, default="")
    #: the number of words of ``search_text`` (BM25's document length on PostgreSQL: see decision 0031)
    search_words: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: the tenant's embedding provider's vector of title and content (None: no provider, or it failed)
    embedding: Mapped[list[float] | None] = mapped_column(Vector)
    #: which model made ``embedding``: only vectors of the model in force are compared with a query's
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    embedded_at: Mapped[datetime | None]


class ImportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"


class ProductImportJob(UUIDPk, Timestamps, TenantScoped, Base):
    """A catalog import running in the background: its progress, its per-row error report, and the rows to import.

    The rows are parsed (and a malformed file refused) before the job exists; they are kept until the job completes
    so that a job left behind by a stopped process resumes from ``processed``. ``updated_at`` is its heartbeat.
    """

    __tablename__ = "product_import_jobs"
    __table_args__ = (Index("ix_product_import_jobs_tenant_created", "tenant_id", "created_at"),)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.queued, index=True)
    filename: Mapped[str | None] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(8))
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    rows: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    #: why the whole job failed (a crash, not a bad row: bad rows are in ``errors``)
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
