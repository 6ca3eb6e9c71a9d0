"""Every rule id the policy decides with, in one table: what each refuses and what is allowed instead.

A refusal anywhere (the gate before a tool runs, or a service once the engine has answered: a
resolved path, a quota) names one of these; `describe_policy` lists them all. The last few are
the ids of allowed decisions, so that the audit log says why a call was let through.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuleId:
    id: str
    refuses: str
    allowed: str


TABLE: dict[str, RuleId] = {}


def _rule(id: str, refuses: str, allowed: str) -> RuleId:
    TABLE[id] = rule = RuleId(id, refuses, allowed)
    return rule


# -- the call itself (the gate) ----------------------------------------------------------
TOOL_UNKNOWN = _rule("tool.unknown", "a tool this server does not offer", "the tools describe_policy lists")
ARGUMENTS_UNKNOWN = _rule(
    "arguments.unknown",
    "an argument the tool does not have (privileged, cap_add, devices, network_mode ...)",
    "the arguments of the tool's input schema; none is silently dropped",
)
ARGUMENTS_INVALID = _rule(
    "arguments.invalid",
    "arguments of the wrong type or out of their range",
    "values the tool's input schema describes",
)
ARGUMENTS_TOO_LARGE = _rule(
    "arguments.too-large",
    "an argument past its size: a command word or KEY=VALUE over 128 KiB (the kernel's limit), a command over "
    "1 MiB, an environment over 256 KiB, a path over 4095 bytes or a name in it over 255, any other string over "
    "4 KiB, a list or map of over 1000 entries",
    "arguments within those sizes (describe_policy's argument_limits); larger data goes in a file in the workspace",
)
POLICY_ERROR = _rule("policy.error", "a call the policy could not judge (fail closed)", "nothing: the call is refused")

# -- sandboxes ---------------------------------------------------------------------------
SANDBOX_IMAGE = _rule(
    "sandbox.image-allowlist",
    "sandbox images other than the operator's",
    "MANYOYO_SANDBOX_IMAGE and the images in MANYOYO_EXTRA_SANDBOX_IMAGES",
)
PROFILE_UNKNOWN = _rule(
    "profile.unknown", "a run profile the operator has not configured", "the run profiles describe_policy lists"
)
PROFILE_FILE_PATH = _rule(
    "profile.file-path",
    "a run profile given as a file path (./x.json, ~/x.json, /tmp/x.json): the agent could point it at a file it wrote",
    "the operator's named run profiles (describe_policy lists them)",
)
TIMEOUT_CEILING = _rule(
    "limits.timeout-ceiling", "a timeout above the operator's ceiling", "timeout_s up to MANYOYO_MAX_EXEC_TIMEOUT_S"
)
LIMITS_CEILING = {
    kind: _rule(f"limits.{kind}-ceiling", f"a sandbox's {kind} above the operator's ceiling", allowed)
    for kind, allowed in (
        ("cpus", "up to MANYOYO_MAX_CPUS, at most MANYOYO_HOST_CPU_SHARE of the host's CPUs"),
        ("memory", "up to MANYOYO_MAX_MEMORY, at most the scope's total"),
        ("pids", "up to MANYOYO_MAX_PIDS, at most MANYOYO_HOST_PID_SHARE of the host's kernel.pid_max"),
        ("disk", "a disk quota up to MANYOYO_MAX_DISK, at most the scope's total"),
    )
}
QUOTA_TOTAL = {
    kind: _rule(
        f"quota.total-{kind}",
        f"a sandbox whose {kind} would take this server's sandboxes together past the operator's total",
        f"up to MANYOYO_MAX_TOTAL_{kind.upper()} (or its share of the host) for all sandboxes together"
        + (", quotas of stopped sandboxes included" if kind == "disk" else ", running sandboxes only"),
    )
    for kind in ("cpus", "memory", "pids", "disk")
}
FILE_SIZE_CEILING = _rule(
    "limits.file-size-ceiling",
    "write_file content larger than the operator's ceiling, a read_file limit above the result cap",
    "content up to MANYOYO_MAX_WRITE_FILE_BYTES (decoded; larger files in parts through exec, or built in the "
    "sandbox); read_file pages of up to MANYOYO_OUTPUT_CAP_BYTES (follow next_offset)",
)
QUOTA_SANDBOXES = _rule(
    "quota.sandboxes",
    "more sandboxes than the operator allows",
    "up to MANYOYO_MAX_SANDBOXES sandboxes; reusing one by name always",
)

AUDIT_DISK_LOW = _rule(
    "audit.disk-low",
    "every call while the disk holding the audit log has less free space than the operator's reserve",
    "calls again once there is MANYOYO_AUDIT_MIN_FREE_BYTES free (the reserve keeps refusals recorded)",
)

# -- host paths (workspaces and a profile's volumes), judged once resolved ----------------
HOST_PATH_INVALID = _rule(
    "host.path-invalid",
    "an empty workspace path, one with a NUL byte, one over 4095 bytes or with a name over 255",
    "an existing host folder",
)
HOST_ENGINE_SOCKET = _rule(
    "host.mount-engine-socket",
    "a container engine socket, or a folder holding one, as workspace",
    "a project folder holding no engine socket",
)
HOST_SYSTEM_PATH = _rule(
    "host.mount-system-path",
    "the host's /, /etc, /proc, /sys, /dev, /boot, /root, /run, /usr, /var/lib/docker ...",
    "a project folder inside the allowed roots",
)
HOST_HOME = _rule("host.mount-home", "the home folder itself as workspace", "a project folder inside it")
HOST_CREDENTIALS = _rule(
    "host.mount-credentials",
    "a credential folder (~/.ssh, ~/.docker, ~/.aws, ~/.kube, ~/.config/gcloud ...) or a folder holding one, "
    "or the server's own files (~/.manyoyo, the audit log)",
    "a project folder that holds no credentials; a credential folder only as the operator's read-only grant "
    "(host.credential-grant)",
)
HOST_OUTSIDE_ROOTS = _rule(
    "host.mount-outside-roots",
    "a workspace outside the operator's allowed roots",
    "folders under MANYOYO_ALLOWED_HOST_ROOTS (default: the folder the server starts in)",
)

# -- sock mode ---------------------------------------------------------------------------
SOCK_DISABLED = _rule(
    "mode.sock-disabled",
    "sock mode while the operator has not enabled it",
    "dind mode; the operator enables sock mode with MANYOYO_SOCK_MODE",
)
SOCK_NEEDS_HUMAN = _rule(
    "mode.sock-needs-human",
    "sock mode when a human must confirm it and the client cannot ask one",
    "dind mode, or MANYOYO_SOCK_MODE=preapproved",
)
SOCK_DECLINED = _rule(
    "mode.sock-declined", "sock mode the human declined (or did not answer)", "dind mode, or a human's yes"
)
SOCK_REMOTE = _rule(
    "mode.sock-remote", "sock mode with a remote host engine", "sock mode with the engine's socket on this machine"
)
SOCK_BIND_MOUNT = _rule(
    "sock.bind-mount",
    "in sock mode, nested bind mounts (they would be host paths)",
    "named volumes ('NAME:/path')",
)

# -- inside a sandbox: nested containers, builds, images ---------------------------------
NESTED_MOUNT = _rule(
    "nested.mount-protected-path",
    "nested mounts of the sandbox's /, /proc, /sys, /dev, /run or engine files",
    "directories under /workspace and nested volumes",
)
NESTED_CAPABILITY = _rule(
    "nested.capability",
    "nested capabilities outside the allowlist (after normalising case and CAP_; ALL)",
    "Kubernetes' baseline capabilities and NET_RAW",
)
NESTED_SYSCTL = _rule(
    "nested.sysctl", "nested sysctls outside the namespaced safe list", "Kubernetes' safe namespaced sysctls"
)
NESTED_RESTART = _rule(
    "nested.restart-policy",
    "restart policies other than no and on-failure with a few retries",
    "'no' or 'on-failure[:N]', N at most 5",
)
NESTED_TMPFS = _rule(
    "nested.tmpfs",
    "tmpfs mount options outside the allowlist (suid, dev, mpol ...)",
    "ro, rw, exec, noexec, nosuid, nodev, size, mode, uid, gid, nr_inodes",
)
USER_UNMAPPED = _rule(
    "sandbox.user-unmapped",
    "a user (exec, the file tools, launch_agent, run_container) whose uid or gid the sandbox proper does not "
    "map: it could only be a host id, which never enters a sandbox",
    "root, names the sandbox (or the image) knows, uid[:gid] within 0-65535 or the workspace owner's",
)
QUOTA_NESTED = _rule(
    "quota.nested-containers",
    "more containers in one sandbox than the operator allows",
    "up to MANYOYO_MAX_NESTED_CONTAINERS containers per sandbox, stopped ones included",
)
PROC_WORKDIR = _rule(
    "sandbox.proc-workdir",
    "a working directory or build context inside /proc (or /dev/fd, which leads there): exec's and "
    "run_container's workdir, build_image's context. /proc/self/fd/N as a working directory is how "
    "CVE-2024-21626 let a container reach a host file descriptor through runc before 1.1.12",
    "a directory of the sandbox such as /workspace or /tmp",
)
BUILD_CONTEXT = _rule(
    "build.context-protected-path",
    "build contexts there (judged as given and once resolved)",
    "a project directory such as /workspace",
)
BUILD_SECRET_PATH = _rule(
    "build.secret-protected-path",
    "build secret files under the sandbox's /, /proc, /sys, /dev, /run or engine folders (judged as given and "
    "once resolved)",
    "files under /workspace or a home folder",
)
BUILD_SECRET_ARGS = _rule(
    "build.secret-args",
    "build args that look like secrets by name or value (MANYOYO_SECRET_BUILD_ARGS)",
    "secrets as files (build_image secrets) or run_container env; the operator may allow them (warn, allow)",
)
LOAD_ALLOWLIST = _rule(
    "image.load-allowlist",
    "copying a host image the operator has not listed",
    "host images matching MANYOYO_LOADABLE_IMAGES",
)

# -- a sandbox's network -----------------------------------------------------------------
NETWORK_CEILING = _rule(
    "network.ceiling",
    "an egress mode wider than the operator's ceiling (none < allowlist < public)",
    "modes up to MANYOYO_NETWORK_CEILING (describe_policy's network.ceiling)",
)
NETWORK_ALLOWLIST = _rule(
    "network.allowlist",
    "an allowlist entry the operator does not allow: a private, loopback, link-local or metadata range, or, "
    "when the ceiling is allowlist, anything not on the operator's allowlist",
    "entries on (or inside) MANYOYO_NETWORK_ALLOW, and public addresses and host names when public mode is "
    "within the ceiling; private destinations only as the operator's MANYOYO_NETWORK_EXCEPTIONS",
)

# -- ids of allowed decisions ------------------------------------------------------------
TOOL_ALLOWED = _rule(
    "tool.<name>", "nothing: a call every rule of its tool let through", "the call, named after its tool"
)
HOST_ALLOWED = _rule("host.mount-allowed", "nothing: a host path inside an allowed root", "that path")
HOST_CREDENTIAL_GRANT = _rule(
    "host.credential-grant",
    "nothing: a credential folder (or a file in it) mounted read-only because the operator wrote that volume, "
    "with ':ro', in a profile of the user file (manyoyo.json or run/<name>.json); never from a project file or "
    "an agent's argument, never read-write, never the server's own files or a folder holding an engine socket",
    "that read-only mount, noted in the audit log",
)
BUILD_SECRET_ARGS_WARNED = _rule(
    "build.secret-args-warned",
    "nothing: build args that look like secrets, noted in the audit log (MANYOYO_SECRET_BUILD_ARGS=warn)",
    "the build, with a warning",
)
SOCK_PREAPPROVED = _rule(
    "mode.sock-preapproved",
    "nothing: sock mode the operator approved in the configuration",
    "sock mode without a question",
)
IDLE_TTL = _rule(
    "sandbox.idle-ttl",
    "nothing: a sandbox no tool call used for longer than the operator's MANYOYO_IDLE_TTL, stopped (or removed, "
    "MANYOYO_IDLE_ACTION) by the server or `manyoyo-mcp gc`",
    "create_sandbox with its name starts a stopped one again",
)
WARM_POOL = _rule(
    "sandbox.warm-pool",
    "nothing: a sandbox the server makes (or, when it stops, removes) on its own for the operator's warm pool "
    "(MANYOYO_WARM_POOL), handed out by create_sandbox without a name",
    "a ready sandbox at once, made for exactly that request under the same settings",
)
SOCK_CONFIRMED = _rule("mode.sock-confirmed", "nothing: sock mode a human confirmed", "sock mode")
NETWORK_NARROWED = _rule(
    "network.narrowed",
    "nothing: an egress the call (or its run profile) chose within the operator's ceiling",
    "that egress, noted in the audit log",
)


def tool_allowed(tool: str) -> str:
    """The id of an allowed call of `tool` (TOOL_ALLOWED's pattern)."""
    return f"tool.{tool}"
