"""Whether a sandbox's own engine answers: waiting for it, and reviving it when it stops answering.

A dind sandbox's engine is run by a supervisor inside the sandbox proper (inner-init's
`supervise`): restarted whenever it dies, backing off up to 30 s while it keeps dying. When a
call finds the engine not answering, the server looks inside, as the sandbox proper's root
(`_REVIVE`), and acts on what it finds: an engine that is stopped (SIGSTOP) or has not answered
for long after its start is killed; a supervisor waiting out its back-off is asked to restart
the engine now (SIGUSR1); a supervisor that is gone (the agent killed it) is started again.
Then it waits until the engine answers and says what happened (`EngineReport.story`).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from manyoyo_mcp.errors import EngineFailure, NestedEngineDown, NestedEngineLost, ObjectNotFound, SandboxNotReady
from manyoyo_mcp.sandbox.inside import CRUN, PROPER, PROPER_ROOT, ROOT, Entry
from manyoyo_mcp.sandbox.layout import ENGINE_LOG, ENGINE_SOCKETS, SOCK_MODE_SOCKET
from manyoyo_mcp.sandbox.view import Sandbox
from manyoyo_mcp.threads import in_thread

if TYPE_CHECKING:
    from manyoyo_mcp.engine import Engine

POLL_S = 0.1
WAIT_WINDOW_S = 20
"""At most this long one exec waits inside the sandbox for its engine (under the engine API's
control timeout, engine/connection.py)."""
_WINDOW_ENDED = 75
# $1 = seconds to try for, $2 = the engine's socket. Prints the engine's /version and exits 0 once
# it answers; exits 75 when the time is up. 10 s a try: an emulated host (the VM tests) takes
# seconds to answer one request. Between tries a pause of twice the try's own time (POLL_S to
# 5 s): where a process costs much CPU (emulation), back-to-back tries would starve the engine
# that is starting.
_WAIT = f"""
end=$(( $(date +%s) + $1 ))
while :; do
    began=$(date +%s%N)
    curl -sf --max-time 10 --unix-socket "$2" http://localhost/version && exit 0
    [ "$(date +%s)" -lt "$end" ] || exit {_WINDOW_ENDED}
    pause=$(( ($(date +%s%N) - began) / 500000 ))
    [ "$pause" -ge {int(POLL_S * 1000)} ] || pause={int(POLL_S * 1000)}
    [ "$pause" -le 5000 ] || pause=5000
    sleep "$(( pause / 1000 )).$(printf %03d $(( pause % 1000 )))"
done
"""
STUCK_AFTER_S = 60
"""An engine process this old that does not answer /_ping within PING_S is stuck, not starting."""
PING_S = 5

# $1 = the engine (docker or podman), $2 = check or revive. Prints what it finds, one key=value
# a line, then what it did (did=...). Runs in the sandbox proper as its root.
_REVIVE = r"""
state=/run/manyoyo/shared engine=$1
status() {  # running, stopped (SIGSTOP, traced) or gone
    case $(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) in
        T|t) echo stopped ;; ""|Z|X) echo gone ;; *) echo running ;;
    esac
}
pid=$(cat "$state/engine.pid" 2>/dev/null)
grep -qsx 'dockerd\|podman' "/proc/$pid/comm" || pid=0
supervisor=$(cat "$state/supervisor.pid" 2>/dev/null)
tr '\0' ' ' < "/proc/$supervisor/cmdline" 2>/dev/null | grep -q 'inner-init supervise' || supervisor=0
engine_state=$(status "$pid") supervisor_state=$(status "$supervisor")
answers=no
curl -sf --max-time PING_S --unix-socket "$state/$engine.sock" http://localhost/_ping >/dev/null && answers=yes
age=$(( $(date +%s) - $(cat "$state/engine.started" 2>/dev/null || echo 0) ))
echo "engine=$engine_state"; echo "supervisor=$supervisor_state"; echo "answers=$answers"; echo "age=$age"
echo "restarts=$(cat "$state/engine.restarts" 2>/dev/null || echo 0)"
[ "$answers" = yes ] || [ "$2" = check ] && exit 0
if [ "$engine_state" = stopped ] || { [ "$engine_state" = running ] && [ "$age" -ge STUCK_AFTER_S ]; }; then
    kill -KILL "$pid" && echo did=killed-engine
fi
if [ "$supervisor_state" = running ]; then
    kill -USR1 "$supervisor" && echo did=asked-supervisor
else
    [ "$supervisor_state" = stopped ] && kill -KILL "$supervisor"
    setsid -f /usr/local/lib/manyoyo/inner-init supervise </dev/null >/dev/null 2>&1 && echo did=started-supervisor
fi
""".replace("PING_S", str(PING_S)).replace("STUCK_AFTER_S", str(STUCK_AFTER_S))


@dataclass(frozen=True, slots=True)
class EngineReport:
    """What the server found of a sandbox's engine, and what it did about it."""

    kind: str
    engine: str = "gone"
    """running, stopped or gone: the engine's process."""
    supervisor: str = "gone"
    """running, stopped or gone: inner-init's `supervise`, which restarts the engine."""
    answers: bool = False
    age_s: int = 0
    """Seconds since the engine was last started."""
    restarts: int = 0
    """How often the engine has been restarted since the sandbox started."""
    did: tuple[str, ...] = ()

    @classmethod
    def parse(cls, kind: str, text: str) -> EngineReport:
        """The revive script's output (key=value lines; `did` repeats); unknown lines are ignored."""
        values: dict[str, str] = {}
        did: list[str] = []
        for line in text.splitlines():
            key, _, value = line.strip().partition("=")
            if key == "did":
                did.append(value)
            elif key in ("engine", "supervisor", "answers", "age", "restarts"):
                values[key] = value
        return cls(
            kind=kind,
            engine=values.get("engine", "gone"),
            supervisor=values.get("supervisor", "gone"),
            answers=values.get("answers") == "yes",
            age_s=_int(values.get("age")),
            restarts=_int(values.get("restarts")),
            did=tuple(did),
        )

    def story(self) -> str:
        """What happened to the engine and what the server did, for the agent (pure)."""
        engine = f"the sandbox's {self.kind} engine"
        times = f"{self.restarts} time{'s' if self.restarts != 1 else ''}"
        restarted = f" (restarted {times} so far)" if self.restarts else ""
        if self.answers:
            return (
                f"{engine} had stopped and the sandbox's init restarted it{restarted}; it answers"
                if self.restarts
                else f"{engine} answers"
            )
        found = {
            "stopped": f"{engine} was stopped (SIGSTOP) and did not answer",
            "running": f"{engine} did not answer for {PING_S}s, {self.age_s}s after it started",
            "gone": f"{engine} was not running: it had exited{restarted}",
        }[self.engine]
        if self.engine == "running" and "killed-engine" not in self.did:
            found = f"{engine} was still starting ({self.age_s}s ago)"
        done = []
        if "killed-engine" in self.did:
            done.append("the server killed it")
        if "asked-supervisor" in self.did:
            done.append("the sandbox's init was asked to restart it at once")
        if "started-supervisor" in self.did:
            gone = "was stopped" if self.supervisor == "stopped" else "was gone"
            done.append(f"nothing was restarting it (inner-init's engine supervisor {gone}): the server started one")
        return found + ("; " + ", then ".join(done) if done else "")


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


async def revive(engine: Engine, container_id: str, entry: Entry, kind: str) -> EngineReport:
    """Look at the dind sandbox's engine and, unless it answers, get it restarted (see module)."""
    command = entry.command(["sh", "-c", _REVIVE, "revive", kind, "revive"], user=ROOT, env={})
    code, out, err = await in_thread(engine.exec_run, container_id, command.argv)
    if code != 0 and not out:
        raise SandboxNotReady(f"could not look into the sandbox's engine ({err.strip() or code})")
    return EngineReport.parse(kind, out)


async def revived(
    engine: Engine, sandbox: Sandbox, entry: Entry, lost: NestedEngineLost, timeout_s: float
) -> NestedEngineDown:
    """The error of a call that lost the running dind `sandbox`'s engine, once the server has
    looked and revived it (waiting up to `timeout_s` until it answers): what happened, what was
    done, what to do next."""
    started = time.monotonic()
    report = await revive(engine, sandbox.id, entry, sandbox.engine)
    if report.answers:
        return NestedEngineDown(f"{lost}; {report.story()} now: call the tool again")
    version = await wait_ready(engine, sandbox.id, sandbox.engine, False, timeout_s)
    if version is None:
        return NestedEngineDown(
            f"{lost}: {report.story()}; it did not answer within {timeout_s:g}s. "
            f"{await startup_log(engine, sandbox.id)}\nIf it does not recover, remove_sandbox and create it again"
        )
    return NestedEngineDown(
        f"{lost}: {report.story()}. It answers again ({sandbox.engine} {version}, "
        f"{time.monotonic() - started:.1f}s later). This call did not complete: call the tool again "
        "(list_nested shows what the engine holds now)"
    )


async def wait_ready(engine: Engine, container_id: str, kind: str, sock: bool, timeout_s: float) -> str | None:
    """Wait until the engine's API answers (GET /version on its socket): its version, or None
    after `timeout_s`. The polling runs inside the sandbox (_WAIT: a try every POLL_S within one
    exec of up to WAIT_WINDOW_S), one engine call instead of one per try; in dind mode as the
    sandbox proper's root (the socket is that user's). Raises SandboxNotReady, with the sandbox's
    log, when the sandbox stops meanwhile."""
    socket = SOCK_MODE_SOCKET if sock else ENGINE_SOCKETS[kind]
    deadline = time.monotonic() + timeout_s
    while True:
        asked = time.monotonic()
        window = min(WAIT_WINDOW_S, math.ceil(max(0.0, deadline - asked)))  # 0: one try (a probe)
        probe = ["sh", "-c", _WAIT, "wait", str(window), socket]
        try:
            code, out, _ = await in_thread(engine.exec_run, container_id, probe, None if sock else PROPER_ROOT)
        except EngineFailure as exc:  # its init ended (the container stopped), or it was removed
            with contextlib.suppress(ObjectNotFound):
                if (await in_thread(engine.inspect_container, container_id)).state == "running":
                    raise
            raise SandboxNotReady(
                f"the sandbox stopped while its engine was starting ({exc}). {await startup_log(engine, container_id)}"
            ) from exc
        if code == 0:
            try:
                return str(json.loads(out).get("Version", "unknown"))
            except ValueError:
                return "unknown"
        if time.monotonic() > deadline:
            return None
        if code != _WINDOW_ENDED:  # (the exec itself failed: no shell yet, say) a pause before the next
            await anyio.sleep(min(max(POLL_S, 2 * (time.monotonic() - asked)), 5.0))


async def startup_log(engine: Engine, container_id: str) -> str:
    """The last lines of the outer init's log (the container's) and of the nested engine's."""
    try:
        outer = await in_thread(engine.container_log_tail, container_id, 20)
    except ObjectNotFound:
        return "(the sandbox's container is gone)"
    inner = ["tail", "-n", "20", ENGINE_LOG]
    try:
        code, log, _ = await in_thread(engine.exec_run, container_id, [*CRUN, "exec", PROPER, *inner])
    except EngineFailure:  # stopped or removed
        code, log = 1, ""
    engine_part = f"Last lines of {ENGINE_LOG}:\n{log.strip()}" if code == 0 else "(the sandbox proper is not running)"
    return f"The sandbox's log ends:\n{outer.strip()}\n{engine_part}"
