"""product_words: each tenant's distinct catalog words, so PostgreSQL ranks product search in SQL

Revision ID: e8a4c6b2d0f1
Revises: a7c1d2e3f4b5
Create Date: 2026-11-25 13:00:00.000000

PostgreSQL only (SQLite keeps scoring its FTS5 candidates in Python): a table with no model, filled by triggers on
``products`` and from the rows already there, with a trigram index on the word. Words are added, never removed: a
word no product holds any more only makes a search look for it in vain (see docs/decisions/0028).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e8a4c6b2d0f1"
down_revision: str | Sequence[str] | None = "a7c1d2e3f4b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the trigger inserts a product's new words in one order (ORDER BY), so two writers adding the same new words
    # wait for each other instead of deadlocking
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE product_words (tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE, "
        "word text NOT NULL, PRIMARY KEY (tenant_id, word))"
    )
    op.execute("CREATE INDEX product_words_trgm ON product_words USING gin (word gin_trgm_ops)")
    op.execute(
        "CREATE FUNCTION product_words_add() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO product_words (tenant_id, word) "
        "SELECT DISTINCT NEW.tenant_id, w FROM unnest(string_to_array(NEW.search_text, ' ')) AS w WHERE w <> '' "
        "ORDER BY 2 ON CONFLICT DO NOTHING; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER product_words_ai AFTER INSERT ON products FOR EACH ROW EXECUTE FUNCTION product_words_add()"
    )
    op.execute(
        "CREATE TRIGGER product_words_au AFTER UPDATE OF search_text ON products FOR EACH ROW "
        "WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text) EXECUTE FUNCTION product_words_add()"
    )
    op.execute(
        "INSERT INTO product_words (tenant_id, word) SELECT DISTINCT tenant_id, w "
        "FROM products, unnest(string_to_array(search_text, ' ')) AS w WHERE w <> '' ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS product_words_au ON products")
    op.execute("DROP TRIGGER IF EXISTS product_words_ai ON products")
    op.execute("DROP FUNCTION IF EXISTS product_words_add()")
    op.execute("DROP TABLE IF EXISTS product_words")
