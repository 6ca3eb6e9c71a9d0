"""A result goes out once: its data as structured content, beside it a short text for people, and
configured credentials masked in both, the text rendered from the masked data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.models import ExecResult
from manyoyo_mcp.server import build_server
from manyoyo_mcp.server.rendering import render, structured_only

MIB = 1 << 20


def exec_result(stdout: str, stderr: str = "", **changes: object) -> dict:
    fields = {
        "sandbox": "sbx",
        "exit_code": 0,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_bytes": len(stdout.encode()),
        "stderr_bytes": len(stderr.encode()),
        "truncated": False,
        "duration_s": 0.25,
        "timed_out": False,
        "killed": False,
    }
    return {**fields, **changes}


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(
        docker_host=f"unix://{tmp_path}/no-engine.sock",
        audit_dir=str(tmp_path / "audit"),
        allowed_host_roots=(str(tmp_path),),
    )


def test_an_exec_result_reads_as_exit_code_duration_and_the_head_and_tail_of_each_stream():
    text = render("exec", exec_result("".join(f"line {i}\n" for i in range(100)), "warning: slow\n"))
    lines = text.splitlines()
    assert lines[0] == "command in sandbox sbx: exit code 0 after 0.25 s"
    assert lines[1] == "stdout: 790 bytes, 100 lines"
    assert lines[2:7] == [f"  line {i}" for i in range(5)]
    assert lines[7] == "  [... 90 lines not shown ...]"
    assert lines[8:13] == [f"  line {i}" for i in range(95, 100)]
    assert lines[13:15] == ["stderr: 14 bytes, 1 line", "  warning: slow"]
    assert "structured content" in lines[-1]


def test_a_two_mib_output_becomes_a_few_hundred_characters_saying_what_was_cut():
    data = exec_result("o" * MIB, "e" * MIB, exit_code=None, timed_out=True, killed=True, truncated=True)
    text = render("exec", data)
    assert len(text) < 1000
    assert "no exit code after 0.25 s (timed out; killed" in text and "head and tail kept" in text
    assert f"stdout: {MIB} bytes, 1 line" in text and f"[... {MIB - 200} more characters]" in text
    assert "stderr: " in text


def test_empty_streams_and_short_outputs_are_shown_whole():
    text = render("exec", exec_result("one\ntwo\n"))
    assert text.splitlines()[1:5] == ["stdout: 8 bytes, 2 lines", "  one", "  two", "stderr: empty"]


@pytest.mark.parametrize(
    ("tool", "data", "expected"),
    [
        ("list_sandboxes", {"sandboxes": [{"name": "a", "state": "running"}]}, "1 sandbox: a (running)"),
        ("list_sandboxes", {"sandboxes": []}, "0 sandboxes"),
        ("remove_sandbox", {"name": "a", "id": "x", "removed_volumes": ["v"]}, "sandbox a removed, with volumes v"),
        ("stop_container", {"sandbox": "s", "id": "i", "name": "c", "state": "exited", "exit_code": 0}, "exit code 0"),
        ("describe_policy", {"policy": {"rules": [1, 2], "tools": ["exec"]}}, "2 rules, 1 tools"),
        ("a_tool_added_later", {"job": "j1", "state": "running", "stdout": "x"}, "job=j1, state=running"),
    ],
)
def test_every_other_result_reads_as_one_line_and_a_new_tool_still_gets_one(tool, data, expected):
    assert expected in render(tool, data).splitlines()[0]


@pytest.mark.anyio
async def test_a_tool_hands_the_sdk_its_structured_result_alone():
    async def tool() -> ExecResult:
        return ExecResult(**exec_result("hello\n"))

    result = await structured_only(tool)()
    assert isinstance(result, CallToolResult)
    assert result.content == [] and result.structured_content == exec_result("hello\n")


@pytest.mark.anyio
async def test_a_result_goes_out_once_over_the_protocol(settings):
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("describe_policy", {})
    (block,) = result.content
    assert isinstance(block, TextContent) and block.text.startswith("the active policy: ")
    assert len(block.text) < 200 < len(json.dumps(result.structured_content))


@pytest.mark.anyio
async def test_configured_credentials_are_masked_in_both_parts_and_never_shown_in_part(settings):
    server = build_server(settings)
    key = "\n".join(f"PRIVATE-KEY-LINE-{i}-abcdefghij" for i in range(8))  # a secret the rendering would cut
    server.recorder.remember({key, "sk-ant-secret-token-0123456789"})
    output = "".join(f"line {i}\n" for i in range(3)) + key + "\ntoken sk-ant-secret-token-0123456789\n"
    raw = CallToolResult(content=[], structured_content=exec_result(output))
    delivered = server._delivered("exec", raw)
    (block,) = delivered.content
    for part in (block.text, json.dumps(delivered.structured_content)):
        assert "PRIVATE-KEY-LINE" not in part and "sk-ant-secret" not in part
        assert "[redacted:" in part
