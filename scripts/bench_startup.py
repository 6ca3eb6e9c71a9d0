"""Start-up benchmark: how long a client waits, from spawning `manyoyo-mcp serve`, for the answer
to `initialize` and then to `tools/list`, against a bare MCP SDK server listing the same tools
(scripts/bench_sdk_server.py), both spawned alternately in the same run over raw stdio pipes.

Also the phases of our start as the server logs them (server/startup.py) and, from
`python -X importtime`, which packages the imports went to. Used by scripts/bench.py; run alone:
`.venv/bin/python scripts/bench_startup.py [--starts N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent
SERVER = str(Path(sys.executable).with_name("manyoyo-mcp"))
REFERENCE = str(HERE / "bench_sdk_server.py")
PROTOCOL = "2025-11-25"  # the handshake era (Claude Code, the Inspector)
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}
LIST = [{"jsonrpc": "2.0", "method": "notifications/initialized"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
PHASES = re.compile(r"ready to read messages after (\d+) ms: (.*)$", re.M)
PHASE = re.compile(r"(.+?) (\d+) ms$")
# Import time is charged to the nearest enclosing module of one of these packages.
GROUPS = {
    "mcp": "MCP SDK (mcp, mcp_types, starlette, ...)",
    "mcp_types": "MCP SDK (mcp, mcp_types, starlette, ...)",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "docker": "docker SDK (docker, requests, urllib3)",
    "requests": "docker SDK (docker, requests, urllib3)",
    "urllib3": "docker SDK (docker, requests, urllib3)",
    "manyoyo_mcp": "manyoyo_mcp (ours)",
    "json5": "json5",
}


def environment(audit_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")}
    env["MANYOYO_AUDIT_DIR"] = audit_dir
    return env


def send(process: subprocess.Popen[bytes], *messages: dict) -> None:
    assert process.stdin is not None
    process.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    process.stdin.flush()


def answer(process: subprocess.Popen[bytes]) -> dict:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the server exited before answering")
    return json.loads(line)


def one_start(argv: list[str], env: dict[str, str]) -> tuple[float, float, dict, dict, str]:
    """Spawn, then time the initialize and the tools/list round trips (seconds since the spawn)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=env)
        try:
            send(process, INITIALIZE)
            initialized = answer(process)
            initialize_s = time.perf_counter() - started
            send(process, *LIST)
            listed = answer(process)
            listed_s = time.perf_counter() - started
        finally:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=30)
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
    if "result" not in initialized or "result" not in listed:
        raise RuntimeError(f"unexpected answer: {initialized} {listed}\n{stderr[-2000:]}")
    return initialize_s, listed_s, initialized["result"], listed["result"], stderr


def phases_of(stderr: str) -> dict[str, float]:
    found = PHASES.search(stderr)
    if found is None:
        return {}
    phases = {name: int(ms) / 1000 for name, ms in (PHASE.match(p).groups() for p in found.group(2).split(", "))}
    return {**phases, "(total before reading messages)": int(found.group(1)) / 1000}


def import_breakdown(env: dict[str, str], runs: int = 3) -> dict[str, float]:
    """Seconds of import time per package group (`-X importtime`, inflated by its own overhead)."""
    totals: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        argv = [sys.executable, "-X", "importtime", "-m", "manyoyo_mcp", "serve"]
        _, _, _, _, stderr = one_start(argv, env)
        groups: dict[str, float] = defaultdict(float)
        stack: list[tuple[int, str]] = []  # (depth, module) of the lines still open, innermost last
        # importtime prints a module after its imports: read bottom-up to see each parent first.
        for line in reversed(stderr.splitlines()):
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = line.removeprefix("import time:").split("|")
            depth = (len(name) - len(name.lstrip())) // 2
            module = name.strip()
            while stack and stack[-1][0] >= depth:
                stack.pop()
            stack.append((depth, module))
            group = next(
                (GROUPS[m.split(".")[0]] for _, m in reversed(stack) if m.split(".")[0] in GROUPS),
                "interpreter and standard library",
            )
            groups[group] += int(self_us) / 1e6
        for group, seconds in groups.items():
            totals[group].append(seconds)
    return {group: sorted(values)[len(values) // 2] for group, values in totals.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(label: str, ours: list[float], theirs: list[float]) -> None:
    p50o, p95o, p50t, p95t = (percentile(v, q) * 1000 for v in (ours, theirs) for q in (0.5, 0.95))
    print(f"{label:<34} {p50o:>9.1f} {p95o:>9.1f} {p50t:>9.1f} {p95t:>9.1f} {p50o / p50t:>7.2f}x")


def run(starts: int) -> None:
    with tempfile.TemporaryDirectory(prefix="manyoyo-bench-start-") as scratch:
        env = environment(str(Path(scratch) / "audit"))
        ours = [SERVER, "serve", "--scope", "bench"]
        _, _, initialized, listed, _ = one_start(ours, env)  # warm the file cache; capture what we list
        captured = Path(scratch) / "tools.json"
        captured.write_text(json.dumps({"instructions": initialized.get("instructions"), "tools": listed["tools"]}))
        reference = [sys.executable, REFERENCE, str(captured)]
        one_start(reference, env)
        results: dict[str, list[float]] = defaultdict(list)
        phases: dict[str, list[float]] = defaultdict(list)
        for _ in range(starts):  # alternated, so that load from elsewhere falls on both
            init_s, list_s, _, _, stderr = one_start(ours, env)
            results["ours init"].append(init_s)
            results["ours list"].append(list_s)
            for name, seconds in phases_of(stderr).items():
                phases[name].append(seconds)
            init_s, list_s, _, _, _ = one_start(reference, env)
            results["sdk init"].append(init_s)
            results["sdk list"].append(list_s)
        imports = import_breakdown(env)
    print(f"start-up, spawn to answer ({starts} starts each, alternated; reference: a bare SDK server, same tools)")
    row("initialize answered", results["ours init"], results["sdk init"])
    row("tools/list answered", results["ours list"], results["sdk list"])
    print("our phases before reading messages (p50 ms, as `serve` logs them):")
    for name, values in phases.items():
        print(f"  {name:<40} {percentile(values, 0.5) * 1000:>7.0f}")
    print("imports by package (ms, python -X importtime, median of 3; inflated by its own overhead):")
    for group, seconds in sorted(imports.items(), key=lambda item: -item[1]):
        print(f"  {group:<40} {seconds * 1000:>7.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=20)
    run(parser.parse_args().starts)
