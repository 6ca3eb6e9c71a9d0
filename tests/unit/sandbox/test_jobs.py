"""The server's side of sandboxd (pure): the daemon's answers validated and bounded, its errors
read, job ids and cursors checked, and how a job's end reads in the results."""

from __future__ import annotations

from typing import Any

import pytest

from manyoyo_mcp.errors import ChannelError, InvalidArgument
from manyoyo_mcp.sandbox.commands import Commands, notes_of, signal_name
from manyoyo_mcp.sandbox.jobs import parse_cursor, summary
from manyoyo_mcp.sandbox.sandboxd import Ends, JobNotFound, JobView, Sandboxd

pytestmark = pytest.mark.anyio


def view(**changes: Any) -> dict[str, Any]:
    base = {
        "id": "0123456789ab",
        "tag": "exec",
        "command": "sh -c make",
        "state": "exited",
        "started_at": 1_800_000_000.0,
        "ended_at": 1_800_000_002.5,
        "exit_code": 0,
        "stdout": {"size": 12, "cut": None},
        "stderr": {"size": 0, "cut": None},
    }
    return {**base, **changes}


class FakeChannel:
    """Answers each request with the next (status, body); records what was asked."""

    def __init__(self, *answers: tuple[int, dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, body: Any = None, timeout_s: float = 10) -> tuple[int, dict[str, Any]]:
        self.asked.append((method, path, body))
        return self.answers.pop(0)

    def close(self) -> None:
        pass


async def test_a_started_job_and_its_output_ends_are_read_from_the_answer():
    ends = {"size": 2, "head": "hi", "head_end": 2, "tail": "", "tail_start": 2}
    channel = FakeChannel((201, {"job": view(), "output": {"stdout": ends, "stderr": {**ends, "size": 0}}}))
    job, output = await Sandboxd(channel, "box").start({"id": "0123456789ab"}, 0.25, 100, 100)  # type: ignore[arg-type]
    assert job.state == "exited" and output is not None and output["stdout"].head == "hi"
    assert channel.asked[0][2]["wait_s"] == 0.25


async def test_a_retried_start_that_finds_its_job_started_already_returns_it():
    channel = FakeChannel((409, {"error": "exists", "job": view(state="running", ended_at=None, exit_code=None)}))
    job, output = await Sandboxd(channel, "box").start({"id": "0123456789ab"}, 0, 0, 0)  # type: ignore[arg-type]
    assert job.state == "running" and output is None


@pytest.mark.parametrize(
    "bad",
    [
        {"job": view(id="../x")},
        {"job": view(state="exploded")},
        {"job": view(command="x" * 401)},
        {"job": view(left=[{"pid": 1, "command": "x"}] * 21)},
        {"job": view(signal=999)},
        {"job": view(stdout={"size": -1})},
        {"nothing": True},
    ],
    ids=["id", "state", "long-command", "too-many-left", "signal", "negative-size", "no-job"],
)
async def test_an_answer_the_daemon_does_not_give_is_its_failure_never_the_servers(bad):
    with pytest.raises(ChannelError, match="unexpected"):
        await Sandboxd(FakeChannel((200, bad)), "box").get("0123456789ab")  # type: ignore[arg-type]
    assert JobView.model_validate(view()).id == "0123456789ab"  # its harmless twin


async def test_the_daemons_refusals_become_errors_the_agent_can_act_on():
    channel = FakeChannel((404, {"error": "no job"}), (400, {"error": "pattern: 1 to 1000 characters"}), (500, {}))
    daemon = Sandboxd(channel, "box")  # type: ignore[arg-type]
    with pytest.raises(JobNotFound, match="list_jobs"):
        await daemon.get("0123456789ab")
    with pytest.raises(InvalidArgument, match="pattern"):
        await daemon.search("0123456789ab", "stdout", "", fixed=True, ignore_case=False, limit=5)
    with pytest.raises(ChannelError, match="500"):
        await daemon.jobs()


@pytest.mark.parametrize("job_id", ["../../etc", "ABC", "", "a" * 65, "a/b"])
async def test_a_job_id_that_is_not_one_never_reaches_the_daemon(job_id):
    channel = FakeChannel()
    with pytest.raises(InvalidArgument, match="not a job id"):
        await Sandboxd(channel, "box").kill(job_id)  # type: ignore[arg-type]
    assert channel.asked == []


def test_a_cursor_is_two_offsets_or_nothing():
    assert parse_cursor(None) == {"stdout": 0, "stderr": 0}
    assert parse_cursor("12:7") == {"stdout": 12, "stderr": 7}
    for bad in ("12", "a:b", "-1:0", "1:2:3"):
        with pytest.raises(InvalidArgument, match="next_cursor"):
            parse_cursor(bad)


def test_a_job_killed_by_a_signal_reads_as_the_shell_would_say_it():
    killed = JobView.model_validate(view(exit_code=None, signal=9, timed_out=True, killed=True))
    facts = summary(killed)
    assert (facts["exit_code"], facts["signal"], facts["timed_out"]) == (137, "SIGKILL", True)
    assert facts["duration_s"] == 2.5 and facts["started_at"].startswith("2027-01-15T")
    assert signal_name(None) is None and signal_name(64) == "SIGRTMAX"


def test_what_the_flags_do_not_say_is_in_the_notes():
    quiet = JobView.model_validate(view())
    assert notes_of(quiet) == ()
    eventful = JobView.model_validate(
        view(lost=True, oom_kills=2, cancelled=True, stdout={"size": 10**9, "cut": [1 << 20, 10**9 - (1 << 20)]})
    )
    notes = " | ".join(notes_of(eventful))
    assert "exit status is unknown" in notes and "OOM killer killed 2" in notes
    assert "stopped by a cancel" in notes and "stdout passed the per-job cap" in notes


def test_an_exec_result_names_its_output_files_and_keeps_within_the_budget():
    ends = {
        "stdout": {"size": 100_000, "head": "a" * 1000, "head_end": 1000, "tail": "z" * 1000, "tail_start": 99_000},
        "stderr": {"size": 0, "head": "", "head_end": 0, "tail": "", "tail_start": 0},
    }

    job = JobView.model_validate(view(stdout={"size": 100_000, "cut": None}))
    outcome = Commands(None, None, 1000, 1 << 20).outcome(  # type: ignore[arg-type]
        job, {name: Ends.model_validate(value) for name, value in ends.items()}, 0.5
    )
    assert outcome.truncated and outcome.stdout_bytes == 100_000
    assert outcome.output_files == {
        "stdout": "/var/lib/manyoyo-jobs/0123456789ab/stdout",
        "stderr": "/var/lib/manyoyo-jobs/0123456789ab/stderr",
    }
    assert outcome.stdout.startswith("a" * 500) and outcome.stdout.endswith("z" * 500)
    assert "99000 bytes truncated" in outcome.stdout
