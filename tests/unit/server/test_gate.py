"""The gate, without an engine: a call is validated with the tool's own argument model, then judged;
a refusal is recorded like a denial and reads like every other tool error."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from manyoyo_mcp.audit.log import read_records
from manyoyo_mcp.config.run_profiles import RunProfile
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.server import build_server


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(
        docker_host=f"unix://{tmp_path}/no-engine.sock",
        audit_dir=str(tmp_path / "audit"),
        allowed_host_roots=(str(tmp_path),),
        runs={"host": RunProfile(containerMode="sock", yolo="c"), "plain": RunProfile(yolo="c")},
    )


def test_an_argument_the_tool_does_not_have_is_refused_naming_the_tools_arguments(settings):
    decision, call = build_server(settings).judge("run_container", {"sandbox": "s", "image": "x", "privileged": True})
    assert (decision.allowed, decision.rule, call) == (False, "arguments.unknown", None)
    assert "no argument privileged" in decision.reason and "cap_add" in decision.reason


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("exec", {"sandbox": "s", "command": "true", "timeout_s": "soon"}, "timeout_s"),
        ("exec", {"sandbox": "s", "command": "true", "timeout_s": -1}, "timeout_s"),
        ("exec", {"sandbox": "s"}, "command"),
        ("create_sandbox", {"engine": "lxc"}, "engine"),
        ("stop_container", {"sandbox": "s", "container": "c", "timeout_s": 301}, "timeout_s"),
    ],
)
def test_arguments_the_tools_model_refuses_are_denied_naming_the_argument(settings, tool, arguments, named):
    decision, call = build_server(settings).judge(tool, arguments)
    assert (decision.allowed, decision.rule, call) == (False, "arguments.invalid", None)
    assert f"{named}:" in decision.reason


def test_arguments_sent_as_json_text_are_read_the_way_the_sdk_reads_them(settings):
    decision, call = build_server(settings).judge("exec", {"sandbox": "s", "command": '["ls", "-l"]', "timeout_s": "5"})
    assert decision.allowed and call is not None
    assert (call.given("command"), call.given("timeout_s")) == (["ls", "-l"], 5.0)


def test_a_call_carries_its_run_profile_looked_up_once(settings):
    server = build_server(settings)
    decision, call = server.judge("create_sandbox", {"profile": "plain", "mode": "dind"})
    assert decision.allowed and call is not None and call.profile == settings.runs["plain"]
    refused, call = server.judge("launch_agent", {"profile": "host", "prompt": "x"})
    assert (refused.rule, call and call.effective("mode")) == ("mode.sock-disabled", "sock")


@pytest.mark.anyio
async def test_a_refusal_reads_like_every_tool_error_and_is_recorded_as_the_agent_read_it(settings):
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("exec", {"sandbox": "s", "command": "true", "timeout_s": 10**6})
    (text,) = [block.text for block in result.content]
    assert result.is_error
    assert text.startswith("Error executing tool exec: denied by policy rule limits.timeout-ceiling: timeout_s")
    records = [r for _, _, r, _ in read_records(Path(settings.audit_dir)) if r and r.get("tool") == "exec"]
    assert [(r["event"], r.get("allowed"), r.get("status")) for r in records] == [
        ("call", None, None),
        ("decision", False, None),
        ("outcome", None, "denied"),
    ]
    assert records[2]["error"] == text


@pytest.mark.anyio
async def test_a_nearly_full_disk_refuses_every_call_and_the_refusal_is_recorded(settings):
    low = settings.model_copy(update={"audit_min_free_bytes": 2**62})  # more than any disk has free
    async with Client(build_server(low)) as client:
        result = await client.call_tool("list_sandboxes", {})
    (text,) = [block.text for block in result.content]
    assert result.is_error and "denied by policy rule audit.disk-low" in text and "frees space" in text
    records = [r for _, _, r, _ in read_records(Path(settings.audit_dir)) if r and r.get("tool") == "list_sandboxes"]
    assert [(r["event"], r.get("rule"), r.get("status")) for r in records] == [
        ("call", None, None),
        ("decision", "audit.disk-low", None),
        ("outcome", None, "denied"),
    ]


@pytest.mark.anyio
async def test_a_huge_argument_adds_a_few_kb_to_the_log_not_its_size(settings):
    async with Client(build_server(settings)) as client:
        await client.call_tool("exec", {"sandbox": "s", "command": "echo " + "x" * 10_000_000, "timeout_s": 10**6})
    audit = Path(settings.audit_dir)
    size = sum(p.stat().st_size for p in audit.glob("audit-*.jsonl"))
    (call,) = [r for _, _, r, _ in read_records(audit) if r and r.get("event") == "call" and r.get("tool") == "exec"]
    assert size < 16 * 1024 and call["args"]["command"]["$large"]["bytes"] == 10_000_005
