"""`manyoyo-mcp audit tail | show | stats | verify | report`: the audit log, for a reviewer."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from manyoyo_mcp.audit import review as audit_review
from manyoyo_mcp.audit.log import read_records, verify
from manyoyo_mcp.cli.serve import load
from manyoyo_mcp.errors import ManyoyoError


def audit_command(args: argparse.Namespace) -> int:
    directory = Path(args.dir).expanduser() if args.dir else load(args).settings.audit_path
    if not directory.is_dir():
        raise ManyoyoError(f"no audit log at {directory} (set --dir or MANYOYO_AUDIT_DIR)")
    command = args.audit_command
    if command == "verify":
        count, problem = verify(directory)
        if args.json:
            print(
                json.dumps({"records": count, "intact": problem is None, "problem": str(problem) if problem else None})
            )
            return 0 if problem is None else 1
        if problem is None:
            print(f"ok: {count} records in {directory}, the chain is intact")
            return 0
        print(f"BROKEN after {count - 1} good records: {problem}")
        return 1
    if command == "tail":
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
    calls, records = audit_review.load(directory)
    if command == "show":
        filters = audit_review.Filters(
            since=audit_review.parse_moment(args.since) if args.since else None,
            until=audit_review.parse_moment(args.until) if args.until else None,
            sandbox=args.sandbox,
            tool=args.tool,
            denied=args.denied,
            errors=args.errors,
            client=args.client,
        )
        chosen = [c for c in calls if filters.accepts(c)]
        if args.json:
            for call in chosen:
                print(json.dumps(call.as_dict(), ensure_ascii=False))
        else:
            print(audit_review.table(chosen))
        return 0
    if command == "stats":
        summary = audit_review.stats(calls)
        print(json.dumps(summary, indent=1) if args.json else audit_review.stats_text(summary))
        return 0
    Path(args.html).write_text(audit_review.html_report(calls, records, directory), encoding="utf-8")
    print(f"wrote {args.html}: {len(calls)} calls", file=sys.stderr)
    return 0
