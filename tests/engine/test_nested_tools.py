"""The nested tools against a real engine, with both inner engines: the seed's CI/CD and multi-stage
flows, failures, timeouts, pruning, and bad input. The host engine is checked to stay untouched."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, dind_sandbox, docker, tool_error

pytestmark = pytest.mark.anyio

CI_DOCKERFILE = f"""\
FROM {TESTBOX}
WORKDIR /app
COPY . .
RUN sh tests/unit.sh
CMD ["sh", "tests/integration.sh"]
"""
# The seed's multi-stage example, with busybox standing in for node and nginx (no registry here).
MULTI_STAGE = f"""\
FROM {TESTBOX} AS build
WORKDIR /app
COPY src/ ./src/
RUN mkdir dist && sed "s/NAME/$(cat src/name)/" src/index.html.in > dist/index.html && echo built dist

FROM {TESTBOX}
COPY --from=build /app/dist /www
EXPOSE 80
CMD ["sh", "-c", "echo serving /www; exec httpd -f -v -p 80 -h /www"]
"""
PROJECT = {
    "Dockerfile": CI_DOCKERFILE,
    "Dockerfile.test": MULTI_STAGE,
    ".dockerignore": ".env.local\n",
    ".env.local": "API_TOKEN=not-for-images\n",
    "src/name": "manyoyo\n",
    "src/index.html.in": "<h1>hello NAME</h1>\n",
    "tests/unit.sh": "test -f src/name && echo unit ok\n",
    "tests/integration.sh": 'echo "integration ok CI=$CI"; test ! -e /app/.env.local || { echo leaked; exit 1; }\n',
}


@pytest.fixture(scope="module")
def nested_settings(settings: ServerSettings) -> ServerSettings:
    return settings.model_copy(update={"loadable_images": (TESTBOX,), "exec_timeout_s": 120})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for relative, text in PROJECT.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def _sandbox(settings: ServerSettings, engine: Engine, inner: str, workspace: Path | None) -> Iterator[str]:
    yield from dind_sandbox(settings, engine, f"n{inner[0]}-{secrets.token_hex(3)}", inner, workspace)


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def sandbox(nested_settings: ServerSettings, engine: Engine, inner: str, project: Path) -> Iterator[str]:
    """One sandbox per inner engine, with the project mounted and the busybox image loaded."""
    yield from _sandbox(nested_settings, engine, inner, project)


@pytest.fixture
def server(nested_settings: ServerSettings, engine: Engine):
    return build_server(nested_settings, engine)


def _host_objects() -> str:
    return docker("ps", "-a", "--format", "{{.Names}} {{.Image}}") + docker("images", "--format", "{{.Repository}}")


async def test_seed_ci_pipeline_build_then_run_the_tests_in_the_image(server, sandbox, inner):
    tag = f"myapp-{secrets.token_hex(3)}:test"
    steps: list[str] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        steps.append(message or "")

    async with Client(server) as client:
        built = await call(client, "build_image", {"sandbox": sandbox, "tag": tag}, progress_callback=progress)
        tested = await call(
            client, "run_container", {"sandbox": sandbox, "image": tag, "env": {"CI": "true"}, "remove": True}
        )
        log = await call(client, "exec", {"sandbox": sandbox, "command": ["cat", built["log_path"]]})
        listed = await call(client, "list_nested", {"sandbox": sandbox})
    # BuildKit (docker) counts the steps that run or come from its cache (not CMD); buildah every instruction.
    assert built["engine"] == inner and built["steps"] == {"docker": 4, "podman": 5}[inner]
    assert built["image_id"].startswith("sha256:") and built["size_bytes"] > 0
    assert any(t.endswith(tag) for t in built["tags"])
    assert "unit ok" in built["log_tail"] and "unit ok" in log["stdout"]
    assert any("RUN sh tests/unit.sh" in s for s in steps), steps  # steps streamed while building
    assert tested["exit_code"] == 0, tested
    assert tested["stdout"] == "integration ok CI=true\n"  # .dockerignore kept .env.local out
    assert tested["removed"] and tested["limits"]["memory"] == "1g"
    assert tested["id"] not in [c["id"] for c in listed["containers"]]
    assert any(t.endswith(tag) for i in listed["images"] for t in i["tags"])
    assert tag.split(":")[0] not in _host_objects()


async def test_seed_multi_stage_build_served_detached_and_reached_from_sandbox_and_container(server, sandbox, inner):
    probe = secrets.token_hex(3)
    tag, web, net = f"webapp-{probe}:test", f"web-{probe}", f"net-{probe}"
    async with Client(server) as client:
        built = await call(
            client,
            "build_image",
            {"sandbox": sandbox, "context": "/workspace", "dockerfile": "Dockerfile.test", "tag": tag},
        )
        service = await call(
            client,
            "run_container",
            {"sandbox": sandbox, "image": tag, "name": web, "ports": ["18080:80"], "detach": True, "network": net},
        )
        from_sandbox = await call(
            client,
            "exec",
            {
                "sandbox": sandbox,
                "command": "curl -sf --retry 20 --retry-connrefused --retry-delay 0 http://localhost:18080/",
            },
        )
        from_container = await call(
            client,
            "run_container",
            {"sandbox": sandbox, "image": TESTBOX, "command": f"wget -qO- http://{web}:80/", "network": net},
        )
        logs = await call(client, "container_logs", {"sandbox": sandbox, "container": web, "tail": 50})
        listed = await call(client, "list_nested", {"sandbox": sandbox})
        host_view = _host_objects()
        stopped = await call(client, "stop_container", {"sandbox": sandbox, "container": web, "timeout_s": 1})
        removed = await call(client, "remove_container", {"sandbox": sandbox, "container": web})
        after = await call(client, "list_nested", {"sandbox": sandbox})
    assert built["steps"] == {"docker": 5, "podman": 8}[inner]  # BuildKit runs the stages' shared FROM once
    assert service["detached"] and service["state"] == "running" and service["exit_code"] is None
    assert service["network_created"] and net in service["ip_addresses"]
    assert any(p.endswith(":18080->80/tcp") for p in service["ports"]), service["ports"]
    assert from_sandbox["stdout"] == "<h1>hello manyoyo</h1>\n", from_sandbox
    assert from_container["stdout"] == "<h1>hello manyoyo</h1>\n" and from_container["exit_code"] == 0
    assert "serving /www" in logs["stdout"] + logs["stderr"] and logs["state"] == "running"
    assert {c["name"]: c["state"] for c in listed["containers"]}[web] == "running"
    assert web not in host_view and f"webapp-{probe}" not in host_view
    assert stopped["state"] == "exited" and removed["name"] == web
    assert web not in [c["name"] for c in after["containers"]]


async def test_a_failed_build_names_the_step_and_keeps_the_full_log(server, sandbox):
    dockerfile = f"FROM {TESTBOX}\nRUN echo preparing\nRUN echo compiler says no >&2; exit 7\nRUN echo never\n"
    async with Client(server) as client:
        message = await tool_error(
            client, "build_image", {"sandbox": sandbox, "dockerfile": dockerfile, "tag": "broken:1"}
        )
        log_path = message.split("Full log: ")[1].split()[0]
        log = await call(client, "exec", {"sandbox": sandbox, "command": ["cat", log_path]})
    assert "RUN echo compiler says no >&2; exit 7" in message.split("Output of that step")[0]
    assert "compiler says no" in message.split("Output of that step")[1]
    assert (
        "preparing" in log["stdout"]
        and "failed" in log["stdout"]
        and "never" not in log["stdout"].replace("echo never", "")
    )


async def test_a_run_past_its_timeout_is_killed(server, sandbox):
    async with Client(server) as client:
        ran = await call(
            client,
            "run_container",
            {"sandbox": sandbox, "image": TESTBOX, "command": "echo started; sleep 300", "timeout_s": 2},
        )
        state = await call(client, "list_nested", {"sandbox": sandbox})
    assert ran["timed_out"] and ran["stdout"] == "started\n"
    assert ran["exit_code"] == 137 and ran["state"] == "exited"
    assert {c["id"]: c["state"] for c in state["containers"]}[ran["id"]] == "exited"
    assert ran["duration_s"] < 60


async def test_a_build_past_its_timeout_is_stopped_and_its_steps_killed(server, sandbox):
    marker = f"sleep {300 + secrets.randbelow(600)}"
    async with Client(server) as client:
        message = await tool_error(
            client,
            "build_image",
            {"sandbox": sandbox, "dockerfile": f"FROM {TESTBOX}\nRUN echo start; {marker}\n", "timeout_s": 3},
        )
        for _ in range(50):
            ps = await call(client, "exec", {"sandbox": sandbox, "command": "ps -eo args"})
            if marker not in ps["stdout"]:
                break
            time.sleep(0.2)
    assert "timeout_s=3" in message and f"RUN echo start; {marker}" in message
    assert marker not in ps["stdout"], ps["stdout"]


async def test_prune_dry_run_then_real_with_the_bytes_the_engine_reports(nested_settings, engine, inner):
    name = f"prune-{inner[0]}-{secrets.token_hex(2)}"
    async with Client(build_server(nested_settings, engine)) as client:
        await call(client, "create_sandbox", {"name": name, "engine": inner})
        try:
            await call(client, "load_image", {"sandbox": name, "image": TESTBOX})
            blob = {"sandbox": name, "dockerfile": f"FROM {TESTBOX}\nRUN head -c 3000000 /dev/urandom > /blob\n"}
            if inner == "docker":  # an image whose layers only it holds (BuildKit's cache shares them: test_buildkit)
                blob["builder"] = "classic"
            await call(client, "build_image", {**blob, "tag": "blob:1"})
            done = await call(client, "run_container", {"sandbox": name, "image": "blob:1", "command": "ls -l /blob"})
            await call(client, "exec", {"sandbox": name, "command": f"{inner} volume create spare >/dev/null"})
            socket = "/var/run/docker.sock" if inner == "docker" else "/run/podman/podman.sock"
            df = f"curl -s --unix-socket {socket} http://engine/v1.41/system/df | jq .LayersSize"
            before = await call(client, "exec", {"sandbox": name, "command": df})
            options = {"sandbox": name, "images": "unused", "volumes": True}
            planned = await call(client, "prune", {**options, "dry_run": True})
            still = await call(client, "list_nested", {"sandbox": name})
            pruned = await call(client, "prune", options)
            after = await call(client, "exec", {"sandbox": name, "command": df})
            empty = await call(client, "list_nested", {"sandbox": name})
        finally:
            await call(client, "remove_sandbox", {"sandbox": name})
    plan = {(i["kind"], i["id"]) for i in planned["items"]}
    went = {(i["kind"], i["id"]) for i in pruned["items"]}
    assert ("container", done["id"]) in plan and ("volume", "spare") in plan
    assert len(still["containers"]) == 1 and still["volumes"]  # a dry run removes nothing
    assert {p for p in plan if p[0] != "image"} <= went and {p for p in plan if p[0] == "image"} <= went
    assert planned["bytes_by_kind"]["image"] >= 3_000_000
    assert pruned["bytes_by_kind"]["image"] >= 3_000_000
    if inner == "docker":  # the engine's own accounting of its layers dropped by what it reported
        layers_freed = int(before["stdout"]) - int(after["stdout"])
        assert pruned["bytes_by_kind"]["image"] == layers_freed
    assert empty["containers"] == [] and empty["volumes"] == []
    # A podman sandbox reads the loaded base (and every image the scope loaded) from the shared image
    # store: not its own to prune.
    assert all(i["shared"] for i in empty["images"]) and (inner == "podman" or empty["images"] == [])
    assert inner == "docker" or [f"localhost/{TESTBOX}"] in [i["tags"] for i in empty["images"]]


async def test_bad_input_gets_errors_that_say_what_to_do(server, sandbox):
    running = f"busy-{secrets.token_hex(2)}"
    async with Client(server) as client:
        await call(
            client,
            "run_container",
            {"sandbox": sandbox, "image": TESTBOX, "name": running, "command": "sleep 300", "detach": True},
        )
        errors = {
            "missing image": await tool_error(client, "run_container", {"sandbox": sandbox, "image": "nothere:1"}),
            "bad tag": await tool_error(client, "build_image", {"sandbox": sandbox, "tag": "Bad Tag"}),
            "host path": await tool_error(client, "build_image", {"sandbox": sandbox, "context": "/home/someone/app"}),
            "into proc": await tool_error(client, "build_image", {"sandbox": sandbox, "context": "../../proc/self"}),
            "dockerfile outside": await tool_error(
                client, "build_image", {"sandbox": sandbox, "dockerfile": "../etc/passwd"}
            ),
            "name taken": await tool_error(
                client, "run_container", {"sandbox": sandbox, "image": TESTBOX, "name": running, "detach": True}
            ),
            "not owned": await tool_error(client, "run_container", {"sandbox": "someone-else", "image": TESTBOX}),
            "not loadable": await tool_error(
                client, "load_image", {"sandbox": sandbox, "image": "manyoyo-sandbox:latest"}
            ),
            "engine socket": await tool_error(
                client,
                "run_container",
                {"sandbox": sandbox, "image": TESTBOX, "volumes": ["/var/run/docker.sock:/var/run/docker.sock"]},
            ),
            "no container": await tool_error(client, "container_logs", {"sandbox": sandbox, "container": "ghost"}),
            "still running": await tool_error(client, "remove_container", {"sandbox": sandbox, "container": running}),
            "too much memory": await tool_error(
                client, "run_container", {"sandbox": sandbox, "image": TESTBOX, "memory": "64g"}
            ),
        }
        await call(client, "remove_container", {"sandbox": sandbox, "container": running, "force": True})
    expected = {
        "missing image": "build_image",
        "bad tag": "not a valid image tag",
        "host path": "does not exist inside sandbox",
        "into proc": "is inside /proc",
        "dockerfile outside": "not inside the context",
        "name taken": "already exists",
        "not owned": "no sandbox named 'someone-else'",
        "not loadable": "may not be loaded",
        "engine socket": "may not be mounted",
        "no container": "Containers there:",
        "still running": "force=true",
        "too much memory": "memory must be between",
    }
    for case, fragment in expected.items():
        assert fragment in errors[case], (case, errors[case])
    assert "load_image" in errors["missing image"] and running in errors["no container"]


async def test_preloaded_images_are_in_every_new_sandbox_and_a_missing_one_stops_the_create(nested_settings, engine):
    name = f"pre-{secrets.token_hex(2)}"
    preloading = nested_settings.model_copy(update={"preload_images": (TESTBOX,)})
    missing = nested_settings.model_copy(update={"preload_images": ("manyoyo-nowhere:0",)})
    async with Client(build_server(preloading, engine)) as client:
        created = await call(client, "create_sandbox", {"name": name})
        listed = await call(client, "list_nested", {"sandbox": name})
        await call(client, "remove_sandbox", {"sandbox": name})
    async with Client(build_server(missing, engine)) as client:
        message = await tool_error(client, "create_sandbox", {"name": name + "-x"})
    assert created["preloaded"] == [TESTBOX]
    assert any(tag.endswith(TESTBOX) for image in listed["images"] for tag in image["tags"])
    assert "manyoyo-nowhere:0" in message and "preload" in message
    assert name + "-x" not in docker("ps", "-a", "--format", "{{.Names}}")
