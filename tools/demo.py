"""A real MCP session over stdio: what an agent does with manyoyo-mcp, step by step.

Starts `manyoyo-mcp serve` the way an agent's MCP config does, then creates a sandbox, runs
commands in it (a nested image build and run included), watches output stream, hits a timeout,
lists and removes the sandbox. Run through `tools/demo`, which sets everything up first.
"""

from __future__ import annotations

import os
import secrets
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

SERVER = str(Path(sys.executable).with_name("manyoyo-mcp"))

NESTED_BUILD = """\
mkdir -p /tmp/hello && cd /tmp/hello && cp /bin/busybox .
printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\\n' > Dockerfile
docker build -q -t hello:demo .
docker run --rm hello:demo sh -c 'echo "hello from a nested container on $(hostname)"'
docker images hello:demo --format 'nested image {{.Repository}}:{{.Tag}} is {{.Size}}'"""


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


async def main() -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")}
    params = StdioServerParameters(command=SERVER, args=["serve", "--scope", "demo"], env=env)
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

        step("exec: build an image and run it inside the sandbox's own engine")
        ran = await call(client, "exec", {"sandbox": name, "command": NESTED_BUILD, "timeout_s": 120})
        show(ran["stdout"] + ran["stderr"])

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

        step("list_sandboxes")
        for sandbox in (await call(client, "list_sandboxes", {}))["sandboxes"]:
            kind = f"{sandbox['engine']}/{sandbox['mode']}"
            print(f"   {sandbox['name']}: {sandbox['state']}, {kind}, age {sandbox['age_s']}s")

        step(f"remove_sandbox {name}")
        gone = await call(client, "remove_sandbox", {"sandbox": name})
        print(f"   removed {gone['id'][:12]} and volumes {gone['removed_volumes']}")
    print("\ndemo finished: the host engine never saw the nested image or container.")


if __name__ == "__main__":
    anyio.run(main)
