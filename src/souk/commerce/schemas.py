"""Request and response shapes of the commerce API. Money travels as a decimal string, never a float."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from souk.commerce.currency import is_currency, quantum
from souk.commerce.models import OrderStatus
from souk.core.schemas import Out, Strict, not_null
from souk.crm.channel_metadata import CHANNEL_MODELS


def _currency(value: str) -> str:
    value = value.strip().upper()
    if not is_currency(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


Currency = Annotated[str, Field(min_length=3, max_length=3, examples=["EGP"]), AfterValidator(_currency)]
#: a non-negative amount; accepted as a JSON number or string, answered as a string so no precision is lost
Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=3, examples=["1250.00"]),
    PlainSerializer(lambda d: str(d), return_type=str),
]
Tag = Annotated[str, Field(min_length=1, max_length=100)]


class ProductIn(Strict):
    name: str = Field(min_length=1, max_length=500, examples=["Winter jacket / جاكيت شتوي"])
    description: str | None = Field(None, max_length=20000)
    price: Amount
    currency: Currency
    stock: int = Field(0, ge=0)
    images: list[str] = Field(default_factory=list, max_length=50)
    category: str | None = Field(None, max_length=255)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    is_bestseller: bool = False
    is_active: bool = True
    sku: str | None = Field(None, min_length=1, max_length=100)
    external_id: str | None = Field(None, min_length=1, max_length=255)


class ProductPatch(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"price": "450.00", "stock": 8, "is_bestseller": True}]})
    name: str | None = Field(None, min_length=1, max_length=500)
    description: str | None = Field(None, max_length=20000)
    price: Amount | None = None
    currency: Currency | None = None
    stock: int | None = Field(None, ge=0)
    images: list[str] | None = Field(None, max_length=50)
    category: str | None = Field(None, max_length=255)
    tags: list[Tag] | None = Field(None, max_length=50)
    is_bestseller: bool | None = None
    is_active: bool | None = None
    sku: str | None = Field(None, min_length=1, max_length=100)
    external_id: str | None = Field(None, min_length=1, max_length=255)

    _not_null = field_validator("name", "price", "currency", "stock", "images", "tags", "is_bestseller", "is_active")(
        not_null
    )


class ProductOut(Out):
    id: uuid.UUID
    name: str
    description: str | None
    price: Amount
    currency: str
    stock: int
    images: list[str]
    category: str | None
    tags: list[str]
    is_bestseller: bool
    is_active: bool
    sku: str | None
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    relevance: float | None = Field(None, description="Search relevance in [0, 1] when `q` was given.")

    @model_validator(mode="after")
    def _at_currency_precision(self) -> ProductOut:
        """The database keeps three decimals for every currency; answers show the currency's own precision."""
        self.price = self.price.quantize(quantum(self.currency))
        return self


class ProductList(BaseModel):
    items: list[ProductOut]
    total: int
    page: int
    limit: int


class OrderItemIn(Strict):
    product_id: uuid.UUID
    quantity: int = Field(gt=0, le=10000)


class OrderIn(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                    "items": [{"product_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "quantity": 2}],
                    "notes": "Deliver after 5 pm",
                    "shipping_address": {
                        "street": "12 Tahrir St",
                        "city": "Cairo",
                        "governorate": "Cairo",
                        "country": "EG",
                    },
                    "channel_type": "whatsapp",
                }
            ]
        }
    )
    customer_id: str | None = Field(None, max_length=255, description="The customer's id (a Souk customer id).")
    instagram_user: str | None = Field(None, max_length=255, description="Legacy identifier (seed 003).")
    items: list[OrderItemIn] = Field(min_length=1, max_length=200)
    notes: str | None = Field(None, max_length=5000)
    shipping_address: dict[str, Any] | None = None
    conversation_id: uuid.UUID | None = None
    channel_type: str | None = Field(
        None,
        max_length=32,
        description="The channel the order came from: " + ", ".join(sorted(CHANNEL_MODELS)) + ". Left out with a "
        "conversation_id, the conversation's channel.",
    )
    channel_metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="The channel's own ids, as seed 000 names them (whatsapp: message_id, phone, "
        "business_account_id; telegram: user_id, chat_id, message_id; …).",
    )

    @field_validator("channel_type")
    @classmethod
    def _known_channel(cls, value: str | None) -> str | None:
        if value is not None and value not in CHANNEL_MODELS:
            raise ValueError(f"must be one of: {', '.join(sorted(CHANNEL_MODELS))}")
        return value


class OrderStatusIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "shipped", "notify": True}]})
    status: OrderStatus
    notify: bool = Field(False, description="Tell the customer through the order's conversation, in their language.")


class NotificationOut(BaseModel):
    queued: bool
    message_id: str | None = None
    text: str | None = None
    reason: str | None = Field(None, description="Why nothing was queued.")


class OrderItemOut(Out):
    id: uuid.UUID
    product_id: uuid.UUID | None
    product_name: str
    quantity: int
    unit_price: Amount


class OrderOut(Out):
    id: uuid.UUID
    customer_id: str | None
    instagram_user: str | None
    status: str
    currency: str
    total_price: Amount
    notes: str | None
    shipping_address: dict[str, Any] | None
    conversation_id: uuid.UUID | None
    channel_type: str | None
    channel_metadata: dict[str, Any]
    items: list[OrderItemOut]
    next_statuses: list[str] = Field(
        default_factory=list, examples=[["paid", "cancelled"]], description="The statuses this order may move to now."
    )
    created_at: datetime
    updated_at: datetime
    notification: NotificationOut | None = Field(None, description="With notify=true: what was sent.")

    @model_validator(mode="after")
    def _at_currency_precision(self) -> OrderOut:
        q = quantum(self.currency)
        self.total_price = self.total_price.quantize(q)
        for item in self.items:
            item.unit_price = item.unit_price.quantize(q)
        return self


class OrderList(BaseModel):
    items: list[OrderOut]
    total: int
    page: int
    limit: int


class OrderStats(BaseModel):
    total_orders: int
    total_spent: Amount
    last_order: datetime | None
    currency: str | None = Field(description="The currency of total_spent, when the customer spends in one.")


class DocumentIn(Strict):
    doc_id: str = Field(min_length=1, max_length=255, examples=["returns-policy"])
    title: str = Field(min_length=1, max_length=500)
    content: str = Field(min_length=1, max_length=200000)
    category: str | None = Field(None, max_length=255)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True


class DocumentPatch(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"content": "Returns are accepted within 14 days with the receipt.", "tags": ["returns", "policy"]}
            ]
        }
    )
    title: str | None = Field(None, min_length=1, max_length=500)
    content: str | None = Field(None, min_length=1, max_length=200000)
    category: str | None = Field(None, max_length=255)
    tags: list[Tag] | None = Field(None, max_length=50)
    metadata: dict[str, Any] | None = None
    is_active: bool | None = None

    _not_null = field_validator("title", "content", "tags", "metadata", "is_active")(not_null)


class DocumentOut(BaseModel):
    id: uuid.UUID
    doc_id: str
    title: str
    content: str
    category: str | None
    tags: list[str]
    metadata: dict[str, Any]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class DocumentList(BaseModel):
    items: list[DocumentOut]
    total: int
    page: int
    limit: int


class DocumentHit(BaseModel):
    document: DocumentOut
    score: float = Field(description="Relevance (higher is better): negated BM25 on SQLite, ts_rank on PostgreSQL.")
    snippet: str = Field(description="Words around the first hit, hits in **bold**.")


class DocumentSearch(BaseModel):
    items: list[DocumentHit]
    query: str


class RowErrorOut(BaseModel):
    row: int = Field(description="1-based row (or document) number in the file.")
    field: str
    reason: str


class ImportReport(BaseModel):
    created: int
    updated: int
    errors: list[RowErrorOut]


class ImportJobOut(BaseModel):
    """A catalog import running in the background: poll ``url`` until ``status`` is completed or failed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b9d5c1e-6f7a-4c1e-9a43-2f1c9d7e8a10",
                    "url": "/api/v1/products/imports/0b9d5c1e-6f7a-4c1e-9a43-2f1c9d7e8a10",
                    "status": "running",
                    "filename": "catalog.csv",
                    "format": "csv",
                    "total_rows": 1200,
                    "processed": 400,
                    "created": 380,
                    "updated": 18,
                    "failed": 2,
                    "errors": [{"row": 17, "field": "price", "reason": "Input should be greater than or equal to 0"}],
                    "detail": None,
                    "created_at": "2026-11-25T09:00:00Z",
                    "started_at": "2026-11-25T09:00:00Z",
                    "finished_at": None,
                    "updated_at": "2026-11-25T09:00:04Z",
                }
            ]
        }
    )
    id: uuid.UUID
    url: str = Field(description="Where to follow this import.")
    status: Literal["queued", "running", "completed", "failed"]
    filename: str | None
    format: str
    total_rows: int = Field(description="Rows in the file.")
    processed: int = Field(description="Rows handled so far (imported or reported).")
    created: int
    updated: int
    failed: int = Field(description="Rows refused; each is in errors with its field and reason.")
    errors: list[RowErrorOut]
    detail: str | None = Field(description="Why the whole import failed, when it did.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class ImportJobList(BaseModel):
    items: list[ImportJobOut]
    total: int
    page: int
    limit: int
