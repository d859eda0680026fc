"""The knowledge base (seed 003): FAQ and policy documents, their bulk import and their ranked search.

Inactive documents are never returned by search, whatever the caller asks.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce.importer import Report, RowError, read_markdown, read_rows, split_list
from souk.commerce.models import KnowledgeBase
from souk.commerce.schemas import DocumentIn
from souk.commerce.search import normalize, search_documents, snippet
from souk.core.errors import Conflict, NotFound, field_error
from souk.core.pagination import PageParams, paginate


def _reindex(doc: KnowledgeBase) -> None:
    # the title twice: a word in the title weighs more than the same word once in a long answer
    doc.search_text = normalize(f"{doc.title} {doc.title} {doc.content}")


async def _by_doc_id(session: AsyncSession, doc_id: str) -> KnowledgeBase | None:
    return await session.scalar(select(KnowledgeBase).where(KnowledgeBase.doc_id == doc_id))


async def create_document(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> KnowledgeBase:
    if await _by_doc_id(session, data["doc_id"]) is not None:
        raise Conflict("doc_id already used", errors=[field_error("doc_id", "already used", "unique")])
    data = dict(data)
    doc = KnowledgeBase(tenant_id=tenant_id, extra_data=data.pop("metadata", None) or {}, **data)
    _reindex(doc)
    session.add(doc)
    await session.flush()
    return doc


async def get_document(session: AsyncSession, doc_id: str) -> KnowledgeBase:
    doc = await _by_doc_id(session, doc_id)
    if doc is None:
        raise NotFound(f"document {doc_id!r} not found")
    return doc


async def update_document(session: AsyncSession, doc_id: str, changes: dict[str, Any]) -> KnowledgeBase:
    doc = await get_document(session, doc_id)
    changes = dict(changes)
    if "metadata" in changes:
        doc.extra_data = changes.pop("metadata") or {}
    for key, value in changes.items():
        setattr(doc, key, value)
    _reindex(doc)
    await session.flush()
    return doc


async def delete_document(session: AsyncSession, doc_id: str) -> None:
    await session.delete(await get_document(session, doc_id))
    await session.flush()


async def list_documents(
    session: AsyncSession, params: PageParams, *, category: str | None = None, active: bool | None = None
) -> tuple[list[KnowledgeBase], int]:
    stmt = select(KnowledgeBase).order_by(KnowledgeBase.doc_id)
    if category is not None:
        stmt = stmt.where(KnowledgeBase.category == category)
    if active is not None:
        stmt = stmt.where(KnowledgeBase.is_active.is_(active))
    return await paginate(session, stmt, params)


async def search(
    session: AsyncSession, query: str, *, category: str | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """Active documents matching ``query``, best first, each with its score and a snippet around the hits."""
    stmt = select(KnowledgeBase).where(KnowledgeBase.is_active.is_(True))
    if category is not None:
        stmt = stmt.where(KnowledgeBase.category == category)
    found = await search_documents(session, stmt, query, limit)
    return [{"document": doc, "score": round(s, 6), "snippet": snippet(doc.content, query)} for doc, s in found]


async def import_documents(session: AsyncSession, tenant_id: uuid.UUID, data: bytes, fmt: str) -> Report:
    """Upsert documents by ``doc_id`` from a Markdown, CSV or JSON file; bad rows are reported, good rows kept."""
    rows = read_markdown(data) if fmt == "md" else read_rows(data, fmt)
    report = Report()
    for number, row in enumerate(rows, start=1):
        if "tags" in row:
            row["tags"] = split_list(row["tags"])
        try:
            doc_in = DocumentIn.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "row"
                report.errors.append(RowError(number, where, err["msg"]))
            continue
        values = doc_in.model_dump(exclude_unset=True)
        if await _by_doc_id(session, doc_in.doc_id) is None:
            await create_document(session, tenant_id, values)
            report.created += 1
        else:
            await update_document(session, doc_in.doc_id, values)
            report.updated += 1
    return report
