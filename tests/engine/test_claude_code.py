"""The real Claude Code CLI (pinned, from npm) as the MCP client, a stub of the Anthropic API as the model.

Each assertion is on what Claude Code passed to the model for a tool result: that is what an agent
reads of our server. Observed with Claude Code 2.1.332:
- a result with structuredContent reaches the model as that structuredContent, compact JSON, and
  the text block is ignored; an error (isError) reaches it as its text, marked is_error;
- a result over 50,000 characters is saved to a file on the client's machine and the model gets a
  `<persisted-output>` notice with the path and a 2 KB preview; over MAX_MCP_OUTPUT_TOKENS (25,000
  tokens, as counted by the API's count_tokens) it gets only an "exceeds maximum allowed tokens"
  notice with the path. A tool declaring `_meta["anthropic/maxResultSizeChars"]` raises the first
  ceiling and escapes the second.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from manyoyo_mcp.sandbox import ownership

from ..support.claude_code import ClaudeCodeMissing, claude_binary, run_claude

STUB = Path(__file__).parent.parent / "support" / "anthropic_stub.py"
BIG = 300_000


@pytest.fixture(scope="module")
def claude() -> str:
    """The pinned CLI; installed on first use. Missing, the tests fail (never skip)."""
    try:
        return claude_binary()
    except ClaudeCodeMissing as exc:
        pytest.fail(f"the Claude Code CLI is missing and could not be installed: {exc}", pytrace=False)


def compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.engine
def test_a_scripted_conversation_through_the_real_claude_code(claude, engine, scope):
    name = "cc-" + secrets.token_hex(3)
    script = [
        {"tool": "create_sandbox", "input": {"name": name}},
        {"tool": "exec", "input": {"sandbox": name, "command": "echo hello; uname -s"}},
        {"tool": "exec", "input": {"sandbox": name, "command": f"head -c {BIG} /dev/zero | tr '\\0' x"}},
        {"tool": "create_sandbox", "input": {"name": name + "-etc", "workspace": "/etc"}},
        {"tool": "remove_sandbox", "input": {"sandbox": name}},
        {"text": "The sandbox did its work and is gone."},
    ]
    run = run_claude("Create a sandbox, run two commands in it, then remove it.", scope=scope, script=script)
    assert run.exit_code == 0, run.summary()
    assert run.result.get("subtype") == "success" and not run.result.get("is_error"), run.summary()
    assert run.result["result"] == "The sandbox did its work and is gone."
    assert not run.result.get("permission_denials"), run.result["permission_denials"]
    assert [(s["name"], s["status"]) for s in run.init["mcp_servers"]] == [("manyoyo", "connected")]
    assert {"mcp__manyoyo__create_sandbox", "mcp__manyoyo__exec", "mcp__manyoyo__remove_sandbox"} <= set(
        run.init["tools"]
    )

    results = run.tool_results
    assert [(r["step"], r["tool"]) for r in results] == [
        (0, "mcp__manyoyo__create_sandbox"),
        (1, "mcp__manyoyo__exec"),
        (2, "mcp__manyoyo__exec"),
        (3, "mcp__manyoyo__create_sandbox"),
        (4, "mcp__manyoyo__remove_sandbox"),
    ], run.summary()
    created, small, big, refused, removed = results

    # A success: the model reads the structuredContent as compact JSON (our text block is a short
    # summary for people, so the JSON shows which of the two it got).
    assert not created["is_error"] and isinstance(created["content"], str)
    sandbox = json.loads(created["text"])
    assert created["text"] == compact(sandbox)
    assert sandbox["name"] == name and sandbox["created"] is True and sandbox["mode"] == "dind"

    assert not small["is_error"]
    ran = json.loads(small["text"])
    assert small["text"] == compact(ran)
    assert ran["exit_code"] == 0 and ran["stdout"] == "hello\nLinux\n" and ran["stderr"] == ""

    # ~300 KB of output: today the result (stdout kept whole, under the 1 MiB cap) is larger than
    # Claude Code lets into the conversation; the model gets only a notice and the path of a file
    # on the client's machine. Issue 16 makes results fit; this assertion changes with it.
    assert not big["is_error"]
    notice = re.match(
        r"Error: result \(([\d,]+) characters\) exceeds maximum allowed tokens\. Output has been saved to (\S+)\.\n",
        big["text"],
    )
    assert notice, big["text"][:500]
    assert int(notice.group(1).replace(",", "")) > BIG
    assert "/.claude/projects/" in notice.group(2) and "Format: JSON with schema: {sandbox: string" in big["text"]
    assert "x" * 1000 not in big["text"] and big["chars"] < 5000
    assert any(count["tokens"] > 25_000 for count in run.token_counts), "Claude Code counted the result's tokens"

    # A policy denial: an error result, its text as it is.
    assert refused["is_error"] and isinstance(refused["content"], str)
    assert refused["text"].startswith(
        "Error executing tool create_sandbox: denied by policy rule host.mount-system-path: '/etc'"
    ), refused["text"]

    assert not removed["is_error"]
    gone = json.loads(removed["text"])
    assert gone["name"] == name and gone["id"] == sandbox["id"]
    assert not [c for c in engine.list_containers(ownership.owner_labels(scope)) if c.id == sandbox["id"]]


@pytest.mark.engine
def test_a_headless_prompt_answered_with_a_fixed_text(claude, scope):
    run = run_claude("Say hello.", scope=scope, text="Hello from the stub.")
    assert run.exit_code == 0 and run.result["result"] == "Hello from the stub.", run.summary()
    assert len(run.main_requests) == 1 and "mcp__manyoyo__exec" in run.init["tools"]


# A server whose results differ in their text and structured parts, errors, and sizes on demand.
PROBE_SERVER = '''
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

server = MCPServer("probe")

def text(value):
    return [TextContent(type="text", text=value)]

@server.tool()
def both(size: int = 0) -> CallToolResult:
    """Text and structured content that differ."""
    structured = {"from": "structured", "u": "é", "pad": "s" * size}
    return CallToolResult(content=text("TEXT-BLOCK"), structured_content=structured)

@server.tool()
def plain(size: int = 10) -> CallToolResult:
    """Text only."""
    return CallToolResult(content=text("x" * size))

@server.tool()
def failing() -> CallToolResult:
    """An error with structured content."""
    return CallToolResult(content=text("ERR-TEXT"), structured_content={"from": "structured-error"}, is_error=True)

@server.tool()
def raising() -> str:
    """Raises a ToolError."""
    raise ToolError("RAISED")

@server.tool(meta={"anthropic/maxResultSizeChars": 500000})
def roomy(size: int = 10) -> CallToolResult:
    """Text only, declaring a higher ceiling."""
    return CallToolResult(content=text("z" * size))

server.run()
'''


@pytest.mark.engine
def test_what_claude_code_passes_to_the_model_of_a_tool_result(claude, tmp_path):
    probe = tmp_path / "probe_server.py"
    probe.write_text(PROBE_SERVER)
    steps = [
        ("both", {}),
        ("plain", {}),
        ("failing", {}),
        ("raising", {}),
        ("plain", {"size": 50_000}),
        ("plain", {"size": 50_001}),
        ("both", {"size": 100_100}),
        ("roomy", {"size": 150_000}),
    ]
    script = [{"tool": tool, "input": arguments} for tool, arguments in steps] + [{"text": "probed"}]
    server = {"type": "stdio", "command": sys.executable, "args": [str(probe)]}
    run = run_claude("Probe.", scope="probe", script=script, server=server)
    assert run.exit_code == 0 and len(run.tool_results) == len(steps), run.summary()
    both, plain, failing, raising, at_limit, over_limit, over_tokens, roomy = run.tool_results

    assert (both["content"], both["is_error"]) == ('{"from":"structured","u":"é","pad":""}', False)
    assert (plain["content"], plain["is_error"]) == ([{"type": "text", "text": "x" * 10}], False)
    assert (failing["content"], failing["is_error"]) == ("ERR-TEXT", True)
    assert (raising["content"], raising["is_error"]) == ("Error executing tool raising: RAISED", True)
    assert at_limit["text"] == "x" * 50_000
    assert over_limit["text"].startswith("<persisted-output>\nOutput too large (48.9KB). Full output saved to: ")
    assert "Preview (first 2KB):" in over_limit["text"] and over_limit["chars"] < 2500
    assert re.match(r"Error: result \(100,1\d\d characters\) exceeds maximum allowed tokens\.", over_tokens["text"])
    assert roomy["text"] == "z" * 150_000


def test_the_stub_runs_as_a_script_with_the_standard_library_only(tmp_path):
    """As it runs in a sandbox: `python3 anthropic_stub.py --port 0 ...`, no site packages."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"tool": "exec", "input": {"command": "true"}}, {"text": "finished"}]))
    record = tmp_path / "record.jsonl"
    argv = [sys.executable, "-I", "-S", str(STUB), "--port", "0", "--script", str(script), "--record", str(record)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as stub:
        try:
            url = f"http://127.0.0.1:{int(stub.stdout.readline())}"
            tools = [{"name": "mcp__manyoyo__exec", "input_schema": {"type": "object"}}]
            ask = {"model": "m", "max_tokens": 10, "tools": tools, "messages": [{"role": "user", "content": "go"}]}
            events = sse(post(url + "/v1/messages?beta=true", {**ask, "stream": True}))
            side = json.loads(post(url + "/v1/messages", {"model": "small", "messages": ask["messages"]}))
            use = {"type": "tool_use", "id": "toolu_s00_1", "name": "mcp__manyoyo__exec", "input": {}}
            result = {"type": "tool_result", "tool_use_id": "toolu_s00_1", "content": "OUT", "is_error": True}
            turns = [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]
            final = json.loads(post(url + "/v1/messages", {**ask, "messages": [*ask["messages"], *turns]}))
            counted = {"messages": [{"role": "user", "content": "x" * 400}]}
            count = json.loads(post(url + "/v1/messages/count_tokens", counted))
        finally:
            stub.terminate()
    assert [e for e, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * (len(events) - 6),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    block = events[2][1]["content_block"]
    partial = "".join(d["delta"]["partial_json"] for e, d in events if e == "content_block_delta")
    assert (block["type"], block["name"]) == ("tool_use", "mcp__manyoyo__exec")
    assert json.loads(partial) == {"command": "true"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert side["content"] == [{"type": "text", "text": "Sandbox session"}] and side["stop_reason"] == "end_turn"
    assert final["content"] == [{"type": "text", "text": "finished"}] and final["stop_reason"] == "end_turn"
    assert count == {"input_tokens": 100}
    records = [json.loads(line) for line in record.read_text().splitlines()]
    noted = [r for r in records if r["kind"] == "tool_result"]
    assert [(r["step"], r["tool"], r["content"], r["is_error"]) for r in noted] == [
        (0, "mcp__manyoyo__exec", "OUT", True)
    ]
    assert [r["main"] for r in records if r["kind"] == "request"] == [True, False, True]


def post(url: str, body: dict) -> str:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def sse(stream: str) -> list[tuple[str, dict]]:
    events = []
    for chunk in stream.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events
