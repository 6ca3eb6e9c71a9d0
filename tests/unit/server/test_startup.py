"""A start defers what the handshake does not need: the docker SDK loads with the first call that
needs the engine (which still reports an engine that is down), and a bad configuration still
stops `serve` before it serves. No timings here: scripts/bench measures them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PYTHON = sys.executable

# In a fresh interpreter: this test process has long imported docker.
LIST_THEN_CALL = textwrap.dedent(
    """
    import json, sys
    import anyio
    from mcp import Client
    from manyoyo_mcp.config.settings import ServerSettings
    from manyoyo_mcp.server import build_server

    async def main():
        settings = ServerSettings(docker_host=sys.argv[1], audit_dir=sys.argv[2], allowed_host_roots=(sys.argv[2],))
        async with Client(build_server(settings)) as client:
            listed = await client.list_tools()
            policy = await client.call_tool("describe_policy", {})
            before = sorted(m for m in ("docker", "requests", "manyoyo_mcp.engine.host") if m in sys.modules)
            called = await client.call_tool("list_sandboxes", {})
        after = "docker" in sys.modules
        text = [block.text for block in called.content]
        print(json.dumps([len(listed.tools), policy.is_error, before, called.is_error, text, after]))

    anyio.run(main)
    """
)


def test_listing_the_tools_loads_no_docker_and_the_first_engine_call_reports_the_engine_down(tmp_path):
    socket = f"unix://{tmp_path}/no-engine.sock"
    done = subprocess.run(
        [PYTHON, "-c", LIST_THEN_CALL, socket, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tools, policy_failed, loaded_before, call_failed, text, loaded_after = json.loads(done.stdout)
    assert tools >= 14 and not policy_failed
    assert loaded_before == []
    assert call_failed and text[0].startswith("Error executing tool list_sandboxes: Cannot reach the Docker engine")
    assert loaded_after


def test_a_bad_configuration_stops_serve_before_it_serves(tmp_path):
    config = tmp_path / "manyoyo.json"
    config.write_text('{"mcp": {"max_sandboxes": "many"}}')
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MANYOYO_AUDIT_DIR": str(tmp_path / "audit")}
    done = subprocess.run(
        [PYTHON, "-m", "manyoyo_mcp", "serve", "--config", str(config)],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("manyoyo-mcp: ") and "max_sandboxes" in done.stderr
    assert "serving" not in done.stderr
