"""The real agents' CLIs of the sandbox image launched by `launch_agent`, answering from model stubs
that the test starts inside the sandbox (no model service is reachable here, and no traffic leaves
the machine): claude against a stub of the Anthropic Messages API (tests/support/anthropic_stub.py)
that has it run a command with its Bash tool first, codex against a stub of OpenAI's Responses API
(tests/support/openai_stub.py). The profiles point each CLI at its stub the way an operator would
(ANTHROPIC_BASE_URL; codex's model provider options in shellSuffix); their keys are masked in every
result, progress message, log line and audit record."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import shlex
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from manyoyo_mcp.config.loader import load_config
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.sandbox.image_build import AGENT_PACKAGES
from manyoyo_mcp.server import build_server

from ..helpers import call

pytestmark = pytest.mark.anyio

SUPPORT = Path(__file__).parent.parent / "support"
ANTHROPIC_KEY = "sk-ant-api03-" + secrets.token_hex(24)
OPENAI_KEY = "sk-proj-" + secrets.token_hex(24)
ANTHROPIC_PORT, OPENAI_PORT = 18765, 18766
# Claude Code's own switches for a run with no other traffic (see /work/shared/notes/claude-code.md).
QUIET = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1"}
CODEX_STUB_PROVIDER = (
    "-c 'model_provider=\"stub\"' -c 'model=\"stub-model\"' -c 'model_providers.stub.name=\"stub\"' "
    f"-c 'model_providers.stub.base_url=\"http://127.0.0.1:{OPENAI_PORT}/v1\"' "
    "-c 'model_providers.stub.env_key=\"OPENAI_API_KEY\"' -c 'model_providers.stub.wire_api=\"responses\"'"
)
# What the Anthropic stub's model does: a Bash call in the sandbox (yolo: no permission asked),
# then a final text that repeats its key, so that the test sees it masked.
ASK_ENGINE = {"command": "docker version --format 'engine {{.Server.Version}}'", "description": "The engine's version"}
CLAUDE_SCRIPT = [
    {"tool": "Bash", "input": ASK_ENGINE},
    {"text": f"The sandbox's engine answered. (My key is {ANTHROPIC_KEY}.)"},
]


@pytest.fixture
def configured(settings: ServerSettings, tmp_path: Path) -> ServerSettings:
    """Run profiles for the two agents, one sandbox between them, from a MANYOYO user file."""
    name = "agents-" + secrets.token_hex(3)
    user_file = tmp_path / "manyoyo.json"
    user_file.write_text(
        json.dumps(
            {
                "containerName": name,
                "runs": {
                    "claude-stub": {
                        "yolo": "c",
                        "env": {
                            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{ANTHROPIC_PORT}",
                            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                            **QUIET,
                        },
                    },
                    "codex-stub": {
                        "yolo": "cx",
                        "env": {"OPENAI_API_KEY": OPENAI_KEY},
                        "shellSuffix": CODEX_STUB_PROVIDER,
                    },
                },
            }
        )
    )
    loaded = load_config(user_file, "", environ={})
    return settings.model_copy(update={"runs": loaded.settings.runs, "exec_timeout_s": 300})


async def copy_in(client: Client, sandbox: str, path: str, data: bytes) -> None:
    """A file into the sandbox through `exec` (base64 in the command)."""
    encoded = base64.b64encode(data).decode()
    command = f"mkdir -p {shlex.quote(str(Path(path).parent))} && echo {encoded} | base64 -d > {shlex.quote(path)}"
    await call(client, "exec", {"sandbox": sandbox, "command": command})


async def start_stubs(client: Client, sandbox: str) -> None:
    """Both stubs in the background of the sandbox, each on a loopback port, recording what they get."""
    for stub in ("anthropic_stub.py", "openai_stub.py"):
        await copy_in(client, sandbox, f"/opt/stubs/{stub}", (SUPPORT / stub).read_bytes())
    await copy_in(client, sandbox, "/opt/stubs/claude.json", json.dumps(CLAUDE_SCRIPT).encode())
    command = (
        f"cd /opt/stubs && nohup python3 anthropic_stub.py --port {ANTHROPIC_PORT} --script claude.json "
        "--record anthropic.jsonl --no-bodies > anthropic.log 2>&1 & "
        f"cd /opt/stubs && nohup python3 openai_stub.py --port {OPENAI_PORT} --record openai.jsonl "
        f"--text 'Hello from the Responses stub. (My key is {OPENAI_KEY}.)' > openai.log 2>&1 & "
        f"for port in {ANTHROPIC_PORT} {OPENAI_PORT}; do for i in $(seq 100); do "
        "curl -s -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.1; done; done"
    )
    await call(client, "exec", {"sandbox": sandbox, "command": command})


async def records(client: Client, sandbox: str, name: str) -> list[dict[str, Any]]:
    shown = await call(client, "exec", {"sandbox": sandbox, "command": ["cat", f"/opt/stubs/{name}"]})
    return [json.loads(line) for line in shown["stdout"].splitlines()]


async def test_claude_and_codex_answer_from_stubs_in_the_sandbox_with_their_keys_masked(
    engine: Engine, configured: ServerSettings, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(build_server(configured, engine)) as client:
        sandbox = (await call(client, "create_sandbox", {"profile": "claude-stub"}))["name"]
        try:
            await start_stubs(client, sandbox)
            claude = await call(
                client,
                "launch_agent",
                {"profile": "claude-stub", "sandbox": sandbox, "prompt": "Which engine runs here?"},
                progress_callback=on_progress,
            )
            codex = await call(
                client,
                "launch_agent",
                {"profile": "codex-stub", "sandbox": sandbox, "prompt": "Say hello."},
                progress_callback=on_progress,
            )
            anthropic = await records(client, sandbox, "anthropic.jsonl")
            openai = await records(client, sandbox, "openai.jsonl")
            versions = await call(client, "exec", {"sandbox": sandbox, "command": "claude --version; codex --version"})
            session = await client.read_resource("manyoyo://audit/session")
        finally:
            await call(client, "remove_sandbox", {"sandbox": sandbox})

    # claude: the real CLI (the image's), as root with IS_SANDBOX=1 from the agent table, in yolo mode.
    assert claude["command"] == ["claude", "--dangerously-skip-permissions", "-p", "Which engine runs here?"]
    assert claude["exit_code"] == 0 and not claude["timed_out"], claude
    assert claude["output"].startswith("The sandbox's engine answered. (My key is [redacted:"), claude
    ran = [r for r in anthropic if r["kind"] == "tool_result" and not r["helper"]]
    assert [(r["tool"], r["is_error"]) for r in ran] == [("Bash", False)], ran
    assert ran[0]["text"].startswith("engine 26.1."), ran  # the command ran, unprompted, in the sandbox
    main = [r for r in anthropic if r["kind"] == "request" and r["main"]]
    assert main and all(r["stream"] for r in main)
    # codex: the real CLI, its provider pointed at the stub by the profile's shellSuffix.
    assert codex["command"][:3] == ["codex", "exec", "--dangerously-bypass-approvals-and-sandbox"]
    assert codex["command"][-1] == "Say hello." and codex["exit_code"] == 0, codex
    assert "Hello from the Responses stub. (My key is [redacted:" in codex["output"], codex
    assert openai[-1] == {"path": "/v1/responses", "auth": "Bearer", "model": "stub-model", "user": "Say hello."}
    pinned = {name: spec.rsplit("@", 1)[1] for name, spec in AGENT_PACKAGES.items()}
    assert versions["stdout"].split() == [pinned["claude"], "(Claude", "Code)", "codex-cli", pinned["codex"]]
    # Neither key anywhere the agent, the client or the operator reads.
    everything = [
        json.dumps([claude, codex, anthropic, openai]),
        *progress,
        caplog.text,
        *(p.read_text() for p in Path(configured.audit_dir).glob("*.jsonl")),
        str(session),
    ]
    for text in everything:
        assert ANTHROPIC_KEY not in text and OPENAI_KEY not in text
