"""Benchmark part: N podman sandboxes using one host image, through the shared image store
(MANYOYO_SHARED_IMAGES=1, the default) against a copy into each (=0: what every sandbox paid
before the store, and what docker sandboxes still pay). Both through the real server over stdio.

Per way: the first load_image, the later ones (p50), all N together, and the disk: each
sandbox's own podman storage (du inside it) and, for the store, the store's volume once.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

from manyoyo_mcp.sandbox import ownership
from manyoyo_mcp.sandbox.layout import IMAGE_STORE

REDIRECT = 'log=$1; shift; exec "$@" 2>>"$log"'  # sh -c: a server's stderr into a file (as bench.py)
PROPER = ["crun", "--root", "/run/manyoyo/crun", "exec", "inner"]  # as the proper's root (tests/helpers.py)


def _kib(container: str, path: str) -> int:
    done = subprocess.run(["docker", "exec", container, *PROPER, "du", "-sk", path], capture_output=True, check=True)
    return int(done.stdout.split()[0])


async def _one_way(params: StdioServerParameters, scope: str, image: str, n: int, shared: bool) -> dict[str, float]:
    names = [f"bench-img-{secrets.token_hex(3)}" for _ in range(n)]
    containers = [ownership.container_name(scope, name) for name in names]
    loads: list[float] = []
    async with Client(params) as mcp:
        try:
            for name in names:
                asked = {"name": name, "engine": "podman", "memory": "1g", "disk": "2g"}
                made = await mcp.call_tool("create_sandbox", asked)
                assert not made.is_error, made.content
            for name in names:
                started = time.perf_counter()
                loaded = await mcp.call_tool("load_image", {"sandbox": name, "image": image, "timeout_s": 600})
                loads.append(time.perf_counter() - started)
                data = loaded.structured_content or {}
                assert not loaded.is_error and data["shared"] is shared, loaded.content
            own = [_kib(c, "/var/lib/containers/storage") / 1024 for c in containers]
            store = _kib(containers[0], IMAGE_STORE) / 1024 if shared else 0.0
        finally:
            for name in names:
                await mcp.call_tool("remove_sandbox", {"sandbox": name})
    later = sorted(loads[1:]) or [0.0]
    return {
        "first": loads[0],
        "later": later[len(later) // 2],
        "total": sum(loads),
        "own": sum(own) / n,
        "all": sum(own) + store,
    }


async def run(env: dict[str, str], server_log: Path, scope: str, server: str, image: str, n: int) -> None:
    """Print the table for `n` sandboxes and host `image` (servers' stderr into `server_log`)."""
    figures = {}
    try:
        for shared in (True, False):
            way = {**env, "MANYOYO_SHARED_IMAGES": "1" if shared else "0", "MANYOYO_LOADABLE_IMAGES": image}
            argv = ["-c", REDIRECT, "sh", str(server_log), server, "serve", "--scope", scope]
            params = StdioServerParameters(command="/bin/sh", args=argv, env=way)
            figures[shared] = await _one_way(params, scope, image, n, shared)
    finally:
        subprocess.run(["docker", "volume", "rm", ownership.image_store_volume(scope)], capture_output=True)
    inspected = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", image], capture_output=True, text=True)
    size = int(inspected.stdout) / 1e6
    print(f"{n} podman sandboxes loading one image ({image}, {size:.0f} MB): shared store vs a copy each")
    print(f"{'':<34} {'shared':>9} {'copied':>9} {'ratio':>8}")
    rows = (
        ("first load_image (s)", "first"),
        ("each later load_image, p50 (s)", "later"),
        (f"all {n} loads (s)", "total"),
        ("own disk per sandbox (MiB)", "own"),
        (f"disk for all {n}, with the store (MiB)", "all"),
    )
    for label, key in rows:
        ours, theirs = figures[True][key], figures[False][key]
        ratio = f"{ours / theirs:>7.2f}x" if theirs else ""
        print(f"{label:<34} {ours:>9.2f} {theirs:>9.2f} {ratio}")
