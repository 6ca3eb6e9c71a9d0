"""Reading the log as a reviewer (pure): calls grouped with their records, sessions, filters."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.audit.review import Filters, load, parse_moment, select, sessions

from .day import CALLS, CLAUDE, CODEX, RECORDS, SECOND_SESSION_CALLS, START, hexid


def test_time_filters_take_durations_and_iso_times():
    assert abs(parse_moment("2h").timestamp() - (time.time() - 7200)) < 5
    assert parse_moment("2026-11-29T10:00:00Z") == parse_moment("2026-11-29T11:00:00+01:00")


def test_each_call_holds_its_own_records_in_order(day_log):
    calls, records = load(day_log)
    assert len(calls) == CALLS and len(records) == RECORDS
    assert all(c.records[0]["event"] == "call" and {r["call"] for r in c.records} == {c.id} for c in calls)
    confirmed = next(c for c in calls if c.sandbox == "ops")
    assert [r["event"] for r in confirmed.records] == ["call", "decision", "decision", "outcome"]
    killed = calls[-1]
    assert [r["event"] for r in killed.records] == ["call", "decision"] and killed.outcome is None


def test_sessions_are_numbered_in_order_of_their_first_call_and_carry_their_client(day_log):
    calls, records = load(day_log)
    found = sessions(calls, records)
    busy = [s for s in found if s.calls]
    assert [(s.number, s.client, s.calls) for s in busy] == [
        (1, f"{CLAUDE['name']} {CLAUDE['version']}", 14),
        (2, f"{CODEX['name']} {CODEX['version']}", SECOND_SESSION_CALLS),
    ]
    assert busy[0].started and busy[0].started["pid"] == 4242 and busy[0].stopped
    assert busy[1].stopped is None  # the server was killed mid-call
    assert [s.number for s in found if not s.calls] == [0, 0]  # server runs that served no call


def test_a_sandbox_the_server_named_is_the_calls_sandbox(day_log):
    calls, _ = load(day_log)
    launched = next(c for c in calls if c.tool == "launch_agent")
    assert launched.args.get("sandbox") is None and launched.sandbox == "sbx-1a2b3c"


def test_in_older_logs_an_unnamed_sandbox_is_named_by_the_call_that_removed_it(tmp_path):
    log = AuditLog(tmp_path, fsync=False)
    made, gone = hexid(9), {"session": "s1", "tool": "remove_sandbox", "sandbox": "sbx-9"}
    log.append({"event": "call", "session": "s1", "call": "s1-1", "tool": "launch_agent", "sandbox": None, "args": {}})
    log.append({"event": "outcome", "session": "s1", "call": "s1-1", "status": "ok", "created": [made]})
    log.append({"event": "call", "call": "s1-2", "args": {"sandbox": "sbx-9"}, **gone})
    log.append({"event": "outcome", "call": "s1-2", "status": "ok", "removed": [made], **gone})
    calls, _ = load(tmp_path)
    assert [c.sandbox for c in calls] == ["sbx-9", "sbx-9"]


def test_a_session_is_chosen_by_its_number_or_its_id(day_log):
    calls, _ = load(day_log)
    second = calls[-1].session
    by_number = [c.id for c in calls if Filters(session="2").accepts(c)]
    assert by_number == [c.id for c in calls if Filters(session=second).accepts(c)]
    assert len(by_number) == SECOND_SESSION_CALLS


def test_server_events_stay_with_time_and_session_filters_only(day_log):
    calls, records = load(day_log)
    first = sum(1 for r in records if not r.get("call") and r["session"] == calls[0].session)
    _, kept = select(calls, records, Filters(session="1"))
    assert sum(1 for r in kept if not r.get("call")) == first == 2
    _, kept = select(calls, records, Filters(sandbox="shop"))
    assert all(r.get("call") for r in kept)
    late = select(calls, records, Filters(since=START + timedelta(hours=1)))
    assert {c.session_number for c in late[0]} == {2}
    assert json.dumps(late[1])  # records stay plain data
