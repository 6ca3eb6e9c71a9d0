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
    pooled: bool = Field(
        False,
        description="true when it came ready from the operator's warm pool (create_sandbox without a name).",
    )


class ListSandboxesResult(BaseModel):
    sandboxes: list[SandboxView]


class RemoveSandboxResult(BaseModel):
    name: str
    id: str
    removed_volumes: list[str] = Field(description="Volumes removed with it (the nested engine's storage).")


class LeftProcess(BaseModel):
    pid: int
    command: str


class ExecResult(BaseModel):
    sandbox: str
    exit_code: int | None = Field(
        description="Exit status (128 + the signal number if a signal ended it); null while it runs or when unknown."
    )
    stdout: str = Field(description="Its output within the result's budget: head and tail kept, the cut marked.")
    stderr: str
    stdout_bytes: int = Field(description="Bytes the command wrote to stdout (all of it, before any cut).")
    stderr_bytes: int
    truncated: bool = Field(description="true if stdout or stderr was cut to fit the result; output_files hold it all.")
    duration_s: float
    timed_out: bool = Field(description="true if the command ran past timeout_s and was killed.")
    killed: bool = Field(description="true if its processes were killed (timeout or cancel) and verified gone.")
    job_id: str | None = Field(
        None, description="The job it ran as: job_output, stop_job and read_output take it. Null without sandboxd."
    )
    state: Literal["exited", "running"] = Field("exited", description="running: a background job still going.")
    signal: str | None = Field(None, description="The signal that ended it (e.g. SIGKILL), if one did.")
    oom_killed: bool = Field(False, description="true if the kernel killed it for running out of memory.")
    left_running: list[LeftProcess] = Field(
        default_factory=list, description="Processes it started that were still running when it exited (first 20)."
    )
    left_running_count: int = 0
    left_running_killed: bool = Field(False, description="true if those were killed (the operator's setting).")
    output_files: dict[str, str] | None = Field(
        None, description="Its whole stdout and stderr, files inside the sandbox (read_output pages and searches them)."
    )
    notes: list[str] = Field(default_factory=list, description="What else happened that matters, if anything.")


class JobSummary(BaseModel):
    job_id: str
    command: str
    kind: str = Field(description="exec (ran in the foreground) or background.")
    state: Literal["running", "exited"]
    started_at: str
    duration_s: float = Field(description="Seconds it ran (so far, while it runs).")
    exit_code: int | None
    signal: str | None
    timed_out: bool
    cancelled: bool = Field(description="true if stop_job or a cancelled call stopped it.")
    oom_killed: bool
    left_running_count: int
    stdout_bytes: int
    stderr_bytes: int


class ListJobsResult(BaseModel):
    sandbox: str
    jobs: list[JobSummary] = Field(description="Newest first.")
    total: int = Field(description="Jobs the sandbox keeps (older ones are dropped past the operator's bounds).")


class JobOutputResult(JobSummary):
    sandbox: str
    stdout: str = Field(description="stdout written since the cursor (at most the result's budget).")
    stderr: str
    next_cursor: str = Field(description="Pass it as `cursor` to get what comes after.")
    remaining_bytes: int = Field(description="Output already written past what this result holds.")
    skipped_bytes: int = Field(description="Output passed over (dropped from the files by the per-job cap).")
    killed: bool
    left_running: list[LeftProcess]
    output_files: dict[str, str]
    notes: list[str]


class StopJobResult(JobSummary):
    sandbox: str
    killed: bool = Field(description="true once none of its processes is left.")


class OutputMatch(BaseModel):
    line: int
    offset: int = Field(description="Byte offset of the line in the file: read_output's `offset` reads from there.")
    text: str = Field(description="The line (its first 300 characters).")


class ReadOutputResult(BaseModel):
    sandbox: str
    job_id: str
    stream: Literal["stdout", "stderr"]
    path: str = Field(description="The file inside the sandbox.")
    size: int = Field(description="Its size in bytes (so far, while the job runs).")
    state: Literal["running", "exited"]
    offset: int = Field(description="Where `text` starts (bytes).")
    next_offset: int = Field(description="Where the next page starts: pass it as `offset`.")
    text: str = Field(description="The page read (empty when searching).")
    skipped_bytes: int = Field(description="Bytes passed over: dropped from the file by the per-job cap.")
    matches: list[OutputMatch] | None = Field(description="With `pattern`: the matching lines, in order.")
    more_matches: bool = Field(description="true if there are matches beyond `max_matches`.")


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
    shared: bool = Field(
        False,
        description="true: from the server's shared image store (podman sandboxes): read-only, takes none of this "
        "sandbox's disk, never pruned or removed from here.",
    )


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
    bytes_transferred: int = Field(description="Bytes sent into this sandbox: 0 when it came from the shared store.")
    duration_s: float
    shared: bool = Field(
        False,
        description="true: read from the server's shared image store (podman sandboxes), not copied into this "
        "sandbox; it uses none of its disk and cannot be removed from inside.",
    )


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


class WriteFileResult(BaseModel):
    sandbox: str
    path: str = Field(description="The file written, absolute in the sandbox (a symlink's target when given a link).")
    bytes: int = Field(description="Bytes written (after base64 decoding).")
    sha256: str = Field(description="SHA-256 of the bytes written (hex), as the audit log records it.")
    created: bool = Field(description="true if the file did not exist before; false: it was replaced atomically.")
    mode: str = Field(description="The file's permission bits now, octal, e.g. '0644'.")
    uid: int = Field(description="The file's owner inside the sandbox.")
    gid: int
    user: str = Field(description="The sandbox user the write ran as.")


class ReadFileResult(BaseModel):
    sandbox: str
    path: str = Field(description="The file read, absolute in the sandbox (symlinks resolved).")
    size: int = Field(description="The file's size in bytes.")
    offset: int = Field(description="Where this page starts (bytes).")
    bytes: int = Field(description="Bytes in this page.")
    encoding: Literal["utf-8", "base64"] = Field(
        description="'utf-8': content is the text; 'base64': the bytes are not UTF-8 text (or hold NUL bytes), "
        "content is their base64."
    )
    content: str
    truncated: bool = Field(description="true if the file goes on past this page.")
    next_offset: int | None = Field(description="The offset of the next page when truncated; null at the end.")


class FileEntry(BaseModel):
    name: str
    path: str = Field(description="Absolute in the sandbox.")
    type: Literal["file", "dir", "symlink", "other"] = Field(
        description="A symlink is not followed; other: a device, FIFO or socket."
    )
    size: int = Field(description="Bytes (of the link itself for a symlink).")
    mode: str = Field(description="Permission bits, octal, e.g. '0755'.")
    mtime: str = Field(description="Last modification, ISO 8601 UTC.")
    target: str | None = Field(None, description="Where a symlink points.")


class ListFilesResult(BaseModel):
    sandbox: str
    entries: list[FileEntry] = Field(description="Sorted by path; a folder's entries follow it when depth > 1.")
    truncated: bool = Field(description="true if there were more than max_entries: narrow the path, depth or pattern.")
    unreadable: list[str] = Field(description="Folders the user could not read (at most 20), with the reason.")
