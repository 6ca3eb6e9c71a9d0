"""The VM test host (scripts/vm/): a Debian 12 guest whose Docker engine (20.10, cgroup v2,
``--privileged`` allowed) is reached from the host only at ``tcp://127.0.0.1:PORT``.

``ensure_vm()`` builds the guest's disk (or reuses the cached one) with images of the host's engine
preloaded, boots it (or reuses the running VM) and returns its DOCKER_HOST; ``guest_run()`` runs a
command in the guest as root. The scripts need root; the first build takes a few minutes, a warm
start about a minute under software emulation. Standard library only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from manyoyo_mcp.config.settings import DEFAULT_IMAGE

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "vm"
IMAGES = (DEFAULT_IMAGE, "manyoyo-busybox:latest")
"""The host's images preloaded into the guest's engine by default."""


class VMHostError(RuntimeError):
    """A script of scripts/vm/ failed; the message ends with what it logged."""


def _script(name: str, *args: str, timeout: float) -> str:
    try:
        done = subprocess.run(
            [str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise VMHostError(f"scripts/vm/{name} did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        log = "\n".join(done.stderr.splitlines()[-30:])
        raise VMHostError(f"scripts/vm/{name} {' '.join(args)} failed (exit {done.returncode}):\n{log}")
    return done.stdout


def ensure_vm(images: Sequence[str] = IMAGES, *, replace: bool = True, timeout: float = 1800) -> str:
    """Make sure the VM runs with ``images`` preloaded and its engine answers; return its DOCKER_HOST.

    Reuses the cached disk and a VM already running from it. A VM running from another disk (other
    images, or older ones) is stopped and booted again from the right one when ``replace`` is true.
    """
    image_args = [arg for image in images for arg in ("--image", image)]
    _script("build", *image_args, timeout=timeout)
    out = _script("up", *(["--replace"] if replace else []), timeout=timeout)
    for line in out.splitlines():
        if line.startswith("DOCKER_HOST="):
            return line.removeprefix("DOCKER_HOST=")
    raise VMHostError(f"scripts/vm/up printed no DOCKER_HOST: {out!r}")


def guest_run(
    *command: str, input: str | None = None, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (argv, not a shell line) in the guest as root; its exit status, stdout, stderr."""
    done = subprocess.run(
        [str(SCRIPTS / "exec"), "--", *command],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise VMHostError(f"{command!r} failed in the guest (exit {done.returncode}): {done.stderr.strip()}")
    return done


def stop_vm(timeout: float = 120) -> None:
    """Stop the VM and discard what it wrote (the cached disk stays)."""
    _script("down", timeout=timeout)
