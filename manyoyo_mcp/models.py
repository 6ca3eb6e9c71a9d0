"""Tool results: the structured output an agent receives (and its schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class LimitsView(BaseModel):
    cpus: float = Field(description="CPU cores the sandbox may use.")
    memory: str = Field(description="Memory limit, e.g. '4g'.")
    memory_bytes: int
    pids: int = Field(description="Maximum number of processes.")


class DiskView(BaseModel):
    quota: str | None = Field(description="The disk quota, e.g. '8g'; null: none (writes past it fail with ENOSPC).")
    quota_bytes: int | None
    used_bytes: int | None = Field(description="Bytes in use inside the quota now; null when stopped or unknown.")
    free_bytes: int | None = Field(description="Bytes still free for writes; null when stopped or unknown.")
    note: str | None = Field(None, description="Why there is no quota or no figure, when that is the case.")


class NetworkView(BaseModel):
    mode: Literal["none", "allowlist", "public"] = Field(
        description="The sandbox's egress. none: no network. allowlist: only `allow`. public: the internet, never "
        "the host, other sandboxes, private, loopback, link-local or cloud-metadata addresses."
    )
    allow: list[str] = Field(
        default_factory=list,
        description="allowlist mode: the destinations reached (addresses directly; host names over HTTP(S) through "
        "the proxy in HTTP_PROXY/HTTPS_PROXY, which the sandbox's commands get).",
    )


class SandboxView(BaseModel):
    name: str = Field(description="The sandbox name: pass it as `sandbox` to the other tools.")
    id: str = Field(description="Full container id of the sandbox on the host engine.")
    engine: Literal["docker", "podman"] = Field(description="Container engine running inside the sandbox.")
    mode: Literal["dind", "sock"] = Field(
        description="dind: the sandbox has its own engine. sock: its docker talks to the HOST's engine."
    )
    state: str = Field(description="running, exited, created, ...")
    image: str
    workspace: str | None = Field(description="Host directory mounted at /workspace, if any.")
    network: NetworkView
    limits: LimitsView
    disk: DiskView | None = Field(
        None,
        description="Its disk quota and use: everything it writes (its files, /tmp, engine images, containers "
        "and volumes) except the workspace, which is the host folder itself.",
    )
    created_at: str
    age_s: float = Field(description="Seconds since the sandbox was created.")


class CreateSandboxResult(SandboxView):
    created: bool = Field(description="false when an existing sandbox of that name was returned.")
    ready_s: float = Field(description="Seconds this call took until the nested engine answered.")
    engine_version: str = Field(description="Version reported by the nested engine's API.")
    preloaded: list[str] = Field(description="Host images the operator has copied into every new sandbox.")
    notices: list[str] = Field(
        default_factory=list, description="What works differently in this sandbox than asked, and why."
    )


class ListSandboxesResult(BaseModel):
    sandboxes: list[SandboxView]


class RemoveSandboxResult(BaseModel):
    name: str
    id: str
    removed_volumes: list[str] = Field(description="Volumes removed with it (the nested engine's storage).")


class ExecResult(BaseModel):
    sandbox: str
    exit_code: int | None = Field(description="Exit status of the command; null if it was killed before one was known.")
    stdout: str
    stderr: str
    stdout_bytes: int = Field(description="Bytes the command wrote to stdout (before truncation).")
    stderr_bytes: int
    truncated: bool = Field(description="true if stdout or stderr exceeded the cap; head and tail are kept.")
    duration_s: float
    timed_out: bool = Field(description="true if the command ran past timeout_s and was killed.")
    killed: bool = Field(description="true if the server killed the command's processes (and verified them gone).")


class NestedContainerView(BaseModel):
    id: str
    name: str
    image: str
    state: str = Field(description="running, exited, created, ...")
    status: str = Field(description="The engine's own summary, e.g. 'Exited (0) 5 seconds ago'.")
    created_at: str
    exit_code: int | None = Field(description="Exit code of an exited container; null otherwise.")
    ports: list[str] = Field(description="'ip:public->private/proto' when published, else 'private/proto'.")


class NestedImageView(BaseModel):
    id: str
    tags: list[str]
    size_bytes: int
    created_at: str


class NestedVolumeView(BaseModel):
    name: str
    driver: str


class NestedNetworkView(BaseModel):
    name: str
    driver: str


class ListNestedResult(BaseModel):
    sandbox: str
    engine: Literal["docker", "podman"]
    containers: list[NestedContainerView]
    images: list[NestedImageView]
    volumes: list[NestedVolumeView]
    networks: list[NestedNetworkView]


class BuildImageResult(BaseModel):
    sandbox: str
    engine: Literal["docker", "podman"]
    builder: Literal["buildkit", "classic", "buildah"] = Field(
        description="What built it: BuildKit (docker's default), docker's classic builder, or buildah (podman)."
    )
    image_id: str = Field(description="The built image's id (use it, or a tag, as `image` in run_container).")
    tags: list[str] = Field(description="The image's tags as the sandbox's engine reports them.")
    size_bytes: int
    duration_s: float
    steps: int = Field(
        description="Dockerfile steps the build went through (BuildKit counts those that run or come from its "
        "cache: FROM, RUN, COPY, ...; the others count every instruction)."
    )
    log_tail: str = Field(description="The last lines of the build log.")
    log_path: str = Field(
        description="The full build log, a file inside the sandbox: read it with exec, e.g. `cat <log_path>`."
    )


class RunContainerResult(BaseModel):
    sandbox: str
    id: str = Field(description="The nested container's id.")
    name: str
    image: str
    state: str = Field(description="running, exited, ... at the time of the answer.")
    detached: bool
    exit_code: int | None = Field(description="Exit code once the container ended; null while it runs.")
    stdout: str = Field(description="Output of an attached run (bounded: head and tail kept); empty when detached.")
    stderr: str
    truncated: bool = Field(description="true if stdout or stderr exceeded the cap.")
    duration_s: float
    timed_out: bool = Field(description="true if an attached run passed timeout_s and was killed.")
    oom_killed: bool = Field(description="true if the container was killed for exceeding its memory limit.")
    removed: bool = Field(description="true if the container was removed after it ended (remove=true).")
    ports: list[str] = Field(description="Published ports 'ip:port->port/proto', reachable from inside the sandbox.")
    ip_addresses: dict[str, str] = Field(description="The container's address on each nested network.")
    network_created: bool = Field(description="true if the named network did not exist and was created for this run.")
    limits: LimitsView


class ContainerLogsResult(BaseModel):
    sandbox: str
    container: str
    state: str
    stdout: str
    stderr: str
    stdout_bytes: int
    stderr_bytes: int
    truncated: bool


class StopContainerResult(BaseModel):
    sandbox: str
    id: str
    name: str
    state: str
    exit_code: int | None


class RemoveContainerResult(BaseModel):
    sandbox: str
    id: str
    name: str


class PrunedItem(BaseModel):
    kind: Literal["container", "image", "volume", "build_cache"]
    id: str
    name: str = Field(description="A name or tag when the object has one.")
    size_bytes: int | None = Field(description="The engine's size estimate (dry runs); null when unknown.")


class PruneResult(BaseModel):
    sandbox: str
    engine: Literal["docker", "podman"]
    dry_run: bool
    items: list[PrunedItem] = Field(description="What went (or, in a dry run, what would go).")
    bytes_reclaimed: int = Field(description="Bytes the engine reports freed (a dry run: the estimate).")
    bytes_by_kind: dict[str, int]
    notes: list[str] = Field(description="What was skipped and why, if anything.")


class LoadImageResult(BaseModel):
    sandbox: str
    image: str = Field(description="The host image that was copied.")
    image_id: str
    loaded: list[str] = Field(description="Names the sandbox's engine reports loaded.")
    size_bytes: int
    bytes_transferred: int
    duration_s: float


class DescribePolicyResult(BaseModel):
    policy: dict[str, Any] = Field(description="The active policy: see each key; `rules` lists every rule id.")


class LaunchAgentResult(BaseModel):
    sandbox: str = Field(description="The sandbox the agent ran in (kept: pass it to exec, or remove_sandbox).")
    sandbox_id: str = Field(description="Full container id of that sandbox on the host engine.")
    sandbox_created: bool = Field(description="false when an existing sandbox of that name was used.")
    profile: str = Field(description="The run profile the sandbox and the agent came from.")
    agent: str = Field(description="The agent that ran (claude, gemini, codex, opencode or the operator's own).")
    command: list[str] = Field(description="The argv that ran inside the sandbox (the prompt is its last part).")
    exit_code: int | None = Field(description="The agent's exit status; null if it was killed before one was known.")
    output: str = Field(description="What the agent printed on stdout: its final answer in headless mode.")
    stderr: str
    truncated: bool = Field(description="true if output or stderr exceeded the cap; head and tail are kept.")
    duration_s: float
    timed_out: bool = Field(description="true if the agent ran past timeout_s and was killed.")
    killed: bool = Field(description="true if the server killed the agent's processes (and verified them gone).")
