"""A client that is not the project's own: the reference MCP Inspector (CLI mode, npm)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from manyoyo_mcp.audit.log import verify
from manyoyo_mcp.audit.review import load

SERVER = str(Path(sys.executable).with_name("manyoyo-mcp"))
INSPECTOR = ["npx", "-y", "@modelcontextprotocol/inspector@2", "--cli"]
AUDIT_DIR = tempfile.mkdtemp(prefix="manyoyo-audit-inspector-")


def inspector(scope: str, *args: str) -> dict:
    server_env = ["-e", "MANYOYO_LOADABLE_IMAGES=manyoyo-busybox:latest", "-e", f"MANYOYO_AUDIT_DIR={AUDIT_DIR}"]
    if os.environ.get("MANYOYO_SANDBOX_IMAGE"):  # the image under test (tests/conftest.py)
        server_env += ["-e", f"MANYOYO_SANDBOX_IMAGE={os.environ['MANYOYO_SANDBOX_IMAGE']}"]
    done = subprocess.run(
        [*INSPECTOR, *server_env, SERVER, "serve", "--scope", scope, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    return json.loads(done.stdout)


def call(scope: str, tool: str, **arguments: str) -> dict:
    flags = [f"--tool-arg={key}={value}" for key, value in arguments.items()]
    result = inspector(scope, "--method", "tools/call", "--tool-name", tool, *flags)
    assert not result.get("isError"), result
    return result["structuredContent"]


def test_the_reference_inspector_lists_and_drives_the_tools(scope):
    listed = inspector(scope, "--method", "tools/list")["tools"]
    name = "insp-" + secrets.token_hex(2)
    created = call(scope, "create_sandbox", name=name)
    ran = call(scope, "exec", sandbox=name, command="docker info --format {{.Driver}}")
    sandboxes = call(scope, "list_sandboxes")["sandboxes"]
    removed = call(scope, "remove_sandbox", sandbox=name)
    by_name = {tool["name"]: tool for tool in listed}
    assert {"create_sandbox", "exec", "build_image", "run_container", "prune", "load_image"} <= set(by_name)
    assert all("outputSchema" in tool and "annotations" in tool for tool in listed)
    assert created["name"] == name and created["mode"] == "dind"
    assert ran["exit_code"] == 0 and ran["stdout"] == "overlay2\n"
    assert name in [s["name"] for s in sandboxes]
    assert removed["id"] == created["id"]


def test_the_inspector_replays_the_seed_multi_stage_build_on_podman(scope):
    name = "insp-p-" + secrets.token_hex(2)
    dockerfile = (
        "FROM manyoyo-busybox:latest AS build\nRUN mkdir /dist && echo hello-from-stage-one > /dist/index.html\n"
        "FROM manyoyo-busybox:latest\nCOPY --from=build /dist /www\nCMD cat /www/index.html\n"
    )
    call(scope, "create_sandbox", name=name, engine="podman")
    try:
        loaded = call(scope, "load_image", sandbox=name, image="manyoyo-busybox:latest")
        built = call(scope, "build_image", sandbox=name, dockerfile=dockerfile, tag="webapp:test")
        ran = call(scope, "run_container", sandbox=name, image="webapp:test")
    finally:
        call(scope, "remove_sandbox", sandbox=name)
    assert loaded["loaded"] and built["steps"] == 5
    assert ran["exit_code"] == 0 and ran["stdout"] == "hello-from-stage-one\n"
    # Each inspector call was a server process of its own; their records form one chain.
    calls, _ = load(Path(AUDIT_DIR))
    replay = [c for c in calls if c.sandbox == name]
    assert [c.tool for c in replay] == [
        "create_sandbox",
        "load_image",
        "build_image",
        "run_container",
        "remove_sandbox",
    ]
    assert all(c.status == "ok" and c.client.get("name") for c in replay)
    assert verify(Path(AUDIT_DIR))[1] is None
