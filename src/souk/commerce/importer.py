"""Reading import files (CSV, JSON, Markdown) into rows, and the per-row report every import returns.

A file that cannot be read at all is refused whole (nothing written); a file that reads is imported row by row:
good rows are kept, each bad row is reported with its number, field and reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from souk.core.errors import Unprocessable, field_error

#: list-valued columns in a CSV cell are separated by "|" (commas are common inside names and descriptions)
LIST_SEPARATOR = "|"


@dataclass
class RowError:
    row: int
    field: str
    reason: str


@dataclass
class Report:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def _malformed(fmt: str, reason: str) -> Unprocessable:
    return Unprocessable(f"not a readable {fmt} file: {reason}", errors=[field_error("file", reason, "malformed")])


def format_of(filename: str | None, content_type: str | None) -> str:
    """The import format from a file name or a content type; a 422 naming ``format`` when neither tells."""
    name = (filename or "").lower()
    for ext, fmt in ((".csv", "csv"), (".json", "json"), (".md", "md"), (".markdown", "md")):
        if name.endswith(ext):
            return fmt
    kind = (content_type or "").split(";")[0].strip().lower()
    known = {"text/csv": "csv", "application/json": "json", "text/markdown": "md"}
    if kind in known:
        return known[kind]
    raise Unprocessable("say which format: csv, json or md", errors=[field_error("format", "unknown file format")])


def read_rows(data: bytes, fmt: str) -> list[dict[str, Any]]:
    """The rows of a CSV (header line first) or a JSON array of objects."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _malformed(fmt, "the file is not UTF-8 text") from None
    if fmt == "json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _malformed(fmt, f"line {exc.lineno}: {exc.msg}") from None
        if isinstance(rows, dict) and isinstance(rows.get("items"), list):
            rows = rows["items"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _malformed(fmt, 'expected an array of objects (or {"items": [...]})')
        return rows
    if fmt == "csv":
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            if not reader.fieldnames:
                raise _malformed(fmt, "no header line")
            rows = []
            for row in reader:
                if None in row:
                    raise _malformed(fmt, f"line {reader.line_num} has more cells than the header")
                rows.append({k.strip(): v for k, v in row.items() if v not in (None, "")})
            return rows
        except csv.Error as exc:
            raise _malformed(fmt, str(exc)) from None
    raise Unprocessable("say which format: csv or json", errors=[field_error("format", f"unknown format {fmt!r}")])


def split_list(value: Any) -> list[str]:
    """A JSON list as is; a CSV cell split on ``|``."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(LIST_SEPARATOR) if v.strip()]


def slug(value: str) -> str:
    return re.sub(r"[^\w]+", "-", value.strip().lower()).strip("-")[:200] or "doc"


def read_markdown(data: bytes) -> list[dict[str, Any]]:
    """One document per ``# heading``: the heading is the title, the text below it the content.

    A ``<!-- doc_id: … -->`` line under the heading sets the id; otherwise it is the heading's slug.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _malformed("md", "the file is not UTF-8 text") from None
    docs: list[dict[str, Any]] = []
    for line in text.splitlines():
        heading = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
        if heading:
            docs.append({"title": heading.group(1), "doc_id": slug(heading.group(1)), "lines": []})
            continue
        doc_id = re.match(r"^<!--\s*doc_id:\s*(\S+)\s*-->$", line.strip())
        if docs and doc_id:
            docs[-1]["doc_id"] = doc_id.group(1)
        elif docs:
            docs[-1]["lines"].append(line)
    if not docs:
        raise _malformed("md", "no '# heading' starts a document")
    return [{"doc_id": d["doc_id"], "title": d["title"], "content": "\n".join(d["lines"]).strip()} for d in docs]


def product_values(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV or JSON row as ProductIn input: list cells split, blank cells dropped (so defaults apply)."""
    values = {k: v for k, v in row.items() if v not in (None, "")}
    for key in ("tags", "images"):
        if key in values:
            values[key] = split_list(values[key])
    return values
