"""`manyoyo-mcp audit ...` as a reviewer types it: show, summary, report, and tail, stats, verify."""

from __future__ import annotations

import json
import shutil

import anyio
import pytest

from manyoyo_mcp.audit.log import log_files
from manyoyo_mcp.audit.report.rows import COLUMNS
from manyoyo_mcp.cli import main

from .day import CALLS, CLAUDE, DENIED_COMMAND, SECOND_SESSION_CALLS, SECRET, START, Agent, busy_day, clock


@pytest.fixture
def audit(day_log, capsys):
    def run(*args: str) -> str:
        assert main(["audit", "--dir", str(day_log), *args]) == 0
        return capsys.readouterr().out

    return run


def calls_in(out: str) -> list[str]:
    return [line for line in out.splitlines()[1:] if not line.startswith(("== ", "-- "))]


def test_show_gives_one_line_per_call_with_the_columns_under_session_and_sandbox(audit):
    out = audit("show")
    lines = out.splitlines()
    assert lines[0].split() == list(COLUMNS)
    assert lines[1].startswith("== session 1 · claude-code 2.0.31 · started 2026-11-28 09:18:04 UTC")
    assert lines[2] == "-- sandbox shop"
    assert len(calls_in(out)) == CALLS
    (denied,) = [line for line in calls_in(out) if "limits.timeout-ceiling" in line]
    assert denied.startswith("09:19:43  exec") and DENIED_COMMAND[:20] in denied and "denied" in denied
    assert SECRET not in out and "[redacted:" in out


def test_show_filters_by_session_sandbox_and_time_and_keeps_the_older_filters(audit):
    assert len(calls_in(audit("show", "--session", "2"))) == SECOND_SESSION_CALLS
    assert len(calls_in(audit("show", "--sandbox", "shop"))) == 11
    assert len(calls_in(audit("show", "--since", "2026-11-28T11:00:00Z"))) == SECOND_SESSION_CALLS
    assert len(calls_in(audit("show", "--until", "2026-11-28T11:00:00Z"))) == 14
    assert len(calls_in(audit("show", "--denied"))) == 4
    assert len(calls_in(audit("show", "--errors"))) == 3  # error, timeout, cancelled
    assert len(calls_in(audit("show", "--tool", "launch_agent", "--client", "claude-code"))) == 1
    assert audit("show", "--since", "1h").strip() == "no calls"


def test_show_why_puts_a_denied_or_failed_calls_reason_under_it(audit):
    lines = audit("show", "--why", "--session", "1").splitlines()
    denied = next(i for i, line in enumerate(lines) if "limits.timeout-ceiling" in line)
    assert lines[denied + 1].split() == ["↳", "timeout_s", "is", "at", "most", "3600"]
    failed = next(i for i, line in enumerate(lines) if " error " in line)
    assert lines[failed + 1].strip().startswith("↳ no image postgres:16")
    assert sum(line.strip().startswith("↳") for line in lines) == 4  # three denials, one error


def test_show_json_gives_each_call_with_its_columns_and_records(audit):
    rows = [json.loads(line) for line in audit("show", "--json", "--denied").splitlines()]
    assert [r["rule"] for r in rows] == [
        "host.mount-credentials",
        "limits.timeout-ceiling",
        "image.load-allowlist",
        "mode.sock-declined",
    ]
    assert {"ts", "tool", "what", "outcome", "exit_code", "duration_s", "output_bytes", "records"} <= set(rows[0])
    assert [r["event"] for r in rows[0]["records"]] == ["call", "decision", "outcome"]


def test_summary_reads_as_text_and_as_json(audit):
    text = audit("summary")
    for part in (
        "chain    verified",
        "session 2 · codex-mcp-client 0.46.0",
        "sbx-1a2b3c: created 09:23:18 by launch_agent",
    ):
        assert part in text
    assert "mode.sock-declined (1)" in text and "1 confirmed by a human, 1 granted by the operator" in text
    data = json.loads(audit("summary", "--json"))
    assert data["calls"] == CALLS and data["chain"]["intact"]
    assert json.loads(audit("summary", "--json", "--session", "1"))["calls"] == 14


def test_tail_stats_and_verify_still_work(audit, day_log, tmp_path, capsys):
    assert [json.loads(line)["event"] for line in audit("tail", "-n", "2", "--json").splitlines()] == [
        "call",
        "decision",
    ]
    assert "decision" in audit("tail", "-n", "1")
    assert json.loads(audit("stats", "--json"))["denials_per_rule"]["image.load-allowlist"] == 1
    assert "intact" in audit("verify")
    copy = tmp_path / "copy"
    shutil.copytree(day_log, copy)
    (path,) = log_files(copy)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:5] + lines[6:]) + "\n")
    assert main(["audit", "--dir", str(copy), "verify"]) == 1
    assert "missing" in capsys.readouterr().out
    assert main(["audit", "--dir", str(copy), "show"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith("!! chain BROKEN at audit-") and "line 6" in shown[0]
    assert all(line.startswith("⚠ ") for line in calls_in("\n".join(shown[1:])))  # all come after line 6


def test_report_writes_a_page_of_well_under_a_kilobyte_per_call_on_a_long_day(tmp_path, capsys):
    log = busy_day(tmp_path / "busy", 300)
    page = tmp_path / "busy.html"
    assert main(["audit", "--dir", str(log), "report", "--html", str(page)]) == 0
    size = page.stat().st_size
    assert "300 calls" in capsys.readouterr().err
    assert size / 300 < 600, f"{size} bytes for 300 calls"
    assert page.read_text().count("<details") >= 300


def hostile_day(directory):
    """An agent's calls whose names, paths and commands hold newlines, terminal escapes and NULs."""

    async def day() -> None:
        with clock(START) as now:
            agent = Agent(directory, CLAUDE, now)
            await agent.recorder.server_event("server_start", version="0.1.0", pid=4242)
            forged = "x\n00:00:00  exec  FORGED"
            await agent.call("exec", {"sandbox": forged, "command": "true"}, status="error", error="no sandbox")
            await agent.call("exec", {"sandbox": "s", "command": "echo \x1b[2J\x1b[31mcleared\x07 nul\x00"})
            await agent.call("write_file", {"sandbox": "s", "path": "/tmp/\x1b]0;pwned\x07.txt", "content": "x"})

    anyio.run(day)
    return directory


@pytest.mark.parametrize("command", [["show", "--why"], ["summary"]])
def test_an_agents_text_cannot_fake_a_line_or_drive_the_terminal(tmp_path, capsys, command):
    log = hostile_day(tmp_path / "hostile")
    assert main(["audit", "--dir", str(log), *command]) == 0
    out = capsys.readouterr().out
    assert not [c for c in out if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F], out
    assert not [line for line in out.splitlines() if line.lstrip().startswith("00:00:00  exec  FORGED")], out
    assert "\\x1b[2J" in out or "\\x1b]0;pwned" in out  # shown, as escapes
