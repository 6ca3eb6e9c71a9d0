"""The way into a sandbox proper.

A dind sandbox is two layers (see sandbox/image/rootfs/usr/local/lib/manyoyo/outer-init): the
outer container, whose root holds the privilege an engine needs and runs only the server's own
fixed commands, and the sandbox proper, an OCI container (crun) inside it, in a user namespace
whose root is an unprivileged uid on the host. Everything an agent asks for runs in the sandbox
proper: `command` turns an argv into the crun command that runs it there. A sock-mode sandbox has
no sandbox proper: its commands run in the container itself.

The outer init records what the server needs (the workspace owner's user, the sandbox proper's
environment, disk and network) in STATE_FILE, readable by the outer container's root only: the
sandbox proper cannot change what the server reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from manyoyo_mcp.errors import EngineFailure

STATE_FILE = "/run/manyoyo/state.json"
SHARED_DIR = "/run/manyoyo/shared"
"""A folder both layers see at this path: the nested engines' sockets, the proper's own state."""
CRUN = ("crun", "--root", "/run/manyoyo/crun")
PROPER = "inner"
"""The sandbox proper's container id, for crun."""
PROPER_ROOT = "1000000:1000000"
"""The sandbox proper's root as the host (and the outer container) sees it (image label
io.manyoyo.mcp.uid-offset). Commands that touch what the sandbox proper controls, such as its
engine's socket, run in the outer container as this unprivileged uid."""


class SandboxUser(BaseModel):
    """A user of the sandbox proper; commands run as the workspace owner's by default."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
    uid: int = Field(ge=0, lt=2**32 - 1)
    gid: int = Field(ge=0, lt=2**32 - 1)
    home_dir: str | None = None
    """The home folder the sandbox's user database gives; None: the one inner-init makes."""

    @property
    def home(self) -> str:
        if self.home_dir is not None:
            return self.home_dir
        return "/root" if self.uid == 0 else f"/home/{self.name}"


ROOT = SandboxUser(name="root", uid=0, gid=0)


class ProperState(BaseModel):
    """What the outer init wrote about the sandbox proper (STATE_FILE)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    user: SandboxUser
    env: tuple[str, ...] = ()
    """The sandbox proper's environment, KEY=VALUE (crun exec replaces it when given any)."""
    disk: dict[str, object] = Field(default_factory=dict)
    network: dict[str, object] = Field(default_factory=dict)
    cgroup: int = 1
    workdir: str = "/workspace"
    """Where commands start: the workspace's mount point (the container's working directory)."""
    workspace_idmapped: bool = False


def parse_state(text: str) -> ProperState:
    """STATE_FILE's content, validated; EngineFailure if it is not what the outer init writes."""
    try:
        return ProperState.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        raise EngineFailure(f"the sandbox's state file {STATE_FILE} is unreadable ({exc})") from exc


@dataclass(frozen=True, slots=True)
class Entry:
    """How a command enters one sandbox: through crun into its proper (`state` given), or directly
    (sock mode: `state` None, the container's own user and working directory)."""

    state: ProperState | None

    @property
    def default_user(self) -> SandboxUser:
        return self.state.user if self.state is not None else ROOT

    @property
    def owner(self) -> tuple[int, int] | None:
        """The workspace owner's (uid, gid), kept as themselves in the sandbox proper's user
        namespace beside 0-65535; None without a proper (sock mode: no user namespace)."""
        return (self.state.user.uid, self.state.user.gid) if self.state is not None else None

    def command(
        self, argv: list[str], *, user: SandboxUser | None = None, workdir: str | None = None, env: dict[str, str]
    ) -> ExecCommand:
        """What `docker exec` runs so that `argv` runs as `user` (default: the workspace owner's)
        in `workdir` (default: the workspace) with `env` added to the sandbox's environment."""
        if self.state is None:  # the container's own users, through `docker exec --user`
            return ExecCommand(list(argv), dict(env), workdir, f"{user.uid}:{user.gid}" if user else None)
        who = user or self.default_user
        environment = dict(line.split("=", 1) for line in self.state.env if "=" in line)
        environment.update(HOME=who.home, USER=who.name, LOGNAME=who.name)
        environment.update(env)
        flags = [f"--cwd={workdir or self.state.workdir}", f"--user={who.uid}:{who.gid}"]
        if self.state.cgroup == 2:  # the proper's root cgroup holds no process on v2 (see inner-init)
            flags.append("--cgroup=init")
        flags += [f"--env={key}={value}" for key, value in environment.items()]
        return ExecCommand([*CRUN, "exec", *flags, PROPER, *argv], {}, None)


@dataclass(frozen=True, slots=True)
class ExecCommand:
    """A `docker exec` as the host engine runs it: argv, environment and working directory."""

    argv: list[str]
    env: dict[str, str]
    workdir: str | None
    user: str | None = None
    """'uid:gid' for `docker exec --user` (sock mode); None: the container's root."""
