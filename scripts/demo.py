"""A real MCP session over stdio: what an agent does with manyoyo-mcp, step by step.

Starts `manyoyo-mcp serve` the way an agent's MCP config does, then creates a sandbox, runs
commands in it, replays the seed guide's CI and multi-stage flows with the nested tools (load a
base image, build, run attached and detached, logs, prune), watches output stream, hits a
timeout, lists and removes the sandbox. Run through `scripts/demo`, which sets everything up first.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

SERVER = str(Path(sys.executable).with_name("manyoyo-mcp"))

BASE = "manyoyo-busybox:latest"  # made by scripts/setup; there is no registry to pull from here
PROJECT = f"""\
mkdir -p /workspace/webapp/src && cd /workspace/webapp
echo '<h1>hello from a nested container</h1>' > src/index.html
echo 'test -s src/index.html && echo "unit tests: ok"' > test.sh
cat > Dockerfile <<'EOF'
FROM {BASE} AS build
WORKDIR /app
COPY . .
RUN sh test.sh && mkdir dist && cp src/index.html dist/

FROM {BASE}
COPY --from=build /app/dist /www
CMD ["httpd", "-f", "-v", "-p", "80", "-h", "/www"]
EOF"""


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def show(text: str) -> None:
    print(textwrap.indent(text.rstrip("\n"), "   | "), flush=True)


async def call(client: Client, tool: str, arguments: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    started = time.monotonic()
    result = await client.call_tool(tool, arguments, **kwargs)
    elapsed = time.monotonic() - started
    if result.is_error:
        raise SystemExit(f"{tool} failed: {' '.join(getattr(c, 'text', '') for c in result.content)}")
    print(f"   {tool} answered in {elapsed:.2f}s", flush=True)
    return result.structured_content or {}


# The real agent CLIs cannot reach their services here: a stand-in "claude" shows how it was run.
STAND_IN_AGENT = """#!/bin/sh
echo "claude (stand-in) started as: claude $*"
echo "in $(pwd), IS_SANDBOX=$IS_SANDBOX, token: $ANTHROPIC_AUTH_TOKEN"
"""


def operator_config(folder: Path) -> Path:
    """A MANYOYO-style user file with a claude run profile and an env file holding a credential."""
    (folder / "claude").write_text(STAND_IN_AGENT)
    (folder / "anthropic.env").write_text('export ANTHROPIC_AUTH_TOKEN="sk-ant-demo-not-a-real-key-0123456789"\n')
    config = folder / "manyoyo.json"
    config.write_text(
        "{\n  // ~/.manyoyo/manyoyo.json style: JSON5, profiles under runs\n"
        f'  runs: {{ claude: {{ yolo: "c", hostPath: "{folder}", envFile: ["{folder}/anthropic.env"],\n'
        '    first: "install -m 0755 /workspace/claude /usr/local/bin/claude" } },\n}\n'
    )
    return config


async def main() -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")}
    env["MANYOYO_LOADABLE_IMAGES"] = BASE  # the operator's choice of host images agents may copy in
    folder = Path(tempfile.mkdtemp(prefix="manyoyo-demo-"))
    config = operator_config(folder)
    args = ["serve", "--scope", "demo", "--config", str(config), "--allowed-host-root", str(folder)]
    params = StdioServerParameters(command=SERVER, args=args, env=env)
    name = f"demo-{secrets.token_hex(2)}"
    async with Client(params) as client:
        step(f"connected to {SERVER} over stdio; tools offered")
        for tool in (await client.list_tools()).tools:
            print(f"   - {tool.name}: {(tool.description or '').splitlines()[0]}")

        step(f"create_sandbox {name} (dind: its own Docker engine inside)")
        box = await call(client, "create_sandbox", {"name": name, "cpus": 1, "memory": "1g"})
        print(f"   id {box['id'][:12]}, engine {box['engine']} {box['engine_version']}, mode {box['mode']}")
        print(f"   limits {box['limits']}, nested engine ready after {box['ready_s']}s")

        step("exec: where are we?")
        ran = await call(
            client,
            "exec",
            {
                "sandbox": name,
                "command": "uname -sr; docker info --format 'nested engine: {{.ServerVersion}}, {{.Driver}} storage'",
            },
        )
        show(ran["stdout"])

        step(f"load_image {BASE}: copy a base image from the host (sandboxes cannot pull here)")
        loaded = await call(client, "load_image", {"sandbox": name, "image": BASE})
        print(f"   {loaded['loaded']}: {loaded['bytes_transferred']} bytes in {loaded['duration_s']}s")

        step("exec: write a small project with a multi-stage Dockerfile")
        await call(client, "exec", {"sandbox": name, "command": PROJECT})

        step("build_image: steps stream while the sandbox's own engine builds")

        async def on_step(progress: float, total: float | None, message: str | None) -> None:
            show(message or "")

        built = await call(
            client,
            "build_image",
            {"sandbox": name, "context": "webapp", "tag": "webapp:test"},
            progress_callback=on_step,
        )
        print(f"   {built['tags']} {built['image_id'][:19]}, {built['size_bytes']} bytes, {built['steps']} steps")
        print(f"   full log inside the sandbox: {built['log_path']}")

        step("run_container (attached): the CI step, run the tests in the image")
        tested = await call(
            client, "run_container", {"sandbox": name, "image": "webapp:test", "command": "ls /www", "remove": True}
        )
        print(f"   exit_code={tested['exit_code']} output={tested['stdout'].strip()!r} limits={tested['limits']}")

        step("run_container (detached) with a published port, then curl it from the sandbox")
        web = await call(
            client,
            "run_container",
            {"sandbox": name, "image": "webapp:test", "name": "web", "ports": ["8080:80"], "detach": True},
        )
        print(f"   {web['name']} is {web['state']}, ports {web['ports']}")
        page = await call(
            client, "exec", {"sandbox": name, "command": "curl -s --retry 10 --retry-connrefused localhost:8080"}
        )
        show(page["stdout"])
        logs = await call(client, "container_logs", {"sandbox": name, "container": "web"})
        show(logs["stderr"] or logs["stdout"] or "(no log lines yet)")

        step("list_nested: the sandbox's own engine, read through its API")
        inside = await call(client, "list_nested", {"sandbox": name})
        for image in inside["images"]:
            print(f"   image {', '.join(image['tags']) or image['id'][:19]}: {image['size_bytes']} bytes")
        print(f"   {len(inside['containers'])} containers, networks {[n['name'] for n in inside['networks']]}")

        step("exec: output streams as progress while the command runs")

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            show(f"[progress at {progress:.0f} bytes] {message}")

        await call(
            client,
            "exec",
            {"sandbox": name, "command": "for i in 1 2 3; do echo tick $i; sleep 0.5; done"},
            progress_callback=on_progress,
        )

        step("exec: a command past its timeout is killed, children included")
        ran = await call(client, "exec", {"sandbox": name, "command": "sleep 600 & sleep 601", "timeout_s": 1})
        print(f"   timed_out={ran['timed_out']} killed={ran['killed']} exit_code={ran['exit_code']}")

        step("stop_container web, then prune: dry run first, then for real")
        await call(client, "stop_container", {"sandbox": name, "container": "web", "timeout_s": 1})
        plan = await call(client, "prune", {"sandbox": name, "images": "unused", "dry_run": True})
        print(f"   would remove {[(i['kind'], i['name'] or i['id'][:19]) for i in plan['items']]}")
        pruned = await call(client, "prune", {"sandbox": name, "images": "unused"})
        print(
            f"   removed {len(pruned['items'])} objects, the engine reports {pruned['bytes_reclaimed']} bytes reclaimed"
        )

        step("launch_agent: claude headless in yolo mode, in a sandbox made from the run profile")
        agent = await call(client, "launch_agent", {"profile": "claude", "prompt": "make the tests pass"})
        print(f"   argv {agent['command']}, exit {agent['exit_code']}, {agent['duration_s']}s")
        show(agent["output"])
        print("   (the token reached the agent; every result shows it masked)")

        step("list_sandboxes")
        for sandbox in (await call(client, "list_sandboxes", {}))["sandboxes"]:
            kind = f"{sandbox['engine']}/{sandbox['mode']}"
            print(f"   {sandbox['name']}: {sandbox['state']}, {kind}, age {sandbox['age_s']}s")

        step(f"remove_sandbox {name} and {agent['sandbox']}")
        for sandbox in (name, agent["sandbox"]):
            gone = await call(client, "remove_sandbox", {"sandbox": sandbox})
            print(f"   removed {gone['id'][:12]} and volumes {gone['removed_volumes']}")
    shutil.rmtree(folder)
    print("\ndemo finished: the host engine never saw the nested image or container.")


if __name__ == "__main__":
    anyio.run(main)
