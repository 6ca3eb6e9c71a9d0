"""What a reviewer reads: the summary, one line per call, the page and the terminal view.

rows.py     a call as one line (pure): time, tool, what, outcome with its rule, exit, duration, output
summary.py  the summary (pure): period, chain, sessions, sandboxes, denials, failures, sock mode, top calls
text.py     both in the terminal (`audit show`, `audit summary`)
page.py     both as one self-contained HTML page (`audit report --html`), with cards.py, page.css, page.js
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from manyoyo_mcp.audit.log import check_chain
from manyoyo_mcp.audit.report.rows import Row, rows
from manyoyo_mcp.audit.report.summary import Chain, Summary, summarize
from manyoyo_mcp.audit.review import Filters, Session, load, select, sessions


@dataclass(frozen=True, slots=True)
class Review:
    """The log of a directory as a reviewer reads it: rows (the chosen calls), sessions, summary."""

    directory: Path
    rows: list[Row]
    sessions: list[Session]
    summary: Summary


def review(directory: Path, filters: Filters | None = None) -> Review:
    """Read and verify the log in `directory`; keep the calls `filters` accept."""
    calls, records = load(directory)
    checked = check_chain(directory)
    chosen, kept = select(calls, records, filters or Filters())
    found = sessions(chosen, kept)
    lines = rows(chosen)
    head = str(records[-1].get("hash")) if records else None
    chain = Chain(checked.records, checked.problem, head, checked.dropped_through)
    return Review(directory, lines, found, summarize(lines, kept, found, chain))
