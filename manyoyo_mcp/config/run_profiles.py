"""Run profiles: MANYOYO's `runs.<name>` and `run/<name>.json`, what a sandbox and the agent in it
are made from.

Field names are MANYOYO's (camelCase in files); a few additions of this server (engine and
limits) sit beside them. A profile here is already merged from its sources (see loader.py). The
top-level keys of the configuration files form one more profile, the implicit default
(IMPLICIT_RUN), used when a call names no profile and the operator set no default_run.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from manyoyo_mcp.config.env_files import ENV_KEY, read_env_file
from manyoyo_mcp.egress import NetworkChoice

InnerEngine = Literal["docker", "podman"]
MODE_ALIASES = {
    "dind": "dind", "d": "dind", "docker-in-docker": "dind",
    "sock": "sock", "s": "sock", "mount-docker-socket": "sock",
    "common": "common",
}  # fmt: skip
# Sandbox names (create_sandbox's `name`, a profile's containerName): engine-safe, lower case.
SANDBOX_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
SANDBOX_NAME_RULE = "1-40 characters: lowercase ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
# The implicit default profile's name, as results and listings show it (no profile may take it).
IMPLICIT_RUN = "(top-level)"
_PORT = re.compile(
    r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<host>\d{1,5})?:)?(?P<port>\d{1,5})(?:/(?P<proto>tcp|udp))?$"
)


# Fields the loader fills in: no configuration file may set them by their name.
INTERNAL_FIELDS = frozenset({"project_env", "project_env_file", "granted_volumes"})


class RunProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    container_name: str | None = Field(None, alias="containerName")
    """Sandbox name; `{now}` becomes the month, day, hour and minute (MMDD-HHMM)."""
    host_path: str | None = Field(None, alias="hostPath")
    """Host folder mounted into the sandbox (the workspace); judged like create_sandbox's workspace."""
    container_path: str | None = Field(None, alias="containerPath")
    """Where the workspace is mounted inside the sandbox (default /workspace); commands start there."""
    image_name: str | None = Field(None, alias="imageName")
    image_version: str | None = Field(None, alias="imageVersion")
    container_mode: Literal["dind", "sock"] | None = Field(None, alias="containerMode")
    engine: InnerEngine | None = None
    env_file: tuple[str, ...] = Field((), alias="envFile")
    """Env files, absolute once loaded (see env_files.env_file_path)."""
    env: dict[str, str] = Field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    """Extra host folders, "host:container[:ro]"; each host folder is judged like a workspace."""
    ports: tuple[str, ...] = ()
    """Sandbox ports published on the host, "[ip:][hostPort:]port[/proto]"; ip defaults to 127.0.0.1."""
    yolo: str | None = None
    """The agent (name or alias) launch_agent runs with its permission prompts skipped."""
    shell_prefix: str | None = Field(None, alias="shellPrefix")
    """Before the agent's command: `KEY=VALUE` words become its environment."""
    shell: str | None = None
    """The command when no `yolo` agent is set (launch_agent then needs `agent`)."""
    shell_suffix: str | None = Field(None, alias="shellSuffix")
    """Arguments added to the agent's command (before the prompt)."""
    project_env: dict[str, str] = Field(default_factory=dict)
    """The project file's env map: it may add variables, never replace the operator's (a project
    could otherwise point ANTHROPIC_BASE_URL elsewhere and collect the operator's key)."""
    project_env_file: tuple[str, ...] = ()
    """The project file's env files (inside the project), below the operator's in the same way."""
    granted_volumes: dict[str, str] = Field(default_factory=dict)
    """Read-only volumes written in the operator's own files (the user file, run/<name>.json), each
    with that file: the only volumes that may mount a credential folder (policy rule
    host.credential-grant). Filled by the loader, never by a key of a file."""
    first: str | None = None
    """A shell command run once in a new sandbox before anything else (e.g. installing tools)."""
    network: NetworkChoice | None = None
    """The sandbox's egress: a mode (none, allowlist, public) or {mode, allow}; judged like
    create_sandbox's `network` (it may only narrow the operator's ceiling). This server's key."""
    cpus: float | None = Field(None, gt=0)
    memory: str | None = None
    pids: int | None = Field(None, ge=64)
    disk: str | None = None
    """The sandbox's disk quota, e.g. '20g' (within the operator's ceiling)."""

    @field_validator("env", "project_env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not ENV_KEY.fullmatch(key):
                raise ValueError(f"{key!r} is not a variable name (letters, digits and '_', not starting with a digit)")
        return env

    @field_validator("container_path")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        if path is not None and not path.startswith("/"):
            raise ValueError(f"{path!r} must be an absolute path inside the sandbox")
        return path

    @field_validator("volumes")
    @classmethod
    def _volumes(cls, volumes: tuple[str, ...]) -> tuple[str, ...]:
        for volume in volumes:
            parse_volume(volume)
        return volumes

    @field_validator("ports")
    @classmethod
    def _ports(cls, ports: tuple[str, ...]) -> tuple[str, ...]:
        for port in ports:
            parse_port(port)
        return ports

    def sandbox_name(self, now: datetime | None = None) -> str | None:
        if self.container_name is None:
            return None
        return self.container_name.replace("{now}", (now or datetime.now()).strftime("%m%d-%H%M"))

    def image(self) -> str | None:
        if self.image_name is None:
            return None
        return f"{self.image_name}:{self.image_version}" if self.image_version else self.image_name

    def environment(self) -> dict[str, str]:
        """Env files in order, then the env map (later wins): MANYOYO's order, with the project
        file's below the operator's. The files are read now, so an edited env file takes effect
        without restarting the server."""
        values: dict[str, str] = {}
        for path in self.project_env_file:
            values.update(read_env_file(Path(path)))
        values.update(self.project_env)
        for path in self.env_file:
            values.update(read_env_file(Path(path)))
        return {**values, **self.env}

    def prefix(self) -> tuple[dict[str, str], list[str]]:
        """shellPrefix split into leading KEY=VALUE assignments and the words after them."""
        words = shlex.split(self.shell_prefix or "")
        env: dict[str, str] = {}
        while words and "=" in words[0] and ENV_KEY.fullmatch(words[0].split("=", 1)[0]):
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        return env, words

    def suffix(self) -> tuple[str, ...]:
        return tuple(shlex.split(self.shell_suffix or ""))


def profile_where(name: str) -> str:
    """How messages name a profile: runs.<name>, or the top-level keys for the implicit default."""
    return "top-level keys" if name == IMPLICIT_RUN else f"runs.{name}"


def looks_like_path(name: str) -> bool:
    """Whether a profile reference is a file path (MANYOYO's `-r ./myproject/.manyoyo.json`)
    rather than a name: such a reference is refused from an agent (it could point at a file it
    wrote), and the operator's project file is read from the project folder instead."""
    return (
        any(sep in name for sep in ("/", "\\"))
        or name.startswith(("~", "."))
        or name.lower().endswith((".json", ".json5"))
    )


def parse_volume(spec: str) -> tuple[str, str, bool]:
    """(host path, sandbox path, read-only) of "host:container[:ro|rw]"."""
    parts = spec.split(":")
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        host, target, read_only = parts[0], parts[1], parts[2] == "ro"
    elif len(parts) == 2:
        host, target, read_only = parts[0], parts[1], False
    else:
        raise ValueError(f"volume {spec!r} is not host_path:container_path[:ro]")
    if not host or not target.startswith("/"):
        raise ValueError(f"volume {spec!r} needs a host path and an absolute path inside the sandbox")
    return host, target, read_only


def parse_port(spec: str) -> tuple[str, int | None, int, str]:
    """(host ip, host port or None for any, sandbox port, protocol) of a --publish style string."""
    match = _PORT.match(spec.strip())
    if match is None:
        raise ValueError(f"port {spec!r} is not [ip:][host_port:]port[/tcp|udp]")
    host = int(match["host"]) if match["host"] else None
    port = int(match["port"])
    if not 0 < port < 65536 or (host is not None and not 0 < host < 65536):
        raise ValueError(f"port {spec!r} is out of range (1-65535)")
    return match["ip"] or "127.0.0.1", host, port, match["proto"] or "tcp"
