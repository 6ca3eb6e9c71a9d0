"""`manyoyo-mcp audit tail | show | summary | stats | verify | report`: the audit log, for a reviewer."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from manyoyo_mcp.audit import review as audit_review
from manyoyo_mcp.audit.log import check_chain, read_records
from manyoyo_mcp.audit.report import review
from manyoyo_mcp.audit.report.page import page
from manyoyo_mcp.audit.report.summary import as_dict
from manyoyo_mcp.audit.report.text import summary_text, table
from manyoyo_mcp.cli.serve import load
from manyoyo_mcp.errors import ManyoyoError


def add_audit_parser(commands: Any) -> None:
    """`audit` and its commands, on the CLI's subparsers."""
    audit = commands.add_parser("audit", help="review the audit log")
    audit.add_argument("--dir", help="audit directory (default: MANYOYO_AUDIT_DIR or ~/.manyoyo/audit)")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    tail = audit_commands.add_parser("tail", help="the last records, one per line")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    tail.add_argument("--json", action="store_true", help="the records as they are stored")
    show = audit_commands.add_parser("show", help="calls, a line each, under their session and sandbox")
    _filters(show, calls=True)
    show.add_argument("--why", action="store_true", help="under a denied or failed call, its reason or error")
    show.add_argument("--json", action="store_true", help="each call with its records, as JSON lines")
    summary = audit_commands.add_parser("summary", help="what happened: sessions, sandboxes, denials, failures")
    _filters(summary, calls=False)
    summary.add_argument("--json", action="store_true")
    stats = audit_commands.add_parser("stats", help="calls per tool, denials per rule, outcomes, durations")
    stats.add_argument("--json", action="store_true")
    verify_command = audit_commands.add_parser(
        "verify", help="check the hash chain; name the first record edited, removed or moved"
    )
    verify_command.add_argument("--json", action="store_true")
    report = audit_commands.add_parser("report", help="a self-contained HTML page to open in a browser")
    report.add_argument("--html", required=True, metavar="FILE")
    _filters(report, calls=False)


def _filters(parser: argparse.ArgumentParser, *, calls: bool) -> None:
    parser.add_argument("--since", help="ISO time, or a duration ago: 30m, 2h, 1d")
    parser.add_argument("--until", help="ISO time, or a duration ago")
    parser.add_argument("--session", help="a session's number (as shown) or id")
    parser.add_argument("--sandbox")
    if calls:
        parser.add_argument("--tool")
        parser.add_argument("--client", help="the MCP client's name")
        parser.add_argument("--denied", action="store_true", help="only calls the policy denied")
        parser.add_argument("--errors", action="store_true", help="only calls that failed, timed out or were cancelled")


def filters_of(args: argparse.Namespace) -> audit_review.Filters:
    moment = audit_review.parse_moment
    return audit_review.Filters(
        since=moment(args.since) if args.since else None,
        until=moment(args.until) if args.until else None,
        session=args.session,
        sandbox=args.sandbox,
        tool=getattr(args, "tool", None),
        denied=getattr(args, "denied", False),
        errors=getattr(args, "errors", False),
        client=getattr(args, "client", None),
    )


def audit_command(args: argparse.Namespace) -> int:
    directory = Path(args.dir).expanduser() if args.dir else load(args).settings.audit_path
    if not directory.is_dir():
        raise ManyoyoError(f"no audit log at {directory} (set --dir or MANYOYO_AUDIT_DIR)")
    command = args.audit_command
    if command == "verify":
        return _verify(directory, args.json)
    if command == "tail":
        return _tail(directory, args)
    if command == "stats":
        summary = audit_review.stats(audit_review.load(directory)[0])
        print(json.dumps(summary, indent=1) if args.json else audit_review.stats_text(summary))
        return 0
    seen = review(directory, filters_of(args))
    if command == "show" and args.json:
        for row in seen.rows:
            print(json.dumps(row.as_dict(), ensure_ascii=False))
    elif command == "show":
        width = shutil.get_terminal_size((120, 24)).columns
        colour = sys.stdout.isatty()
        print(table(seen.rows, seen.sessions, width, colour=colour, why=args.why, chain=seen.summary.chain))
    elif command == "summary":
        print(json.dumps(as_dict(seen.summary), indent=1) if args.json else summary_text(seen.summary, str(directory)))
    else:
        text = page(seen)
        Path(args.html).write_text(text, encoding="utf-8")
        size = len(text.encode())
        print(f"wrote {args.html}: {len(seen.rows)} calls, {size // 1024} KB", file=sys.stderr)
    return 0


def _verify(directory: Path, as_json: bool) -> int:
    checked = check_chain(directory)
    count, problem, dropped = checked.records, checked.problem, checked.dropped_through
    if as_json:
        print(
            json.dumps(
                {
                    "records": count,
                    "intact": problem is None,
                    "problem": str(problem) if problem else None,
                    "dropped_through_seq": dropped,
                }
            )
        )
        return 0 if problem is None else 1
    if problem is None:
        went = f" (records up to seq {dropped} went by retention, as the log records)" if dropped else ""
        print(f"ok: {count} records in {directory}, the chain is intact{went}")
        return 0
    print(f"BROKEN after {count - 1} good records: {problem}")
    return 1


def _tail(directory: Path, args: argparse.Namespace) -> int:
    seen = [r for _, _, r, _ in read_records(directory) if r is not None]
    show = (lambda r: json.dumps(r, ensure_ascii=False)) if args.json else audit_review.record_line
    for record in seen[-args.n :]:
        print(show(record), flush=True)
    last = seen[-1]["seq"] if seen else 0
    while args.follow:
        time.sleep(0.5)
        for _, _, record, _ in read_records(directory):
            if record is not None and record.get("seq", 0) > last:
                print(show(record), flush=True)
                last = record["seq"]
    return 0
