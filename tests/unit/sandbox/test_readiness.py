"""What the server says about a sandbox's engine that stopped answering, from what the revive script
found inside and did (pure: the script's output parsed, the story told)."""

from __future__ import annotations

import pytest

from manyoyo_mcp.sandbox.readiness import EngineReport


def report(text: str) -> EngineReport:
    return EngineReport.parse("docker", text)


def test_the_script_output_is_read_whatever_else_is_printed():
    found = report("noise\nengine=gone\nsupervisor=running\nanswers=no\nage=7\nrestarts=3\ndid=asked-supervisor\n")
    assert found == EngineReport("docker", "gone", "running", False, 7, 3, ("asked-supervisor",))
    assert report("") == EngineReport("docker")  # nothing found: gone, not answering


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "engine=gone\nsupervisor=running\nrestarts=2\ndid=asked-supervisor",
            ["docker engine was not running: it had exited (restarted 2 times so far)", "asked to restart it at once"],
        ),
        (
            "engine=gone\nsupervisor=gone\nrestarts=1\ndid=started-supervisor",
            ["restarted 1 time so far", "supervisor was gone): the server started one"],
        ),
        (
            "engine=stopped\nsupervisor=running\nage=500\ndid=killed-engine\ndid=asked-supervisor",
            ["was stopped (SIGSTOP)", "the server killed it, then the sandbox's init was asked"],
        ),
        ("engine=running\nsupervisor=running\nage=300\ndid=killed-engine", ["did not answer for 5s, 300s after"]),
        ("engine=running\nsupervisor=running\nage=3", ["was still starting (3s ago)"]),
        (
            "engine=running\nsupervisor=running\nanswers=yes\nrestarts=4",
            ["had stopped and the sandbox's init restarted it (restarted 4 times so far); it answers"],
        ),
        ("engine=running\nsupervisor=running\nanswers=yes", ["docker engine answers"]),
    ],
)
def test_the_story_says_what_was_found_and_done(text, says):
    story = report(text).story()
    for part in says:
        assert part in story, story


def test_a_count_of_no_restarts_is_not_told():
    assert "restarted" not in report("engine=gone\nsupervisor=gone\nrestarts=0\ndid=started-supervisor").story()
