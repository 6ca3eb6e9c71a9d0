"""The VM test host (scripts/vm/): a Debian 12 guest whose Docker engine (20.10, cgroup v2,
``--privileged`` allowed) is reached from the host only at ``tcp://127.0.0.1:PORT``.

``ensure_vm()`` builds the guest's disk (or reuses the cached one) with images of the host's engine
preloaded, boots it (or reuses the running VM) and returns its DOCKER_HOST; ``guest_run()`` runs a
command in the guest as root. The scripts need root; the first build takes a few minutes, a warm
start about a minute under software emulation. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from manyoyo_mcp.config.settings import DEFAULT_IMAGE

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "vm"
IMAGES = (os.environ.get("MANYOYO_SANDBOX_IMAGE") or DEFAULT_IMAGE, "manyoyo-busybox:latest")
"""The host's images preloaded into the guest's engine by default (the sandbox image under test)."""


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


# The guest's canaries: things of the engine's host that no sandbox should reach. The guest has no
# Python; perl (Debian's perl-base, always there) holds the key, the loopback port and the process.
_CANARY_SETUP = r"""
set -e
t=$1
printf '%s\n' "$t" > "/tmp/$t"
mkdir "/tmp/$t.d" && printf '%s\n' "$t" > "/tmp/$t.d/$t"
truncate -s 8M "/tmp/$t.img" && mkfs.ext4 -q -F -d "/tmp/$t.d" "/tmp/$t.img"
losetup --find --show "/tmp/$t.img" > "/tmp/$t.loop"
setsid perl -MIO::Socket::INET -e '
    my ($t) = @ARGV;
    my ($type, $description, $secret) = ("user", "$t-key", "$t-secret");
    my $key = syscall(248, $type, $description, $secret, length $secret, -4);  # add_key, x86_64
    die "add_key: $!\n" if $key < 0;
    my $listener = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 8, ReuseAddr => 1)
        or die "listen: $!\n";
    print $listener->sockport, " $key $$\n";
    close STDOUT;
    while (my $connection = $listener->accept) { print $connection "$t-port\n"; close $connection; }
' "$t" "$t-process" </dev/null >"/tmp/$t.state" 2>"/tmp/$t.err" &
for _ in $(seq 1 100); do [ -s "/tmp/$t.state" ] && break; sleep 0.2; done
[ -s "/tmp/$t.state" ] || { cat "/tmp/$t.err" >&2; exit 1; }
cat "/tmp/$t.state"
ip -o -4 addr show | awk '$2 != "lo" { sub("/.*", "", $4); print $4 }' | tr '\n' ' '
"""
_CANARY_TEARDOWN = r"""
t=$1
read -r port key pid < "/tmp/$t.state"
kill "$pid" 2>/dev/null
perl -e 'syscall(250, 21, $ARGV[0] + 0)' "$key"  # keyctl(KEYCTL_INVALIDATE, key)
losetup --detach "$(cat "/tmp/$t.loop")"
rm -rf "/tmp/$t" "/tmp/$t.d" "/tmp/$t.img" "/tmp/$t.loop" "/tmp/$t.state" "/tmp/$t.err"
"""


@dataclass(frozen=True, slots=True)
class GuestCanaries:
    """In the guest: a file in /tmp named `token` holding it, a process with "<token>-process" in
    its arguments, "<token>-key" = "<token>-secret" in root's user keyring, a port on the guest's
    loopback answering "<token>-port", and a loop device on an ext4 image holding the token."""

    token: str
    file: str
    port: int
    addresses: tuple[str, ...]
    """The guest's own IPv4 addresses (its uplink's, its bridges'): where its containers reach it."""


@contextlib.contextmanager
def guest_canaries() -> Iterator[GuestCanaries]:
    """The guest's canaries (the VM runs), removed at the end."""
    token = f"manyoyo-canary-{secrets.token_hex(4)}"
    out = guest_run("sh", "-c", _CANARY_SETUP, "setup", token, timeout=120).stdout.splitlines()
    try:
        port = int(out[0].split()[0])
        yield GuestCanaries(token, f"/tmp/{token}", port, tuple(out[1].split()) if len(out) > 1 else ())
    finally:
        guest_run("sh", "-c", _CANARY_TEARDOWN, "teardown", token, timeout=120)


def vm_status(timeout: float = 60) -> str:
    """scripts/vm/status's report (its setup time from nothing included)."""
    done = subprocess.run([str(SCRIPTS / "status")], capture_output=True, text=True, timeout=timeout, check=False)
    return done.stdout
