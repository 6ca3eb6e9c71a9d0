"""The summary a reviewer reads first (pure over the records): what happened, in a few lines."""

from __future__ import annotations

import json
import shutil

from manyoyo_mcp.audit.log import log_files
from manyoyo_mcp.audit.report import review
from manyoyo_mcp.audit.report.summary import as_dict

from .day import CALLS, CLAUDE, DENIED_COMMAND, RECORDS, SECOND_SESSION_CALLS, SECRET


def test_the_period_and_every_outcome_are_counted(day):
    summary = day.summary
    assert (summary.first[:19], summary.last[:19]) == ("2026-11-28T09:12:04", "2026-11-28T11:27:35")
    assert summary.calls == CALLS
    assert summary.outcomes == {"ok": 14, "denied": 4, "error": 1, "timeout": 1, "cancelled": 1, "unfinished": 1}


def test_the_agents_sessions_show_their_client_and_server_start(day):
    (first, second) = day.summary.sessions
    assert first.session.clients == [f"{CLAUDE['name']} {CLAUDE['version']}"]
    assert first.session.started and first.session.started["version"] == "0.1.0"
    assert first.outcomes == {"ok": 8, "denied": 3, "error": 1, "timeout": 1, "cancelled": 1}
    assert second.session.calls == SECOND_SESSION_CALLS and day.summary.idle_runs == 2


def test_sandboxes_made_and_removed_are_matched_by_their_id(day):
    lives = {life.name: life for life in day.summary.sandboxes}
    assert list(lives) == ["shop", "sbx-1a2b3c", "ops", "ops2"]  # denied creations made nothing
    assert lives["shop"].created and lives["shop"].removed and lives["shop"].removed.call.tool == "remove_sandbox"
    assert lives["sbx-1a2b3c"].created and lives["sbx-1a2b3c"].created.call.tool == "launch_agent"
    assert lives["sbx-1a2b3c"].removed is None


def test_denials_are_counted_by_rule_with_the_calls_they_refused(day):
    denials = day.summary.denials
    assert {rule: len(rows) for rule, rows in denials.items()} == {
        "host.mount-credentials": 1,
        "limits.timeout-ceiling": 1,
        "image.load-allowlist": 1,
        "mode.sock-declined": 1,
    }
    assert DENIED_COMMAND in denials["limits.timeout-ceiling"][0].what


def test_failures_sock_mode_and_warnings_each_list_their_calls(day):
    summary = day.summary
    assert {key: [r.call.tool for r in rows] for key, rows in summary.failures.items()} == {
        "error": ["run_container"],
        "timeout": ["exec"],
        "cancelled": ["exec"],
        "unfinished": ["exec"],
    }
    assert [r.call.sandbox for r in summary.confirmations] == ["ops"]
    assert [r.call.sandbox for r in summary.grants] == ["ops2"]
    assert [r.call.tool for r in summary.warnings] == ["build_image"]


def test_the_longest_and_the_most_output_heavy_calls_come_first(day):
    assert [r.call.tool for r in day.summary.longest][:3] == ["launch_agent", "exec", "build_image"]
    assert [r.what for r in day.summary.heaviest][:2] == ["npm ci", "npm test -- cart"]


def test_an_intact_chain_is_stated_with_its_head(day):
    chain = day.summary.chain
    assert chain.intact and chain.records == RECORDS and chain.head and len(chain.head) == 64
    assert chain.text().startswith(f"verified: all {RECORDS} records intact")


def test_a_broken_chain_names_the_first_bad_record_and_distrusts_the_calls_after_it(day_log, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(day_log, copy)
    (path,) = log_files(copy)
    lines = path.read_text().splitlines()
    edited = next(i for i, line in enumerate(lines) if '"output_bytes":48523' in line)  # npm ci's outcome
    lines[edited] = lines[edited].replace('"status":"ok"', '"status":"error"')  # a quiet, plausible edit
    path.write_text("\n".join(lines) + "\n")
    seen = review(copy)
    chain = seen.summary.chain
    assert not chain.intact and chain.problem and chain.problem.line == edited + 1 and "edited" in chain.text()
    trusted = [chain.trusts(row) for row in seen.rows]
    assert trusted == sorted(trusted, reverse=True) and True in trusted and False in trusted


def test_the_summary_as_json_keeps_every_part_and_no_secret(day):
    data = as_dict(day.summary)
    text = json.dumps(data)
    assert SECRET not in text
    assert data["chain"]["intact"] is True and data["calls"] == CALLS
    assert [s["number"] for s in data["sessions"]] == [1, 2] and data["server_runs_without_calls"] == 2
    assert data["sandboxes"][1] == {
        "name": "sbx-1a2b3c",
        "created": data["sandboxes"][1]["created"],
        "created_by": "launch_agent",
        "removed": None,
    }
    assert set(data["denials"]) == set(day.summary.denials) and data["sock_operator_grants"][0]["sandbox"] == "ops2"
