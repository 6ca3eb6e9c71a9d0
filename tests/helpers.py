"""Small helpers for driving the server as an agent would."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

TESTBOX = "manyoyo-busybox:latest"
REPO = Path(__file__).parent.parent


async def call(client: Client, tool: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured result."""
    result = await client.call_tool(tool, arguments or {}, **kwargs)
    assert not result.is_error, f"{tool} failed: {result.content}"
    assert result.structured_content is not None
    return result.structured_content


async def tool_error(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> str:
    """Call a tool that must fail with a tool error; return the message the agent reads."""
    result = await client.call_tool(tool, arguments or {})
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    return " ".join(getattr(block, "text", "") for block in result.content)


def docker(*args: str, input: bytes | None = None) -> str:
    """The host's docker CLI, for test set-up and for checking what really happened on the host."""
    done = subprocess.run(["docker", *args], input=input, capture_output=True, check=True)
    return done.stdout.decode()


PROPER = ("crun", "--root", "/run/manyoyo/crun", "exec", "inner")
"""A command in a dind sandbox's proper (where its engine and the agent's commands run), as its root."""


def in_proper(sandbox_container: str, *argv: str, input: bytes | None = None) -> str:
    """`argv` run in the sandbox proper of a dind sandbox, as the host's CLI would (test set-up)."""
    return docker("exec", "-i" if input is not None else "-t=false", sandbox_container, *PROPER, *argv, input=input)


def load_testbox(sandbox_container: str, engine: str) -> None:
    """Copy the busybox test image from the host engine into a sandbox's nested engine."""
    image = subprocess.run(["docker", "save", TESTBOX], capture_output=True, check=True).stdout
    in_proper(sandbox_container, engine, "load", input=image)


def dind_sandbox(
    settings: ServerSettings, engine: Engine, name: str, inner: str, workspace: Path | None = None
) -> Iterator[str]:
    """A dind sandbox made through the tools, with the busybox test image loaded (the settings must
    allow loading it), and removed again: a module fixture's body (`yield from`)."""

    async def use(tool: str, arguments: dict[str, Any]) -> None:
        async with Client(build_server(settings, engine)) as client:
            await call(client, tool, arguments)

    arguments: dict[str, Any] = {"name": name, "engine": inner}
    if workspace:
        arguments["workspace"] = str(workspace)
    anyio.run(use, "create_sandbox", arguments)
    anyio.run(use, "load_image", {"sandbox": name, "image": TESTBOX})
    yield name
    anyio.run(use, "remove_sandbox", {"sandbox": name})


def owned_folder(path: Path, uid: int = 1000) -> Path:
    """`path`, made to belong to a non-root host user, as a developer's project does."""
    os.chown(path, uid, uid)
    return path
