"""Commands through sandboxd, against the real engine: jobs with their output files, results within
the budget, background jobs followed, stopped and listed, why a command ended (timeout, OOM,
processes left running), jobs that outlive the server, and the fallback when the daemon is gone."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from manyoyo_mcp.audit.log import read_records
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..conftest import SANDBOX_IMAGE
from ..helpers import TESTBOX, call, docker, in_proper, load_testbox, tool_error

pytestmark = pytest.mark.anyio

CLI = str(Path(sys.executable).with_name("manyoyo-mcp"))


def make_sandbox(settings: ServerSettings, engine: Engine, prefix: str, **arguments: Any) -> Iterator[dict[str, Any]]:
    """A sandbox for a module's tests, removed at the end: its create_sandbox result."""
    name = f"{prefix}-{secrets.token_hex(3)}"

    async def use(tool: str, args: dict[str, Any]) -> dict[str, Any]:
        async with Client(build_server(settings, engine)) as client:
            return await call(client, tool, args)

    created = anyio.run(use, "create_sandbox", {"name": name, **arguments})
    yield created
    anyio.run(use, "remove_sandbox", {"sandbox": name})


@contextlib.asynccontextmanager
async def a_sandbox(settings: ServerSettings, host: Engine, prefix: str, **arguments: Any):
    """A sandbox for one test, removed at its end: its create_sandbox result."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    async with Client(build_server(settings, host)) as client:
        created = await call(client, "create_sandbox", {"name": name, **arguments})
    try:
        yield created
    finally:
        async with Client(build_server(settings, host)) as client:
            await call(client, "remove_sandbox", {"sandbox": name})


@pytest.fixture(scope="module")
def box(settings: ServerSettings, engine: Engine) -> Iterator[dict[str, Any]]:
    yield from make_sandbox(settings, engine, "jobs")


@pytest.fixture
def server(settings: ServerSettings, engine: Engine):
    return build_server(settings, engine)


def processes(container: str) -> str:
    return in_proper(container, "ps", "-eo", "args")


async def exec_(client: Client, sandbox: str, command: str, **arguments: Any) -> dict[str, Any]:
    return await call(client, "exec", {"sandbox": sandbox, "command": command, **arguments})


async def test_an_exec_is_a_job_whose_whole_output_stays_in_the_sandbox(server, box):
    name = box["name"]
    async with Client(server) as client:
        ran = await exec_(client, name, "echo out; echo err >&2; exit 4")
        page = await call(client, "read_output", {"sandbox": name, "job_id": ran["job_id"], "stream": "stderr"})
        jobs = await call(client, "list_jobs", {"sandbox": name})
    assert (ran["exit_code"], ran["stdout"], ran["stderr"], ran["state"]) == (4, "out\n", "err\n", "exited")
    assert ran["output_files"] == {
        "stdout": f"/var/lib/manyoyo-jobs/{ran['job_id']}/stdout",
        "stderr": f"/var/lib/manyoyo-jobs/{ran['job_id']}/stderr",
    }
    assert (page["text"], page["size"], page["next_offset"]) == ("err\n", 4, 4)
    listed = {job["job_id"]: job for job in jobs["jobs"]}
    assert listed[ran["job_id"]]["exit_code"] == 4 and listed[ran["job_id"]]["kind"] == "exec"
    assert in_proper(box["id"], "cat", ran["output_files"]["stdout"]) == "out\n"


async def test_a_300_kb_output_fits_the_result_and_is_paged_and_searched_in_full(server, box, settings):
    name = box["name"]
    # 3000 numbered lines of 100 bytes, a needle at line 1777.
    script = "for i in $(seq 1 3000); do if [ $i = 1777 ]; then echo NEEDLE-here; fi; printf '%099d\\n' $i; done"
    async with Client(server) as client:
        ran = await exec_(client, name, script)
        job = ran["job_id"]
        first = await call(client, "read_output", {"sandbox": name, "job_id": job, "limit": 1000})
        second = await call(
            client, "read_output", {"sandbox": name, "job_id": job, "offset": first["next_offset"], "limit": 1000}
        )
        found = await call(client, "read_output", {"sandbox": name, "job_id": job, "pattern": "NEEDLE", "fixed": True})
        at = await call(
            client,
            "read_output",
            {"sandbox": name, "job_id": job, "offset": found["matches"][0]["offset"], "limit": 12},
        )
    assert ran["stdout_bytes"] == 300_000 + len("NEEDLE-here\n") and ran["truncated"]
    assert len(json.dumps(ran)) < settings.output_budget_bytes + 2000  # well under a client's limits
    assert ran["stdout"].startswith(f"{1:099d}\n") and ran["stdout"].endswith(f"{3000:099d}\n")
    assert ran["output_files"]["stdout"] in ran["stdout"]  # the cut says where the whole output is
    assert first["text"] == "".join(f"{i:099d}\n" for i in range(1, 11))
    assert second["offset"] == 1000 and second["text"].startswith(f"{11:099d}\n")
    assert [(m["line"], m["text"]) for m in found["matches"]] == [(1777, "NEEDLE-here")]
    assert at["text"] == "NEEDLE-here\n" and not found["more_matches"]


async def test_a_background_job_returns_at_once_and_is_followed_to_its_end(server, box):
    name = box["name"]
    async with Client(server) as client:
        started = await exec_(
            client, name, "for i in 1 2 3 4 5; do echo line$i; sleep 0.4; done; exit 3", background=True
        )
        seen, cursor, state = "", None, started
        with anyio.fail_after(60):
            while state["state"] == "running":
                state = await call(
                    client, "job_output", {"sandbox": name, "job_id": started["job_id"], "cursor": cursor, "wait_s": 5}
                )
                seen += state["stdout"]
                cursor = state["next_cursor"]
    assert started["state"] == "running" and started["exit_code"] is None and started["duration_s"] < 2
    assert seen == "".join(f"line{i}\n" for i in range(1, 6))
    assert (state["exit_code"], state["kind"], state["remaining_bytes"]) == (3, "background", 0)


async def test_stop_job_kills_a_background_job_and_everything_it_started(server, box):
    name = box["name"]
    async with Client(server) as client:
        started = await exec_(client, name, "sleep 401 & setsid sleep 402 & sleep 403", background=True)
        with anyio.fail_after(20):
            while "sleep 403" not in processes(box["id"]):
                await anyio.sleep(0.1)
        stopped = await call(client, "stop_job", {"sandbox": name, "job_id": started["job_id"]})
        running = await call(client, "list_jobs", {"sandbox": name, "running_only": True})
    assert stopped["killed"] and stopped["cancelled"] and stopped["state"] == "exited"
    assert stopped["signal"] == "SIGKILL"
    assert "sleep 40" not in processes(box["id"])
    assert started["job_id"] not in [job["job_id"] for job in running["jobs"]]


async def test_processes_a_command_leaves_running_are_reported_and_stop_job_ends_them(server, box):
    name = box["name"]
    async with Client(server) as client:
        ran = await exec_(client, name, "sleep 404 & echo started")
        stopped = await call(client, "stop_job", {"sandbox": name, "job_id": ran["job_id"]})
    assert ran["exit_code"] == 0 and ran["stdout"] == "started\n"
    assert ran["left_running_count"] == 1 and ran["left_running"][0]["command"] == "sleep 404"
    assert not ran["left_running_killed"]
    assert stopped["killed"] and "sleep 404" not in processes(box["id"])


async def test_the_operator_may_have_processes_left_running_killed(settings, engine):
    killing = settings.model_copy(update={"job_leftovers": "kill"})
    async with a_sandbox(killing, engine, "left") as created:
        async with Client(build_server(killing, engine)) as client:
            ran = await exec_(client, created["name"], "sleep 405 & setsid sleep 406 & echo started")
        assert ran["left_running_count"] == 2 and ran["left_running_killed"]
        assert "sleep 40" not in processes(created["id"])


async def test_a_command_killed_for_memory_says_so_and_the_sandbox_lives_on(settings, engine):
    async with a_sandbox(settings, engine, "oom", memory="512m") as created:
        async with Client(build_server(settings, engine)) as client:
            ran = await exec_(client, created["name"], "python3 -c 'x = bytearray(b\"x\") * (3 << 30)'")
            after = await exec_(client, created["name"], "echo alive; docker version --format '{{.Server.Os}}'")
        assert ran["oom_killed"] and ran["exit_code"] == 137  # its shell saw python3 killed
        assert not ran["timed_out"] and not ran["killed"]
        assert after["stdout"] == "alive\nlinux\n" and after["job_id"]  # the daemon and the engine outlived it


@pytest.mark.parametrize("inner", ["docker", "podman"])
async def test_a_tty_command_gets_a_terminal(settings, engine, inner):
    async with a_sandbox(settings, engine, f"tty-{inner}", engine=inner) as created:
        load_testbox(created["id"], inner)
        async with Client(build_server(settings, engine)) as client:
            ran = await exec_(client, created["name"], f"docker run -t --rm {TESTBOX} sh -c 'tty; echo hi'", tty=True)
            plain = await exec_(client, created["name"], "[ -t 1 ] && echo terminal || echo none")
        assert ran["exit_code"] == 0, ran
        lines = ran["stdout"].replace("\r", "").splitlines()  # a terminal ends lines with \r\n (twice nested)
        assert lines[0].startswith("/dev/pts/") and lines[1:] == ["hi"] and ran["stderr"] == ""
        assert plain["stdout"] == "none\n"


async def test_jobs_outlive_the_server_and_a_new_one_finds_them(settings, engine, box):
    name = box["name"]
    async with Client(build_server(settings, engine)) as client:
        started = await exec_(client, name, "sleep 1.5; echo finished", background=True)
    async with Client(build_server(settings, engine)) as client:  # another server process would do the same
        listed = await call(client, "list_jobs", {"sandbox": name, "running_only": True})
        with anyio.fail_after(30):
            state = await call(client, "job_output", {"sandbox": name, "job_id": started["job_id"], "wait_s": 10})
            while state["state"] == "running":
                state = await call(client, "job_output", {"sandbox": name, "job_id": started["job_id"], "wait_s": 10})
    assert started["job_id"] in [job["job_id"] for job in listed["jobs"]]
    assert state["exit_code"] == 0 and state["stdout"].endswith("finished\n")


async def test_a_command_whose_server_was_killed_is_still_killed_at_its_deadline(scope, box, tmp_path):
    name, audit = box["name"], tmp_path / "audit"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")}
    params = StdioServerParameters(
        command=CLI,
        args=["serve", "--scope", scope],
        env={**env, "MANYOYO_AUDIT_DIR": str(audit), "MANYOYO_SANDBOX_IMAGE": SANDBOX_IMAGE},
    )

    async def session() -> None:
        async with Client(params) as client, anyio.create_task_group() as tasks:
            tasks.start_soon(client.call_tool, "exec", {"sandbox": name, "command": "sleep 407", "timeout_s": 4})
            with anyio.fail_after(30):
                while "sleep 407" not in processes(box["id"]):
                    await anyio.sleep(0.1)
            os.kill(_server_of(audit), signal.SIGKILL)
            tasks.cancel_scope.cancel()

    with contextlib.suppress(Exception):  # how the client takes its server's death does not matter here
        await session()
    assert "sleep 407" in processes(box["id"])  # nobody killed it: its server died, not its deadline
    with anyio.fail_after(30):
        while "sleep 407" in processes(box["id"]):
            await anyio.sleep(0.2)
    async with Client(build_server(_settings_for(scope, tmp_path), None)) as client:
        jobs = await call(client, "list_jobs", {"sandbox": name})
    (job,) = [job for job in jobs["jobs"] if job["command"].endswith("sleep 407")]
    assert job["timed_out"] and job["signal"] == "SIGKILL" and 3.5 < job["duration_s"] < 10


async def test_when_the_daemon_is_replaced_exec_falls_back_and_the_daemon_comes_back(settings, engine):
    async with a_sandbox(settings, engine, "fallback") as created:
        container = created["id"]
        # The agent (root in the sandbox) kills the daemon and its keeper, and squats on its socket.
        in_proper(
            container,
            "sh",
            "-c",
            "daemon=$(cat /run/sandboxd.pid); kill -9 $(ps -o ppid= -p $daemon) $daemon; sleep 0.2; "
            "setsid python3 -c 'import socket,os,time; s=socket.socket(socket.AF_UNIX); "
            'p="/run/manyoyo/shared/sandboxd.sock"; os.path.exists(p) and os.unlink(p); s.bind(p); s.listen(); '
            "c=[s.accept() for _ in range(100)]; time.sleep(600)' >/dev/null 2>&1 < /dev/null &",
        )
        async with Client(build_server(settings, engine)) as client:
            fell_back = await exec_(client, created["name"], "echo through-crun")
            with anyio.fail_after(30):
                again = await exec_(client, created["name"], "echo through-sandboxd")
                while again["job_id"] is None:
                    await anyio.sleep(0.5)
                    again = await exec_(client, created["name"], "echo through-sandboxd")
        assert fell_back["stdout"] == "through-crun\n" and fell_back["job_id"] is None
        assert "crun exec" in fell_back["notes"][0] and "restarted" in fell_back["notes"][0]
        assert again["stdout"] == "through-sandboxd\n" and again["output_files"]


def _server_of(audit: Path) -> int:
    """The stdio server process writing to `audit` (found by its environment)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(audit).encode() in (proc / "environ").read_bytes():
                return int(proc.name)
        except OSError:
            continue
    raise AssertionError("the server process was not found")


def _settings_for(scope: str, tmp_path: Path) -> ServerSettings:
    return ServerSettings(
        scope=scope,
        sandbox_image=SANDBOX_IMAGE,
        audit_dir=str(tmp_path / "audit2"),
        allowed_host_roots=(str(tmp_path),),
    )


async def test_a_sandbox_stopped_behind_the_servers_back_is_reported_as_stopped_then_works_again(settings, engine):
    async with a_sandbox(settings, engine, "stopped") as created:
        name = created["name"]
        async with Client(build_server(settings, engine)) as client:
            before = await exec_(client, name, "echo one")  # the server now knows the sandbox and its daemon
            docker("stop", "-t", "1", created["id"])
            stopped = await tool_error(client, "exec", {"sandbox": name, "command": "true"})
            await call(client, "create_sandbox", {"name": name})
            after = await exec_(client, name, "echo two")
        assert before["job_id"] and "is exited" in stopped and "create_sandbox" in stopped
        assert after["stdout"] == "two\n" and after["job_id"] and after["notes"] == []


async def test_jobs_are_in_the_audit_log(server, box, settings):
    name = box["name"]
    async with Client(server) as client:
        started = await exec_(client, name, "sleep 408", background=True)
        await call(client, "stop_job", {"sandbox": name, "job_id": started["job_id"]})
    records = [r for _, _, r, _ in read_records(settings.audit_path) if r is not None]
    outcomes = {r["tool"]: r for r in records if r["event"] == "outcome" and r.get("job") == started["job_id"]}
    calls = [r for r in records if r["event"] == "call" and r["tool"] == "stop_job"]
    assert outcomes["exec"]["status"] == "ok" and outcomes["stop_job"]["status"] == "ok"
    assert calls[-1]["args"]["job_id"] == started["job_id"]


async def test_a_restarted_daemon_adopts_the_running_jobs_and_keeps_their_deadlines(server, box):
    name = box["name"]
    async with Client(server) as client:
        started = await exec_(client, name, "sleep 409", background=True, timeout_s=4)
        in_proper(box["id"], "sh", "-c", "kill -9 $(cat /run/sandboxd.pid)")  # its keeper starts it again
        assert "sleep 409" in processes(box["id"])
        with anyio.fail_after(30):
            state = await call(client, "job_output", {"sandbox": name, "job_id": started["job_id"], "wait_s": 10})
            while state["state"] == "running":
                state = await call(client, "job_output", {"sandbox": name, "job_id": started["job_id"], "wait_s": 10})
    assert state["timed_out"] and state["killed"] and 3.5 < state["duration_s"] < 10
    assert "exit status is unknown" in " ".join(state["notes"])
    assert "sleep 409" not in processes(box["id"])
