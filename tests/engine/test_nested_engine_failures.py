"""A sandbox's own engine that dies, is killed with its supervisor, or hangs: the server notices,
gets it restarted, and says what happened; create_sandbox on that name returns it working. And a
sandbox stopped behind the server's back lets its engine stop nested containers with a SIGTERM
(issue 12, items 3 and 7)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, answers_at_once, call, cancel_after, docker, in_proper, tool_error

pytestmark = pytest.mark.anyio

ENGINE_PROCESS = {"docker": ["-x", "dockerd"], "podman": ["-f", "[p]odman system service"]}
SUPERVISOR = "/run/manyoyo/shared/supervisor.pid"
TRAPPING = "trap 'echo got TERM; exit 42' TERM; echo started; while :; do sleep 0.1; done"


@pytest.fixture(scope="module")
def failure_settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"loadable_images": (TESTBOX,)})


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def sandbox(failure_settings: ServerSettings, engine: Engine, inner: str) -> Iterator[tuple[str, str]]:
    """(name, container id) of a sandbox with `inner` inside and the busybox image loaded."""
    name = f"dead-{inner[0]}-{secrets.token_hex(3)}"

    async def use(tool: str, arguments: dict) -> dict:
        async with Client(build_server(failure_settings, engine)) as client:
            return await call(client, tool, arguments)

    created = anyio.run(use, "create_sandbox", {"name": name, "engine": inner})
    anyio.run(use, "load_image", {"sandbox": name, "image": TESTBOX})
    yield name, created["id"]
    anyio.run(use, "remove_sandbox", {"sandbox": name})


@pytest.fixture
def server(failure_settings: ServerSettings, engine: Engine):
    return build_server(failure_settings, engine)


def engine_pattern(inner: str) -> str:
    return " ".join(f"'{part}'" for part in ENGINE_PROCESS[inner])


def until(condition: str) -> str:
    """A shell loop waiting (at most 20 s) until `condition` holds; it fails if it never does."""
    return f"for _ in $(seq 200); do {condition} >/dev/null && exit 0; sleep 0.1; done; exit 1"


def kill_engine(container: str, inner: str, *, supervisor_too: bool = False) -> None:
    """As the agent could (root in its sandbox): SIGKILL the engine (first its supervisor), until it is gone."""
    first = f"kill -KILL $(cat {SUPERVISOR}); " if supervisor_too else ""
    pattern = engine_pattern(inner)
    in_proper(container, "sh", "-c", f"{first}pkill -KILL {pattern}; {until(f'! pgrep {pattern}')}")


async def test_a_dead_engine_is_restarted_and_the_call_says_so(server, sandbox, inner):
    name, container = sandbox
    kill_engine(container, inner)
    async with Client(server) as client:
        lost = await tool_error(client, "list_nested", {"sandbox": name})
        listed = await call(client, "list_nested", {"sandbox": name})
        await answers_at_once(client, name)
    assert f"the sandbox's {inner} engine" in lost and "call the tool again" in lost, lost
    # The server got it restarted; or, on a slow machine, the sandbox's init was quicker.
    assert "It answers again" in lost or "the sandbox's init restarted it" in lost, lost
    assert any(tag.endswith(TESTBOX) for image in listed["images"] for tag in image["tags"])  # podman: localhost/


async def test_an_engine_nothing_restarts_is_restarted_by_the_server(server, sandbox, inner):
    name, container = sandbox
    kill_engine(container, inner, supervisor_too=True)
    async with Client(server) as client:
        lost = await tool_error(client, "run_container", {"sandbox": name, "image": TESTBOX, "command": "true"})
        ran = await call(
            client, "run_container", {"sandbox": name, "image": TESTBOX, "command": "echo ok", "remove": True}
        )
        supervisors = await call(client, "exec", {"sandbox": name, "command": "pgrep -fc '[i]nner-init supervise'"})
    assert "had exited" in lost and "nothing was restarting it" in lost and "the server started one" in lost, lost
    assert ran["stdout"] == "ok\n" and supervisors["stdout"].strip() == "1"


async def test_create_sandbox_on_a_dead_engine_returns_the_sandbox_working(server, sandbox, inner):
    name, container = sandbox
    kill_engine(container, inner, supervisor_too=True)
    async with Client(server) as client:
        again = await call(client, "create_sandbox", {"name": name})
        works = await call(client, "exec", {"sandbox": name, "command": f"{inner} ps -a"})
    assert not again["created"] and again["id"] == container and again["engine_version"]
    assert any("the server started one" in notice for notice in again["notices"]), again["notices"]
    assert works["exit_code"] == 0, works["stderr"]


async def test_create_sandbox_cuts_the_back_off_of_an_engine_that_keeps_dying(server, sandbox, inner):
    name, container = sandbox
    for _ in range(3):  # its supervisor now waits 8 s before the next start
        kill_engine(container, inner)
        in_proper(container, "sh", "-c", until(f"pgrep {engine_pattern(inner)}"))
    kill_engine(container, inner)
    async with Client(server) as client:
        again = await call(client, "create_sandbox", {"name": name})
        await answers_at_once(client, name)
    assert any("asked to restart it at once" in notice for notice in again["notices"]), again["notices"]


async def test_a_hung_engine_is_killed_and_restarted(server, sandbox, inner, monkeypatch):
    name, container = sandbox
    monkeypatch.setattr("manyoyo_mcp.engine.exec_transport.NESTED_TIMEOUT_S", 2)
    in_proper(container, "sh", "-c", f"pkill -STOP {engine_pattern(inner)}")
    async with Client(server) as client:
        await cancel_after(client, 1, "list_nested", {"sandbox": name})  # while it waits on the hung engine
        await answers_at_once(client, name)
        hung = await tool_error(client, "list_nested", {"sandbox": name})
        await call(client, "list_nested", {"sandbox": name})
    assert "did not answer a request in time" in hung and "was stopped (SIGSTOP)" in hung, hung
    assert "the server killed it" in hung and "It answers again" in hung


async def test_a_sandbox_stopped_outside_the_server_stops_its_nested_containers_with_sigterm(server, sandbox, inner):
    name, container = sandbox
    async with Client(server) as client:
        await call(client, "run_container", {"sandbox": name, "image": TESTBOX, "name": "trapper", "detach": True,
                                             "command": TRAPPING})  # fmt: skip
        with anyio.fail_after(10):
            while (
                "started"
                not in (await call(client, "container_logs", {"sandbox": name, "container": "trapper"}))["stdout"]
            ):
                await anyio.sleep(0.1)
        docker("stop", container)  # the container's own stop timeout: 30 s
        stopped = await tool_error(client, "list_nested", {"sandbox": name})
        await call(client, "create_sandbox", {"name": name})
        logs = await call(client, "container_logs", {"sandbox": name, "container": "trapper"})
        listed = await call(client, "list_nested", {"sandbox": name})
        await call(client, "remove_container", {"sandbox": name, "container": "trapper", "force": True})
    assert "is exited" in stopped and "create_sandbox" in stopped
    assert logs["stdout"] == "started\ngot TERM\n" and logs["state"] == "exited"
    assert next(c for c in listed["containers"] if c["name"] == "trapper")["exit_code"] == 42
