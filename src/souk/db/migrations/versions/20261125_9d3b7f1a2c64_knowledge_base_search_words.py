"""knowledge_base.search_words: the number of words of ``search_text``, for BM25 on PostgreSQL

Revision ID: 9d3b7f1a2c64
Revises: e8a4c6b2d0f1
Create Date: 2026-11-25 18:00:00.000000

PostgreSQL ranks knowledge base search by BM25 in SQL (decision 0031), which needs every document's length and the
searched documents' mean length; FTS5 keeps these in its own tables. A stored count spares reading every document's
text per query. Filled from the rows already there; plain ALTER TABLE (no batch copy on SQLite: the FTS5 triggers on
knowledge_base must survive).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d3b7f1a2c64"
down_revision: str | Sequence[str] | None = "e8a4c6b2d0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("knowledge_base", sa.Column("search_words", sa.Integer(), nullable=False, server_default="0"))
    # words of the normalized text are separated by single spaces
    op.execute(
        "UPDATE knowledge_base SET search_words = "
        "length(search_text) - length(replace(search_text, ' ', '')) + 1 WHERE search_text <> ''"
    )


def downgrade() -> None:
    op.drop_column("knowledge_base", "search_words")
