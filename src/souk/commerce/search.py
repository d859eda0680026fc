"""Multilingual product and document search on SQLite (FTS5) and PostgreSQL (full-text + pg_trgm).

Both databases index the same ``search_text``: :func:`normalize` applied in Python, so an Arabic query typed with or
without diacritics, tatweel, hamza on the alef, ta marbuta or alef maqsura, or an English query in any case or
accent, meets the same letters. Typos are tolerated through trigrams, and both rank by the same trigram similarity
(:class:`Scorer`): SQLite's FTS5 trigram tokenizer finds candidates that Python scores; PostgreSQL finds the catalog
words similar to the query's (``product_words``, pg_trgm) and scores, orders and pages in SQL (decision 0028).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import (
    Float,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce.models import KnowledgeBase, Product
from souk.db.scoping import TENANT_KEY

_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # harakat, Quranic marks, tatweel
_LETTERS = str.maketrans(
    {
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ؤ": "و", "ئ": "ي",
        "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9",
    }
)  # fmt: skip
_NON_WORD = re.compile(r"[^\w]+")
#: a word matches a query word when their trigram similarity is at least this (pg_trgm's default is 0.3)
SIMILARITY = 0.3
#: products a search returns when the caller asks for no particular page
PAGE = 300
#: on PostgreSQL, a query resembling more catalog words than this (a short number among thousands of codes) is
#: scored in Python over every candidate, as on SQLite, instead of in SQL
VOCABULARY_MAX = 300


def normalize(value: str) -> str:
    """Case-, accent- and Arabic-variant-insensitive form of ``value``: words separated by single spaces."""
    value = unicodedata.normalize("NFKC", value).casefold()
    value = _ARABIC_MARKS.sub("", value).translate(_LETTERS)
    decomposed = unicodedata.normalize("NFD", value)
    # Latin accents go; Arabic letters have no combining marks left at this point
    value = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFC", value)).replace("_", " ").split())


def words(value: str) -> list[str]:
    return normalize(value).split()


#: Arabic attaches the article and some prepositions to the word: "التوصيل", "بالتوصيل", "للشحن"
ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال")


def strip_arabic_prefix(word: str) -> str:
    """A normalized word without its attached article or preposition (if at least three letters are left)."""
    for prefix in ARABIC_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            return word[len(prefix) :]
    return word


def with_stems(normalized: str) -> str:
    """``normalized`` followed by the bare form of each word that had an attached prefix, so "بالتوصيل" in a
    document and "التوصيل" in a question meet at "توصيل"."""
    extra = [bare for w in normalized.split() if (bare := strip_arabic_prefix(w)) != w]  # counts kept: they rank
    return " ".join([normalized, *extra]) if extra else normalized


def product_text(name: str, description: str | None, category: str | None, tags: Iterable[str]) -> str:
    return normalize(" ".join([name, description or "", category or "", *tags]))


def trigrams(word: str) -> set[str]:
    """pg_trgm's trigrams of one word (padded with two spaces before and one after)."""
    padded = f"  {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def score(query_words: list[str], document: str) -> float:
    """Mean over query words of their best match; a query word under the threshold counts as zero."""
    return Scorer(query_words)(document)


class Scorer:
    """:func:`score` for one query over many documents: each distinct document word is compared with the query
    words once, since a catalog repeats the same few thousand words across its products."""

    def __init__(self, query_words: list[str]) -> None:
        self.query = [trigrams(w) for w in query_words]
        self.seen: dict[str, tuple[float, ...]] = {}

    def word(self, word: str) -> tuple[float, ...]:
        """The similarity of ``word`` to each query word (remembered)."""
        sims = self.seen.get(word)
        if sims is None:
            t = trigrams(word)
            sims = self.seen[word] = tuple(len(q & t) / len(q | t) for q in self.query)
        return sims

    def __call__(self, document: str) -> float:
        per_word = [self.seen.get(w) or self.word(w) for w in document.split()]
        if not per_word or not self.query:
            return 0.0
        best = (max(column) for column in zip(*per_word, strict=True))
        return sum(b for b in best if b >= SIMILARITY) / len(self.query)


def _fts5_trigram_query(query_words: list[str]) -> str:
    """OR of every 3-letter slice of the query words (FTS5 trigram tokens are unpadded)."""
    grams = {w[i : i + 3] for w in query_words for i in range(max(len(w) - 2, 0))}
    grams |= {w for w in query_words if len(w) < 3}
    return " OR ".join('"' + g.replace('"', '""') + '"' for g in sorted(grams))


_SIMPLE = literal_column("'simple'::regconfig")
_ONE_WEIGHTS = literal_column("'{1,1,1,1}'::float4[]")


def _tsvector(column: Any) -> Any:
    """The expression the GIN index ``products_search_tsv`` is built on."""
    return func.to_tsvector(_SIMPLE, column)


def _candidates(stmt: Select[Any], dialect: str, query_words: list[str]) -> Select[Any]:
    """``stmt`` (tenant-scoped by the session, filtered by the caller) narrowed to the products the index finds.

    The index condition sits in the same WHERE as the tenant and the filters and nothing is cut before them, so
    one tenant's many matches can never crowd out another's (SQLite's FTS5 table holds every tenant's rows).
    """
    if dialect == "sqlite":
        long_words = [w for w in query_words if len(w) >= 3]
        conditions = []
        if long_words:
            conditions.append(
                text("products.rowid IN (SELECT rowid FROM products_fts WHERE products_fts MATCH :fts_q)").bindparams(
                    fts_q=_fts5_trigram_query(long_words)
                )
            )
        # FTS5 trigrams cannot find a word under three letters; a word the scorer finds similar to one holds it
        # ("3" is similar only to "3", "xl" to words starting or ending with "xl"), so a substring scan finds them
        # all (only such queries scan the tenant's products; a query of long words stays on the index)
        conditions += [
            Product.search_text.contains(w, autoescape=True) for w in dict.fromkeys(query_words) if len(w) < 3
        ]
        return stmt.where(or_(*conditions))
    # a word of the text at least SIMILARITY-similar to some query word (strict_word_similarity_threshold): every
    # product the scorer rates above zero, as found through ``product_words`` when the SQL ranking runs
    lowered = literal_column("lower(products.search_text)")
    return stmt.where(or_(*(lowered.op("%>>")(w) for w in dict.fromkeys(query_words))))


async def _ranked(session: AsyncSession, stmt: Select[Any], query_words: list[str]) -> list[tuple[Any, float]]:
    """Every product of ``stmt`` matching the query, best first, as (raw id, relevance in (0, 1]).

    Only the id, name and search text of the index's candidates are read (the id left as the driver gives it: a
    UUID conversion per candidate costs more than the scoring), and all of them are scored, so the count is exact
    and any page can be taken. SQLite's path, and PostgreSQL's when :func:`_ranked_in_sql` declines.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        await session.execute(text(f"SET LOCAL pg_trgm.strict_word_similarity_threshold = {SIMILARITY}"))
    columns = (type_coerce(Product.id, String), Product.name, Product.search_text)
    scorer = Scorer(query_words)
    rows = await session.execute(_candidates(stmt, dialect, query_words).with_only_columns(*columns))
    return _sorted(scorer, rows)


def _sorted(scorer: Scorer, rows: Iterable[Any]) -> list[tuple[Any, float]]:
    """(raw id, score) of the rows (id, name, search text) that score above zero, best first, then by name and id."""
    scored = [(raw_id, name, s) for raw_id, name, search_text in rows if (s := scorer(search_text)) > 0]
    scored.sort(key=lambda row: (-row[2], row[1], str(row[0])))
    return [(raw_id, s) for raw_id, _, s in scored]


@asynccontextmanager
async def _planner(session: AsyncSession, **settings: str) -> AsyncIterator[None]:
    """PostgreSQL planner ``settings`` for the statements inside, then the session's own values again (not after
    an error: a failed statement aborts the transaction, and with it these local settings)."""
    for name, value in settings.items():
        await session.execute(text(f"SET LOCAL {name} = {value}"))
    yield
    for name in settings:
        await session.execute(text(f"SET LOCAL {name} TO DEFAULT"))


async def _similar_words(
    session: AsyncSession, scorer: Scorer, query_words: list[str]
) -> list[dict[str, float]] | None:
    """Per query word, the tenant's catalog words (``product_words``) that match it, with :class:`Scorer`'s own
    similarity; None when the query resembles more than :data:`VOCABULARY_MAX` words."""
    await session.execute(text(f"SET LOCAL pg_trgm.similarity_threshold = {SIMILARITY}"))
    params: dict[str, Any] = {f"q{i}": w for i, w in enumerate(dict.fromkeys(query_words))}
    where = " OR ".join(f"word % :{name}" for name in params)
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is not None:  # without a tenant (a system session) every tenant's words: a superset, still right
        where = f"tenant_id = :tenant_id AND ({where})"
        params["tenant_id"] = tenant_id
    sql = f"SELECT DISTINCT word FROM product_words WHERE {where} LIMIT {VOCABULARY_MAX + 1}"
    # the planner prices ``%`` as cheap and would rather read all the tenant's words (~1 µs each) than the index
    async with _planner(session, enable_seqscan="off"):
        found = (await session.scalars(text(sql).bindparams(**params))).all()
    if len(found) > VOCABULARY_MAX:
        return None
    similar: list[dict[str, float]] = [{} for _ in query_words]
    for word in found:
        for i, s in enumerate(scorer.word(word)):
            if s >= SIMILARITY:
                similar[i][word] = s
    return similar


async def _ranked_in_sql(
    session: AsyncSession, stmt: Select[Any], query_words: list[str], end: int
) -> tuple[list[tuple[Any, float]], int] | None:
    """PostgreSQL: the first ``end`` products of :func:`_ranked`'s order, and the exact number of matches, with
    the scoring done in SQL; None when the query resembles too many catalog words (see decision 0028).

    :class:`Scorer` gives a document, per query word, its best word's similarity if at least :data:`SIMILARITY`:
    so the only words that count are the catalog words similar to a query word, which ``product_words`` finds
    through its trigram index and the scorer rates once each. The matches are then the products holding one of
    those words (the full-text index finds them, the count is exact), and their score a sum of CASEs over
    those words with the scorer's own numbers, summed in the same order: the same float, so SQL's order (ties by
    name in code point order, then id) is :func:`_ranked`'s, and only the first ``end`` rows leave the database.
    """
    # plans for these values: a plan made once for any tenant and any words may walk the tenant's whole catalog
    async with _planner(session, plan_cache_mode="force_custom_plan"):
        return await _rank_in_sql(session, stmt, query_words, end)


async def _rank_in_sql(
    session: AsyncSession, stmt: Select[Any], query_words: list[str], end: int
) -> tuple[list[tuple[Any, float]], int] | None:
    scorer = Scorer(query_words)
    similar = await _similar_words(session, scorer, query_words)
    if similar is None:
        return None
    vocabulary = sorted({w for per_word in similar for w in per_word})
    if not vocabulary:
        return [], 0
    tsquery = func.to_tsquery(_SIMPLE, " | ".join(f"'{w}'" for w in vocabulary))  # words are \w only: no quotes
    matching = stmt.where(_tsvector(Product.search_text).op("@@")(tsquery))
    total = await session.scalar(select(func.count()).select_from(matching.order_by(None).subquery()))
    padded = literal(" ") + Product.search_text + literal(" ")
    parts = [
        case(*[(func.strpos(padded, f" {w} ") > 0, literal(s, Float)) for w, s in _best_first(per_word)], else_=0.0)
        if per_word
        else literal(0.0, Float)
        for per_word in similar
    ]
    relevance = sum(parts[1:], parts[0]) / len(parts)
    columns = (type_coerce(Product.id, String), Product.name, Product.search_text)
    ranked = matching.with_only_columns(*columns).order_by(relevance.desc(), Product.name.collate("C"), Product.id)
    rows = await session.execute(ranked.limit(end))
    return _sorted(scorer, rows), int(total or 0)


def _best_first(similar: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(similar.items(), key=lambda item: -item[1])


async def search_products(
    session: AsyncSession, stmt: Select[Any], query: str, *, offset: int = 0, limit: int = PAGE
) -> tuple[list[tuple[Product, float]], int]:
    """One page of the products of ``stmt`` matching ``query``, best first, with their relevance, and the exact
    number of matches."""
    query_words = words(query)
    if not query_words:
        return [], 0
    in_sql = None
    if session.get_bind().dialect.name == "postgresql":
        in_sql = await _ranked_in_sql(session, stmt, query_words, offset + limit)
    if in_sql is None:
        ranked = await _ranked(session, stmt, query_words)
        in_sql = ranked, len(ranked)
    ranked, total = in_sql
    page = [(uuid.UUID(str(raw_id)), s) for raw_id, s in ranked[offset : offset + limit]]
    if not page:
        return [], total
    products = {p.id: p for p in await session.scalars(select(Product).where(Product.id.in_([i for i, _ in page])))}
    return [(products[i], s) for i, s in page], total


#: FTS5's ``bm25()`` parameters (term-frequency saturation and length normalization), used on PostgreSQL too
BM25_K1 = 1.2
BM25_B = 0.75
#: FTS5's floor for the IDF of a term found in at least half the documents ("a*" matches "and", "any", "about"…)
BM25_MIN_IDF = 1e-6


async def search_documents(
    session: AsyncSession, stmt: Select[Any], query: str, limit: int
) -> list[tuple[KnowledgeBase, float]]:
    """Active documents of ``stmt`` ranked by BM25 over prefix matches of the query words; higher is better.

    SQLite's FTS5 computes it; PostgreSQL computes the same formula in SQL (:func:`_bm25`). Ties go by ``doc_id``.
    """
    query_words = with_stems(normalize(query)).split()
    if not query_words:
        return []
    if session.get_bind().dialect.name == "sqlite":
        expr = " OR ".join('"' + w.replace('"', '""') + '"*' for w in query_words)
        match = (
            text(
                "SELECT rowid AS rid, bm25(knowledge_base_fts) AS rank FROM knowledge_base_fts "
                "WHERE knowledge_base_fts MATCH :q"
            )
            .bindparams(q=expr)
            .columns(rid=Float, rank=Float)
            .subquery("m")
        )
        joined = stmt.add_columns(match.c.rank).join(match, literal_column("knowledge_base.rowid") == match.c.rid)
        ordered = joined.order_by(match.c.rank, KnowledgeBase.doc_id).limit(limit)
        return [(doc, -float(rank)) for doc, rank in (await session.execute(ordered)).all()]
    scores = _bm25(stmt, query_words)
    ranked = stmt.add_columns(scores.c.score).join(scores, KnowledgeBase.id == scores.c.id)
    rows = (await session.execute(ranked.order_by(scores.c.score.desc(), KnowledgeBase.doc_id).limit(limit))).all()
    return [(doc, float(s)) for doc, s in rows]


def _bm25(stmt: Select[Any], query_words: list[str]) -> Any:
    """(id, score) of the documents of ``stmt`` matching a prefix of the query words, scored as FTS5's ``bm25()``.

    ``ts_rank`` counts every hit alike, so a question's short words ("a", "i", "do") matching dozens of words
    outweigh its one rare word ("bags"), and it ranks differently from SQLite. BM25 weighs each query word by its
    IDF: log((N - n + 0.5) / (n + 0.5)), N the documents of ``stmt`` and n those holding the word (FTS5 counts the
    whole table, every tenant; here the tenant's searched documents), floored at :data:`BM25_MIN_IDF`; times the
    word's hits f (tokens it prefixes, counted by ``ts_rank_cd``) saturated by the document's length dl (its stored
    ``search_words``): f (k1 + 1) / (f + k1 (1 - b + b dl / avgdl)). Each query word counts, repeats too, as FTS5's
    phrases do. The GIN index ``knowledge_base_search_tsv`` finds the matches (only they are parsed); N and avgdl
    are one aggregate over ``stmt``'s rows (no text read). See decision 0031.
    """
    tsv = _tsvector(KnowledgeBase.search_text)
    tsq = func.to_tsquery(_SIMPLE, " | ".join(f"{w}:*" for w in query_words))  # words are \w only: no quotes
    dl = KnowledgeBase.search_words  # as FTS5 counts the tokens of search_text
    base = stmt.order_by(None).limit(None)
    stats = base.with_only_columns(func.count().label("n"), func.avg(dl).label("avgdl")).subquery("stats")
    # materialized: each match's text is parsed once, not once per query word
    matches = (
        base.where(tsv.op("@@")(tsq))
        .with_only_columns(KnowledgeBase.id.label("id"), tsv.label("tsv"), dl.label("dl"))
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    terms = (
        func.unnest(literal(query_words, ARRAY(String)))
        .table_valued("term", with_ordinality="i")
        .render_derived("terms")
    )
    # with every weight 1 and no normalization, each hit of a one-word query is a cover worth exactly 1
    hits_of = func.ts_rank_cd(_ONE_WEIGHTS, matches.c.tsv, func.to_tsquery(_SIMPLE, terms.c.term + ":*"), 0)
    hits = (
        select(matches.c.id, matches.c.dl, terms.c.i, hits_of.label("f"))
        .select_from(matches)
        .join(terms, true())
        .cte("hits")
    )
    holders = select(hits.c.i, func.count().filter(hits.c.f > 0).label("n")).group_by(hits.c.i).subquery("holders")
    raw_idf = func.ln(cast((stats.c.n - holders.c.n + 0.5) / (holders.c.n + 0.5), Float))
    idf = case((raw_idf <= 0, BM25_MIN_IDF), else_=raw_idf)
    f = cast(hits.c.f, Float)
    avgdl = func.greatest(cast(stats.c.avgdl, Float), 1.0)  # never 0: a match has words
    norm = BM25_K1 * (1 - BM25_B + BM25_B * cast(hits.c.dl, Float) / avgdl)
    score = func.sum(idf * f * (BM25_K1 + 1) / (f + norm))
    return (
        select(hits.c.id, score.label("score"))
        .select_from(hits)
        .join(holders, holders.c.i == hits.c.i)
        .join(stats, true())
        .group_by(hits.c.id)
        .subquery("bm25")
    )


def _same_word(word: str, query_word: str) -> bool:
    """Prefix either way, so "returns" marks "return" and "return" marks "returns" (as FTS prefix queries match)."""
    return word.startswith(query_word) or (len(word) >= 4 and query_word.startswith(word))


def snippet(content: str, query: str, width: int = 24) -> str:
    """About ``width`` words of the original ``content`` around the first query hit, hits wrapped in ``**``."""
    query_words = words(query)
    tokens = content.split()
    hits = [i for i, t in enumerate(tokens) if any(_same_word(nw, q) for nw in words(t) for q in query_words)]
    if not hits:
        return " ".join(tokens[:width]) + (" …" if len(tokens) > width else "")
    start = max(hits[0] - width // 3, 0)
    end = min(start + width, len(tokens))
    shown = [f"**{t}**" if i in hits else t for i, t in enumerate(tokens[start:end], start)]
    return ("… " if start else "") + " ".join(shown) + (" …" if end < len(tokens) else "")


#: search structures the migration creates outside the models (FTS5 tables and their shadow tables on SQLite,
#: GIN expression indexes on PostgreSQL); autogenerate and the model/migration check must not see them
SEARCH_TABLES = ("products_fts", "knowledge_base_fts", "messages_fts", "product_words")
SEARCH_INDEXES = (
    "products_search_tsv",
    "products_search_trgm",
    "knowledge_base_search_tsv",
    "messages_search_tsv",
    "product_words_trgm",
)


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic ``include_name`` hook: False for the search structures above, True for everything else."""
    if type_ == "table" and name and any(name == t or name.startswith(f"{t}_") for t in SEARCH_TABLES):
        return False
    return not (type_ == "index" and name in SEARCH_INDEXES)
