"""The seed guide's commands (tests/seed_guide.py) run in sandboxes of both inner engines, section by
section, through `exec` and the structured tools, each checked against what the guide says it does.
A command that cannot run here is a row with the reason and what it maps to.

Each sandbox's workspace holds the guide's project (seed_guide.PROJECT) and belongs to root, so the
commands run as root, as in MANYOYO's containers. Before each section the guide's public images are
there as local stand-ins (scripts/standin-images) loaded with load_image and tagged with the guide's
names, and myapp is built if missing: a section runs alone, in any order, after a prune or a reset.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import REPO, TESTBOX, call, dind_sandbox, docker
from ..seed_guide import BOTH, PROJECT, SECTIONS, Section, Step

pytestmark = pytest.mark.anyio

# Host stand-ins and the names the guide knows them by inside a sandbox.
STANDINS = {
    "manyoyo-standin-node:22": ("node:22-alpine", "node:22"),
    "manyoyo-standin-nginx:alpine": ("nginx:alpine", "nginx:latest"),
    "manyoyo-standin-hello:latest": ("hello-world:latest",),
    TESTBOX: (),
}
CASES = [
    pytest.param(section, inner, id=f"{inner}-{re.sub(r'[^a-z0-9]+', '-', section.title.lower()).strip('-')}")
    for section in SECTIONS
    for inner in section.engines()
]


@pytest.fixture(scope="session")
def standins(engine: Engine) -> None:
    """The stand-in images on the host engine, built once (kept, like the busybox test image)."""
    if not all(engine.image_present(image) for image in STANDINS):
        subprocess.run([str(REPO / "scripts" / "standin-images")], check=True, capture_output=True, timeout=1800)


@pytest.fixture(scope="module")
def seed_settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"loadable_images": tuple(STANDINS), "exec_timeout_s": 300})


@pytest.fixture(scope="module")
def sandboxes(
    seed_settings: ServerSettings, engine: Engine, standins: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A sandbox per inner engine, each with a root-owned copy of the guide's project as workspace."""
    with contextlib.ExitStack() as stack:
        names: dict[str, str] = {}
        for inner in BOTH:
            workspace = tmp_path_factory.mktemp(f"seed-{inner}")
            for relative, text in PROJECT.items():
                (workspace / relative).write_text(text)
            sandbox = contextlib.contextmanager(dind_sandbox)
            name = f"seed{inner[0]}-{secrets.token_hex(3)}"
            names[inner] = stack.enter_context(sandbox(seed_settings, engine, name, inner, workspace))
        yield names


async def prepare(client: Client, sandbox: str, inner: str) -> None:
    """The stand-ins loaded (if missing) and tagged with the guide's names; myapp built if missing."""
    listed = await call(client, "list_nested", {"sandbox": sandbox})
    tags = {tag.removeprefix("localhost/") for image in listed["images"] for tag in image["tags"]}
    for host_image, names in STANDINS.items():
        if host_image not in tags:
            await call(client, "load_image", {"sandbox": sandbox, "image": host_image})
        for name in names:
            await call(client, "exec", {"sandbox": sandbox, "command": [inner, "tag", host_image, name]})
    if "myapp:latest" not in tags:
        built = await call(client, "exec", {"sandbox": sandbox, "command": f"{inner} build -q -t myapp ."})
        assert built["exit_code"] == 0, built


async def perform(client: Client, sandbox: str, step: Step) -> str | None:
    """Run one step; None if it did what the table says, else what went wrong."""
    if step.tool:
        result = await client.call_tool(step.tool, {"sandbox": sandbox, **step.arguments})
        if result.is_error:
            return f"tool error: {' '.join(getattr(b, 'text', '') for b in result.content)}"
        output, code = json.dumps(result.structured_content), 0
    else:
        assert step.command is not None
        ran = await call(client, "exec", {"sandbox": sandbox, "command": step.command, "timeout_s": 600})
        output, code = ran["stdout"] + ran["stderr"], ran["exit_code"]
    wrong_exit = code == 0 if step.exit is None else code != step.exit
    if wrong_exit or not re.search(step.expect, output, re.MULTILINE):
        wanted = "a failure" if step.exit is None else f"exit {step.exit}"
        return f"exit {code} (wanted {wanted}), expected /{step.expect}/ in:\n{output[-3000:]}"
    return None


@pytest.mark.parametrize(("section", "inner"), CASES)
async def test_the_guides_commands_run_in_a_sandbox(
    section: Section, inner: str, sandboxes: dict[str, str], seed_settings: ServerSettings, engine: Engine
):
    sandbox = sandboxes[inner]
    failures: list[str] = []
    async with Client(build_server(seed_settings, engine)) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        await prepare(client, sandbox, inner)
        for step in (s for s in section.steps if inner in s.engines):
            if step.command is None and not step.tool:
                # Not run: the row must say why, and what it maps to names real tools.
                named = {word for word in re.findall(r"[a-z_]+", step.note) if word in tools}
                if not step.note or ("MANYOYO's command line" in step.note and not named):
                    failures.append(f"{step.seed!r}: a command that does not run needs a note naming its mapping")
                continue
            problem = await perform(client, sandbox, step)
            if problem:
                failures.append(f"{step.seed!r} ({step.tool or step.command!r}): {problem}")
    assert not failures, f"{section.title} [{inner}]:\n\n" + "\n\n".join(failures)


def test_nothing_the_guide_ran_reached_the_host_engine(sandboxes: dict[str, str]):
    """The guide's images, containers and networks live in the sandboxes' own engines only."""
    images = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    names = docker("ps", "-a", "--format", "{{.Names}}").split()
    names += docker("network", "ls", "--format", "{{.Name}}").split()
    guide_images = {"myapp:latest", "myapp:test", "webapp:test", "hello-world:latest", "node:22-alpine", "nginx:alpine"}
    assert not guide_images & set(images)
    assert not {"webapp", "webapp-tool", "web-tool", "mynetwork", "mynetwork-d", "tool-net"} & set(names)


def test_every_row_is_documented():
    """Each command says how it runs; a README row exists for each section (the mapping table)."""
    readme = (Path(REPO) / "README.md").read_text()
    for section in SECTIONS:
        assert section.title.split(":")[0] in readme, section.title
        for step in section.steps:
            assert step.seed.strip() and (step.command or step.tool or step.note), step
