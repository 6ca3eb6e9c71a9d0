"""A call as one line a person reads (pure): what it did, how it ended, in short units."""

from __future__ import annotations

import anyio
import pytest

from manyoyo_mcp.audit.report import review
from manyoyo_mcp.audit.report.rows import clock as time_of_day
from manyoyo_mcp.audit.report.rows import describe, duration, groups, size

from .day import CLAUDE, DENIED_COMMAND, SECRET, START, Agent, clock, hexid


@pytest.mark.parametrize(
    ("tool", "args", "what", "extra"),
    [
        ("exec", {"sandbox": "s", "command": "npm test"}, "npm test", ""),
        ("exec", {"sandbox": "s", "command": ["sh", "-c", "echo 'a b'"]}, "sh -c 'echo '\"'\"'a b'\"'\"''", ""),
        (
            "exec",
            {"sandbox": "s", "command": "make", "timeout_s": 120, "workdir": "/w"},
            "make",
            "timeout_s=120 workdir=/w",
        ),
        ("run_container", {"sandbox": "s", "image": "web:1", "command": "ls /www"}, "web:1 ls /www", ""),
        ("run_container", {"sandbox": "s", "image": "db:16", "detach": True}, "db:16 (detached)", ""),
        ("build_image", {"sandbox": "s", "context": "app", "tag": "app:dev"}, "app:dev from app", ""),
        ("build_image", {"sandbox": "s", "dockerfile": "FROM busybox\nRUN true\n"}, "Dockerfile: FROM busybox …", ""),
        ("launch_agent", {"profile": "claude", "prompt": "fix it"}, "claude: fix it", ""),
        ("load_image", {"sandbox": "s", "image": "node:22"}, "node:22", ""),
        ("stop_container", {"sandbox": "s", "container": "web", "timeout_s": 1}, "web", "timeout_s=1"),
        ("create_sandbox", {"name": "s", "workspace": "/p", "mode": "sock"}, "workspace=/p mode=sock", ""),
        ("prune", {"sandbox": "s", "dry_run": True, "images": "unused"}, "dry_run=true images=unused", ""),
        ("list_sandboxes", {}, "", ""),
        (
            "write_file",
            {"sandbox": "s", "path": "a.txt", "content": {"bytes": 3, "sha256": "ab" * 32}, "user": "root"},
            "a.txt (3 bytes, sha256 abababababab…)",
            "user=root",
        ),
        ("read_file", {"sandbox": "s", "path": "/etc/hosts", "offset": 10}, "/etc/hosts", "offset=10"),
        ("list_files", {"sandbox": "s", "pattern": "**/*.py", "depth": 2}, "**/*.py", "depth=2"),
        ("no_such_tool", {"x": [1, 2]}, "x=1,2", ""),
        ("exec", {"sandbox": "s", "command": 5}, "5", ""),
        ("exec", {"sandbox": "s", "timeout_s": "soon"}, "timeout_s=soon", ""),
    ],
)
def test_what_a_call_did_reads_in_the_words_of_its_tool(tool, args, what, extra):
    assert describe(tool, args)[:2] == (what, extra)


def test_a_mapping_shows_its_keys_only_and_stays_for_the_expansion():
    what, extra, shown = describe("exec", {"sandbox": "s", "command": "env", "env": {"API_TOKEN": "[redacted:1]"}})
    assert (what, extra) == ("env", "env=API_TOKEN") and "env" not in shown
    assert describe("create_sandbox", {"env": {"K": "[redacted:1]"}})[:2] == ("env=K", "")


def test_every_outcome_has_a_text_label_and_a_denial_its_rule(day):
    rows = {row.call.tool + " " + row.line: row for row in day.rows}
    denied = next(row for line, row in rows.items() if DENIED_COMMAND in line)
    assert (denied.outcome, denied.rule, denied.label) == (
        "denied",
        "limits.timeout-ceiling",
        "denied · limits.timeout-ceiling",
    )
    assert denied.duration_s is None  # a refusal's milliseconds say nothing
    labels = {row.outcome: row.label for row in day.rows if not row.rule}
    assert labels == {
        "ok": "ok",
        "error": "error",
        "timeout": "timeout",
        "cancelled": "cancelled",
        "unfinished": "no outcome",
    }


def test_a_row_keeps_the_figures_of_its_outcome(day):
    timed_out = next(row for row in day.rows if row.outcome == "timeout")
    assert (timed_out.exit_code, timed_out.duration_s, timed_out.output_bytes) == (137, 120.4, 3100)
    unfinished = next(row for row in day.rows if row.outcome == "unfinished")
    assert (unfinished.exit_code, unfinished.duration_s, unfinished.output_bytes) == (None, None, None)


def test_no_row_holds_a_secret(day):
    assert all(SECRET not in str(row.as_dict()) for row in day.rows)
    assert any("[redacted:" in str(row.as_dict()) for row in day.rows)


def test_rows_group_by_session_then_sandbox_in_order_of_first_appearance(day):
    timeline = groups(day.rows)
    assert [[sandbox for sandbox, _ in boxes] for _, boxes in timeline] == [
        ["shop", "keys", "sbx-1a2b3c", None],
        ["ops", "ops2", "ops3", hexid(3)],
    ]
    assert sum(len(rows) for _, boxes in timeline for _, rows in boxes) == len(day.rows)


@pytest.mark.parametrize(
    ("count", "text"),
    [(None, ""), (0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (48_523, "47.4 KB"), (3 << 20, "3.0 MB")],
)
def test_sizes_read_in_short_units(count, text):
    assert size(count) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, ""), (0.0854, "85 ms"), (1.69, "1.7 s"), (42.4, "42 s"), (200.2, "3 m 20 s")]
)
def test_durations_read_in_short_units(seconds, text):
    assert duration(seconds) == text


def test_times_are_one_short_line():
    assert time_of_day("2026-11-29T20:25:27.515234Z") == "20:25:27"
    assert time_of_day("2026-11-29T20:25:27.515234Z", dated=True) == "11-29 20:25:27"


def test_a_sandbox_handed_out_by_the_warm_pool_says_so(tmp_path):
    async def session() -> None:
        with clock(START) as now:
            agent = Agent(tmp_path, CLAUDE, now)
            pooled = {"created": True, "id": hexid(7), "name": "sbx-1", "pooled": True}
            await agent.call("create_sandbox", {}, result=pooled)
            await agent.call("create_sandbox", {"memory": "1g"}, result={"created": True, "id": hexid(8), "name": "b"})

    anyio.run(session)
    whats = [row.what for row in review(tmp_path).rows if row.call.tool == "create_sandbox"]
    assert whats == ["(from the warm pool)", "memory=1g"]
