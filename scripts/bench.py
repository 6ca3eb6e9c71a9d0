"""Benchmark: manyoyo-mcp measured side by side with the docker SDK doing the same work directly.

Prints, in one run on the same machine and engine:
  1. start-up: spawn to the answer of `initialize` and of `tools/list` over stdio vs a bare MCP
     SDK server listing the same tools, our phases, and the imports by package (bench_startup.py);
  2. exec round-trip of a trivial command: through the MCP server over stdio vs docker-py's
     exec_create + exec_start against the same sandbox (p50, p95, ratio);
  3. a 2 MiB exec result (1 MiB on each stream) end to end through the server vs docker-py
     returning the same bytes, and the size of the result message;
  4. sandbox time to ready: create_sandbox vs `docker run` of the same image (same flags) plus
     polling the nested engine's API, via docker-py (median, ratio), and where each one's time
     goes (the server's phases, from its log line per create; the reference's run and poll), and
     create_sandbox from the warm pool (MANYOYO_WARM_POOL=1, a second server);
  5. the server's resident memory (now and peak);
  6. the audit log's cost: appending one record synced to disk (fsync) vs the same append unsynced;
  7. N podman sandboxes using one host image: the shared image store vs a copy each (time of the
     loads, disk per sandbox and in all; bench_images.py).
Not a test: nothing here passes or fails.
Usage: scripts/bench [--starts N] [--execs N] [--results N] [--creates N] [--shared N]   (0 skips a part)
       [--shared-image IMAGE]   (default manyoyo-base:trixie, the sandbox image's base: ~210 MB)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

import anyio
import bench_images
import bench_startup
import docker
from mcp import Client, StdioServerParameters

from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.audit.redaction import Redactor
from manyoyo_mcp.config.settings import DEFAULT_IMAGE
from manyoyo_mcp.engine.host import Engine
from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.execution import ExecRequest, run_exec
from manyoyo_mcp.sandbox.inside import PROPER_ROOT, STATE_FILE, Entry, parse_state
from manyoyo_mcp.sandbox.layout import ENGINE_SOCKETS, SANDBOX_STORAGE
from manyoyo_mcp.sandbox.runtime import runtime_profile

SERVER = str(Path(sys.executable).with_name("manyoyo-mcp"))
SCOPE = f"bench-{secrets.token_hex(3)}"  # labels everything made here (ownership.owner_labels)
IMAGE = os.environ.get("MANYOYO_SANDBOX_IMAGE", DEFAULT_IMAGE)
MIB = 1 << 20
REDIRECT = 'log=$1; shift; exec "$@" 2>>"$log"'  # sh -c: a server's stderr into a file
# Exactly the default output cap on each stream: the whole output is kept, nothing truncated.
TWO_MIB = f"head -c {MIB} /dev/zero | tr '\\0' o; head -c {MIB} /dev/zero | tr '\\0' e >&2"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(label: str, ours: list[float], theirs: list[float]) -> None:
    if not ours or not theirs:
        return
    p50o, p95o, p50t, p95t = (percentile(v, q) * 1000 for v in (ours, theirs) for q in (0.5, 0.95))
    print(f"{label:<34} {p50o:>9.1f} {p95o:>9.1f} {p50t:>9.1f} {p95t:>9.1f} {p50o / p50t:>7.2f}x")


def create_phases(server_log: Path, direct: list[float], direct_run: list[float]) -> None:
    """Where each create's time went: the server's phases (p50 of its log lines, sandbox/phases.py)
    beside the hand-made reference's `docker run` and its polling of the nested engine."""
    found: dict[str, list[float]] = {}
    for line in server_log.read_text().splitlines():
        if (shown := re.search(r"sandbox '[^']+' created in \d+ ms: (.*)", line)) is not None:
            for part in shown[1].split(", "):
                phase, ms = re.fullmatch(r"(.+) (\d+) ms", part).groups()
                found.setdefault(phase, []).append(int(ms) / 1000)
    if not found or not direct:
        return
    poll = [total - ran for total, ran in zip(direct, direct_run, strict=True)]
    print("  where a create's time goes, p50 in ms (ours: the server's log; by hand: docker run, then polling)")
    for phase, seconds in found.items():
        print(f"    {phase:<30} {percentile(seconds, 0.5) * 1000:>9.1f}")
    print(f"    {'by hand: docker run':<30} {'':>9} {percentile(direct_run, 0.5) * 1000:>9.1f}")
    print(f"    {'by hand: nested engine polled':<30} {'':>9} {percentile(poll, 0.5) * 1000:>9.1f}")


async def warm_creates(env: dict[str, str], server_log: Path, n: int) -> list[float]:
    """create_sandbox without a name through a server keeping a warm pool of one, each once a
    pooled sandbox waits (timed from the call to its answer); each taken sandbox is removed.
    The server's stderr goes to `server_log`."""
    pooled = {**env, "MANYOYO_WARM_POOL": "1"}
    argv = ["-c", REDIRECT, "sh", str(server_log), SERVER, "serve", "--scope", SCOPE]
    params = StdioServerParameters(command="/bin/sh", args=argv, env=pooled)
    client = docker.from_env()
    labels = [f"{k}={v}" for k, v in {**ownership.owner_labels(SCOPE), ownership.KIND: "sandbox"}.items()]
    times = []
    async with Client(params) as mcp:
        for _ in range(n):
            with anyio.fail_after(180):
                while not any(
                    c.name.endswith(ownership.POOLED) for c in client.containers.list(filters={"label": labels})
                ):
                    await anyio.sleep(0.2)
            started = time.perf_counter()
            result = await mcp.call_tool("create_sandbox", {})
            times.append(time.perf_counter() - started)
            data = result.structured_content or {}
            assert not result.is_error and data["pooled"], result.content
            await mcp.call_tool("remove_sandbox", {"sandbox": data["name"]})
    client.close()
    return times


def server_pid() -> int:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in argv and SCOPE.encode() in argv and any(a.endswith(b"manyoyo-mcp") for a in argv):
                return int(proc.name)
    raise RuntimeError("server process not found")


def memory_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def audit_appends(directory: Path, fsync: bool, n: int) -> list[float]:
    log = AuditLog(directory, fsync=fsync)
    times = []
    for i in range(n):
        started = time.perf_counter()
        log.append({"event": "call", "call": f"bench-{i}", "tool": "exec", "args": {"command": "true"}})
        times.append(time.perf_counter() - started)
    return times


def result_masking(n: int) -> tuple[list[float], list[float]]:
    """Masking five configured credentials in a result at the output cap (two 1 MiB streams),
    against serialising that result to JSON, which every result costs anyway."""
    redactor = Redactor(b"bench-key")
    secrets_ = [f"sk-ant-bench-{i}-{'x' * 30}" for i in range(5)]
    text = ("build step output line with nothing secret in it\n" * 21000)[: 1 << 20]
    result = {"stdout": text, "stderr": text[:-60] + secrets_[0], "exit_code": 0}
    masked, serialised = [], []
    for _ in range(n):
        started = time.perf_counter()
        redactor.known_only(result, secrets_)
        masked.append(time.perf_counter() - started)
        started = time.perf_counter()
        json.dumps(result)
        serialised.append(time.perf_counter() - started)
    return masked, serialised


def sdk_exec(api: docker.APIClient, container_id: str) -> float:
    started = time.perf_counter()
    created = api.exec_create(container_id, ["true"], stdout=True, stderr=True)
    api.exec_start(created["Id"], demux=True)
    api.exec_inspect(created["Id"])
    return time.perf_counter() - started


async def exec_rows(
    mcp: Client, api: docker.APIClient, name: str, container_id: str, n: int
) -> tuple[list[float], list[float], list[float]]:
    """exec `true` through the server (sandboxd), end to end over stdio, beside a raw engine-API exec
    of `true` in the same sandbox (exec create + start + inspect), interleaved in the same run; and
    what one request to the daemon costs from the host (the persistent channel, no MCP), the floor
    of our exec. Returns (ours, raw, daemon requests), seconds each."""
    ours: list[float] = []
    direct: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        result = await mcp.call_tool("exec", {"sandbox": name, "command": ["true"]})
        ours.append(time.perf_counter() - started)
        data = result.structured_content or {}
        assert not result.is_error and data["exit_code"] == 0 and data.get("job_id"), "exec did not use sandboxd"
        direct.append(await anyio.to_thread.run_sync(sdk_exec, api, container_id))
    return ours, direct, await anyio.to_thread.run_sync(channel_round_trips, container_id, n)


def channel_round_trips(container_id: str, n: int) -> list[float]:
    """A request to sandboxd (GET /v1/health) over the server's persistent channel, from the host."""
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.inside import PROPER_ROOT
    from manyoyo_mcp.sandbox.sandboxd import SOCKET

    engine = Engine()
    channel = engine.channel(container_id, SOCKET, PROPER_ROOT)
    times = []
    try:
        for _ in range(n + 3):
            started = time.perf_counter()
            channel.request("GET", "/v1/health")
            times.append(time.perf_counter() - started)
    finally:
        channel.close()
        engine.close()
    return times[3:]


def sdk_output(api: docker.APIClient, container_id: str, command: list[str]) -> float:
    """The same command's output through docker-py alone: both streams, decoded, and the exit code."""
    started = time.perf_counter()
    created = api.exec_create(container_id, command, stdout=True, stderr=True)
    stdout, stderr = api.exec_start(created["Id"], demux=True)
    api.exec_inspect(created["Id"])["ExitCode"]
    assert len(stdout.decode()) == MIB and len(stderr.decode()) == MIB
    return time.perf_counter() - started


def message_size(result: object) -> tuple[int, int]:
    """Bytes of a tool result as JSON on the wire, and of its text blocks alone."""
    wire = result.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[attr-defined]
    text = sum(len(block.get("text", "").encode()) for block in wire.get("content", []))
    return len(json.dumps(wire).encode()), text


async def delivery_floor(listed: object, n: int) -> list[float]:
    """A 2 MiB exec-shaped result delivered by a bare SDK server (bench_sdk_server.py), no command run."""
    with tempfile.TemporaryDirectory() as scratch:
        tools = Path(scratch) / "tools.json"
        wire = listed.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[attr-defined]
        tools.write_text(json.dumps({"instructions": None, "tools": wire["tools"]}))
        params = StdioServerParameters(command=sys.executable, args=[bench_startup.REFERENCE, str(tools)])
        times = []
        async with Client(params) as reference:
            for _ in range(n + 1):
                started = time.perf_counter()
                result = await reference.call_tool("exec", {"sandbox": "bench", "command": "bench-2mib"})
                times.append(time.perf_counter() - started)
                assert not result.is_error and len((result.structured_content or {})["stdout"]) == MIB
        return times[1:]  # the first lists the tools for the output schema


def sdk_create_ready(client: docker.DockerClient) -> tuple[float, float]:
    """The same sandbox by hand: docker run of the sandbox image with the standard profile's flags
    and the storage volume, then poll the nested engine's /version as the sandbox proper's root.
    Returns (seconds to ready, of which seconds in `docker run`). Raises TimeoutError after 180 s."""
    name = f"bench-direct-{secrets.token_hex(3)}"
    volume = client.volumes.create(name, labels=ownership.owner_labels(SCOPE))
    profile = runtime_profile("standard")
    started = time.perf_counter()
    container = client.containers.run(
        IMAGE,
        name=name,
        labels=ownership.owner_labels(SCOPE),
        detach=True,
        cap_add=list(profile.cap_add),
        security_opt=list(profile.security_opt),
        cgroupns="private",
        volumes={volume.name: {"bind": SANDBOX_STORAGE, "mode": "rw"}},
        nano_cpus=1_000_000_000,
        mem_limit="1g",
    )
    ran = time.perf_counter() - started
    try:
        probe = ["curl", "-sf", "--unix-socket", ENGINE_SOCKETS["docker"], "http://localhost/version"]
        while container.exec_run(probe, user=PROPER_ROOT).exit_code != 0:
            if time.perf_counter() - started > 180:
                raise TimeoutError(f"{IMAGE} by hand: its engine did not answer in 180 s")
            time.sleep(0.1)
        return time.perf_counter() - started, ran
    finally:
        container.remove(force=True, v=True)
        volume.remove(force=True)


async def main(starts: int, execs: int, results: int, creates: int, shared: int, shared_image: str) -> None:
    if starts:
        bench_startup.run(starts)
        print()
    client = docker.from_env()
    api = client.api
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")}
    env["MANYOYO_AUDIT_DIR"] = tempfile.mkdtemp(prefix="manyoyo-bench-audit-")
    env.update({k: v for k, v in os.environ.items() if k == "MANYOYO_SANDBOX_IMAGE"})  # an image under test
    server_log = Path(env["MANYOYO_AUDIT_DIR"]) / "server.log"  # (its stderr: the creates' phases)
    params = StdioServerParameters(
        command="/bin/sh", args=["-c", REDIRECT, "sh", str(server_log), SERVER, "serve", "--scope", SCOPE], env=env
    )
    async with Client(params) as mcp:
        pid = server_pid()
        idle_rss, _ = memory_mib(pid)

        create_ours: list[float] = []
        create_direct: list[float] = []
        create_direct_run: list[float] = []
        for _ in range(creates):
            name = f"bench-{secrets.token_hex(3)}"
            started = time.perf_counter()
            result = await mcp.call_tool("create_sandbox", {"name": name, "cpus": 1, "memory": "1g"})
            create_ours.append(time.perf_counter() - started)
            assert not result.is_error, result.content
            await mcp.call_tool("remove_sandbox", {"sandbox": name})
            total, ran = await anyio.to_thread.run_sync(sdk_create_ready, client)
            create_direct.append(total)
            create_direct_run.append(ran)

        name = f"bench-{secrets.token_hex(3)}"
        created = await mcp.call_tool("create_sandbox", {"name": name, "cpus": 1, "memory": "1g"})
        container_id = (created.structured_content or {})["id"]
        for _ in range(3):  # warm both paths
            await mcp.call_tool("exec", {"sandbox": name, "command": ["true"]})
            sdk_exec(api, container_id)
        exec_ours, exec_direct, daemon = await exec_rows(mcp, api, name, container_id, execs)

        result_ours: list[float] = []
        result_service: list[float] = []
        result_direct: list[float] = []
        sizes = (0, 0)
        engine = Engine(None)
        _, state, _ = engine.exec_run(container_id, ["cat", STATE_FILE])
        entry = Entry(parse_state(state))  # how the server enters the sandbox proper (crun exec)
        for _ in range(results):
            started = time.perf_counter()
            result = await mcp.call_tool("exec", {"sandbox": name, "command": TWO_MIB})
            result_ours.append(time.perf_counter() - started)
            data = result.structured_content or {}
            assert not result.is_error and (data["stdout_bytes"], data["stderr_bytes"]) == (MIB, MIB), result
            sizes = message_size(result)
            started = time.perf_counter()
            await run_exec(engine, container_id, entry, ExecRequest(command=TWO_MIB), MIB)
            result_service.append(time.perf_counter() - started)
            command = ["sh", "-c", TWO_MIB]
            result_direct.append(await anyio.to_thread.run_sync(sdk_output, api, container_id, command))
        engine.close()
        floor = await delivery_floor(await mcp.list_tools(), results)
        create_warm = await warm_creates(env, server_log.with_name("warm-server.log"), creates) if creates else []

        started = time.perf_counter()
        big = await mcp.call_tool(
            "exec", {"sandbox": name, "command": "head -c 100000000 /dev/zero | tr '\\0' y", "timeout_s": 300}
        )
        big_s = time.perf_counter() - started
        rss, peak = memory_mib(pid)
        await mcp.call_tool("remove_sandbox", {"sandbox": name})

    print(f"manyoyo-mcp benchmark ({execs} execs, {results} 2 MiB results, {creates} creates; times in ms)")
    print(f"{'':<34} {'ours p50':>9} {'ours p95':>9} {'sdk p50':>9} {'sdk p95':>9} {'ratio':>8}")
    row("exec round-trip (`true`, sandboxd)", exec_ours, exec_direct)
    row("  one sandboxd request vs raw exec", daemon, exec_direct)
    row("exec result of 2 MiB, end to end", result_ours, result_direct)
    row("  crun exec path alone (no MCP)", result_service, result_direct)
    if results:
        print("  (through the tool, 2 MiB written stays in the sandbox's output files; the result holds the budget)")
        print(f"  (a bare SDK server delivering a canned 2 MiB result: p50 {percentile(floor, 0.5) * 1000:.1f} ms)")
        wire, text = (size / 1e6 for size in sizes)
        print(f"2 MiB-output result message: {wire:.3f} MB on the wire, of which text blocks {text:.3f} MB")
    row("sandbox create to nested-ready", create_ours, create_direct)
    row("sandbox create from the warm pool", create_warm, create_direct)
    create_phases(server_log, create_direct, create_direct_run)
    mb_s = 100 / big_s
    print(f"exec of 100 MB output: {big_s:.2f}s ({mb_s:.0f} MB/s), truncated={big.structured_content['truncated']}")
    print(f"server memory: idle {idle_rss:.1f} MiB, now {rss:.1f} MiB, peak {peak:.1f} MiB")
    with tempfile.TemporaryDirectory() as synced, tempfile.TemporaryDirectory() as unsynced:
        row(
            "audit record, fsync vs unsynced",
            audit_appends(Path(synced), True, 200),
            audit_appends(Path(unsynced), False, 200),
        )
    print(
        "(each call writes 3 records: arrival, decision, outcome; one fsync, with the decision, before the call acts)"
    )
    row("mask 5 secrets, 2 MiB, vs json", *result_masking(50))
    client.close()
    if shared:
        print()
        await bench_images.run(env, server_log.with_name("images-server.log"), SCOPE, SERVER, shared_image, shared)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--execs", type=int, default=50)
    parser.add_argument("--results", type=int, default=10)
    parser.add_argument("--creates", type=int, default=3)
    parser.add_argument("--shared", type=int, default=3)
    parser.add_argument("--shared-image", default="manyoyo-base:trixie")
    args = parser.parse_args()
    anyio.run(main, args.starts, args.execs, args.results, args.creates, args.shared, args.shared_image)
