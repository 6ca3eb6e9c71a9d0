"""Drive the real Claude Code CLI against `manyoyo-mcp serve`, with the Anthropic API stubbed.

    run = run_claude("Create a sandbox", scope=scope, script=[{"tool": "create_sandbox", "input": {}}, {"text": "ok"}])
    run.tool_results[0]["text"]   # exactly what Claude Code passed to the model for that tool result

The CLI comes from `scripts/claude-code-install` (pinned, project-local). It runs as
`claude -p PROMPT --mcp-config FILE --strict-mcp-config --allowedTools 'mcp__manyoyo__*'
--output-format stream-json --verbose` in a temporary folder with a temporary HOME, the stub on
loopback as its API, and the server as its only MCP server (stdio, the environment the server needs
given in the MCP config).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .anthropic_stub import AnthropicStub

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "scripts" / "claude-code-install"
SERVER = Path(sys.executable).with_name("manyoyo-mcp")
if not SERVER.exists():
    SERVER = REPO / ".venv" / "bin" / "manyoyo-mcp"
SERVER_NAME = "manyoyo"
ALLOWED_TOOLS = f"mcp__{SERVER_NAME}__*"
# Claude Code's own variables for a quiet offline run.
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


class ClaudeCodeMissing(RuntimeError):
    """The pinned CLI could not be installed or does not run."""


@functools.cache
def claude_binary() -> str:
    """The pinned `claude` binary (installed on first use; quick when it is there)."""
    done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=900)
    path = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not path or not os.access(path, os.X_OK):
        raise ClaudeCodeMissing(f"{INSTALL} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return path


@dataclass
class ClaudeRun:
    argv: list[str]
    exit_code: int
    events: list[dict[str, Any]]
    stderr: str
    duration_s: float
    requests: list[dict[str, Any]]
    tool_results: list[dict[str, Any]]
    helper_results: list[dict[str, Any]]
    token_counts: list[dict[str, Any]]
    stdout_garbage: list[str] = field(default_factory=list)

    @property
    def init(self) -> dict[str, Any]:
        """The stream's `system/init` event (tools, mcp_servers, model, version)."""
        return next((e for e in self.events if e.get("type") == "system" and e.get("subtype") == "init"), {})

    @property
    def result(self) -> dict[str, Any]:
        """The stream's final `result` event."""
        return next((e for e in reversed(self.events) if e.get("type") == "result"), {})

    @property
    def main_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["main"]]

    @property
    def first_tools(self) -> list[str]:
        """The tools the model was offered in the first main request."""
        return self.main_requests[0]["tools"] if self.main_requests else []

    def mcp_tools(self, tools: list[str] | None = None) -> list[str]:
        prefix = f"mcp__{SERVER_NAME}__"
        return [t for t in (self.first_tools if tools is None else tools) if t.startswith(prefix)]

    @property
    def waited(self) -> int:
        """How many times the stub had to call WaitForMcpServers before our tools were there."""
        return sum(1 for r in self.requests if r.get("reply", {}).get("waiting"))

    @property
    def searched(self) -> int:
        """How many times the stub loaded a deferred tool with ToolSearch."""
        return sum(1 for r in self.requests if r.get("reply", {}).get("searching"))

    def summary(self) -> str:
        return (
            f"exit {self.exit_code}, {self.duration_s:.1f}s, {len(self.events)} events, "
            f"{len(self.requests)} requests, {len(self.tool_results)} tool results; stderr: {self.stderr[-1500:]}"
        )


def server_entry(scope: str, audit_dir: str, workdir: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The MCP config entry that starts our server over stdio, with the environment it needs."""
    server_env = {
        "MANYOYO_SCOPE": scope,
        "MANYOYO_AUDIT_DIR": audit_dir,
        "MANYOYO_DEFAULT_MEMORY": "1g",
        "MANYOYO_READY_TIMEOUT_S": "90",
        "MANYOYO_ALLOWED_HOST_ROOTS": workdir,
    }
    for passed in ("DOCKER_HOST", "MANYOYO_SANDBOX_IMAGE"):  # the image under test (tests/conftest.py)
        if os.environ.get(passed):
            server_env[passed] = os.environ[passed]
    server_env.update(env or {})
    return {"type": "stdio", "command": str(SERVER), "args": ["serve", "--scope", scope], "env": server_env}


def run_claude(
    prompt: str,
    *,
    scope: str,
    script: Any = None,
    text: str | None = None,
    server_env: dict[str, str] | None = None,
    mcp_tool_timeout_ms: int | None = None,
    wait_for_servers: bool = True,
    tool_search: bool | None = None,
    server: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    timeout_s: float = 600,
    keep: str | None = None,
) -> ClaudeRun:
    """One headless run of the real CLI against the stub (script or fixed text) and our server.

    script / text: what the stub plays (see anthropic_stub); exactly one of them.
    server_env: more environment for our server (MANYOYO_* settings).
    mcp_tool_timeout_ms: Claude Code's MCP_TOOL_TIMEOUT.
    wait_for_servers: set MCP_CONNECTION_NONBLOCKING=0, so that the first model request waits for
      the server (Claude Code 2.1.197 sent it before a slow server had answered; 2.1.332 waits in
      -p mode anyway). The stub also calls WaitForMcpServers when our tools are missing and it is
      offered, and ToolSearch when they are deferred (Claude Code's default for MCP tools).
    tool_search: None leaves Claude Code's default (MCP tools deferred behind ToolSearch); False
      sends every tool's schema in each request (ENABLE_TOOL_SEARCH=false).
    server: another MCP config entry instead of our server (registered under the same name).
    env: more environment for the CLI (it passes its environment on to the server).
    keep: a folder to copy the run's files to (MCP config, stub record, stream, stderr).
    """
    binary = claude_binary()
    tmp = Path(tempfile.mkdtemp(prefix="claude-run-"))
    try:
        home, work, audit = tmp / "home", tmp / "work", tmp / "audit"
        for folder in (home, work, audit):
            folder.mkdir()
        config = tmp / "mcp.json"
        entry = server or server_entry(scope, str(audit), str(work), server_env)
        config.write_text(json.dumps({"mcpServers": {SERVER_NAME: entry}}, indent=2))
        argv = [
            binary,
            "-p",
            prompt,
            "--mcp-config",
            str(config),
            "--strict-mcp-config",
            "--allowedTools",
            ALLOWED_TOOLS,
            "--output-format",
            "stream-json",
            "--verbose",
            *extra_args,
        ]
        with AnthropicStub(script, text, record=str(tmp / "stub.jsonl")) as stub:
            run_env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),
                "LANG": "C.UTF-8",
                "ANTHROPIC_BASE_URL": stub.url,
                "ANTHROPIC_API_KEY": "sk-ant-stub-" + "0" * 24,
                **QUIET_ENV,
            }
            if wait_for_servers:
                run_env["MCP_CONNECTION_NONBLOCKING"] = "0"
            if tool_search is not None:
                run_env["ENABLE_TOOL_SEARCH"] = "true" if tool_search else "false"
            if mcp_tool_timeout_ms is not None:
                run_env["MCP_TOOL_TIMEOUT"] = str(mcp_tool_timeout_ms)
            run_env.update(env or {})
            started = time.monotonic()
            done = subprocess.run(
                argv, cwd=work, env=run_env, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
            )
            duration = time.monotonic() - started
        events, garbage = [], []
        for line in done.stdout.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                garbage.append(line)
        (tmp / "stream.jsonl").write_text(done.stdout)
        (tmp / "stderr.txt").write_text(done.stderr)
        if keep:
            shutil.copytree(tmp, keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("home"))
        return ClaudeRun(
            argv=argv,
            exit_code=done.returncode,
            events=events,
            stderr=done.stderr,
            duration_s=duration,
            requests=stub.requests,
            tool_results=[r for r in stub.tool_results if not r["helper"]],
            helper_results=[r for r in stub.tool_results if r["helper"]],
            token_counts=stub.token_counts,
            stdout_garbage=garbage,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
