"""Figures a test wants in the CI log (the fault suite's counts): written under ``test-output/reports/`` by the test,
then printed by ``tests/conftest.py`` in pytest's terminal summary, because under xdist a passing test's own output
is captured and dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parents[2] / "test-output" / "reports"


def record(name: str, figures: dict[str, Any], text: str) -> Path:
    """Keep ``figures`` (machine-readable, ``<name>.json``) and ``text`` (the lines to print, ``<name>.txt``)."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    path = REPORTS / f"{name}.txt"
    path.write_text(text.strip() + "\n")
    return path


def written_since(timestamp: float) -> list[Path]:
    """The text reports written by this session (older files are left from an earlier run)."""
    if not REPORTS.is_dir():
        return []
    return sorted(p for p in REPORTS.glob("*.txt") if p.stat().st_mtime >= timestamp)
