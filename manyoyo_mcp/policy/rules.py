"""The rules of each tool, judged before the tool acts: pure, deny by default, every decision with
a rule id from the table (rule_ids.py).

The gate calls `admit` (tool and argument names), validates the arguments with the tool's own
model (`invalid_arguments` on failure), then `evaluate` on the validated ToolCall: what can be
judged from the arguments alone (the operator's allowlists, ceilings, protected paths). What
needs the engine (a build context's resolved path, quotas) is judged where it is known, with the
same rule ids, by raising PolicyDenied. Either way a denial is recorded and nothing is done.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from manyoyo_mcp.config.layers import PROJECT_FILE, USER_FILE
from manyoyo_mcp.config.run_files import RUN_DIR
from manyoyo_mcp.config.run_profiles import RunProfile, looks_like_path, parse_volume
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.credentials import is_secret_name, looks_like_secret
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.policy import allowlists, rule_ids
from manyoyo_mcp.policy.calls import Decision, ToolCall, allow, deny
from manyoyo_mcp.policy.host_paths import PathVerdict, judge_host_path
from manyoyo_mcp.policy.network import network_rule

Rule = Callable[[ToolCall, ServerSettings], Decision | None]


def _timeout_ceiling(call: ToolCall, settings: ServerSettings) -> Decision | None:
    timeout = call.given("timeout_s")
    if timeout is not None and timeout > settings.max_exec_timeout_s:
        return deny(
            rule_ids.TIMEOUT_CEILING,
            f"timeout_s may be at most {settings.max_exec_timeout_s:g} (the operator's ceiling); got {timeout:g}",
        )
    return None


def _sandbox_image(call: ToolCall, settings: ServerSettings) -> Decision | None:
    image = call.effective("image")
    allowed = (settings.sandbox_image, *settings.extra_sandbox_images)
    if image is not None and image not in allowed:
        return deny(
            rule_ids.SANDBOX_IMAGE,
            f"image {image!r} is not allowed for sandboxes: use one of {', '.join(allowed)} "
            "(the operator adds others with MANYOYO_EXTRA_SANDBOX_IMAGES)",
        )
    return None


def _sock_mode(call: ToolCall, settings: ServerSettings) -> Decision | None:
    if call.effective("mode") != "sock":
        return None
    if settings.sock_mode == "off":
        return deny(
            rule_ids.SOCK_DISABLED,
            "sock mode (the host's engine socket in the sandbox, which is root on the host) is off: use dind "
            "mode (the default), which gives the sandbox an engine of its own. Only the operator can enable "
            "sock mode (MANYOYO_SOCK_MODE=confirm or preapproved)",
        )
    if settings.host_engine_socket() is None:
        return deny(
            rule_ids.SOCK_REMOTE,
            f"sock mode needs the host engine's socket on this machine; it is {settings.host_engine_url()}",
        )
    return None


def _workspace_mount(call: ToolCall, settings: ServerSettings) -> Decision | None:
    workspace = call.effective("workspace")
    return None if workspace is None else _host_path(workspace, settings)


_OPERATOR_FILES = f"the user file ({USER_FILE} or {RUN_DIR}/<name>.json beside it)"


def _profile_volumes(call: ToolCall, settings: ServerSettings) -> Decision | None:
    """Each of the profile's volumes judged like a workspace, except that a credential folder the
    operator granted (read-only, in the user file) is allowed, and said so in the audit log."""
    profile = call.profile
    if profile is None:
        return None
    granted = []
    for volume, verdict in profile_volume_verdicts(profile, settings):
        if not verdict.allowed:
            advice = f"; {_grant_advice(volume)}" if verdict.grantable else ""
            return Decision(False, verdict.rule, f"the profile's volume {volume!r}: {verdict.reason}{advice}")
        if verdict.rule == rule_ids.HOST_CREDENTIAL_GRANT.id:
            granted.append(f"{volume!r}: {verdict.reason}, in {profile.granted_volumes[volume]}")
    if granted:
        return allow(rule_ids.HOST_CREDENTIAL_GRANT, "the operator's read-only grants: " + "; ".join(granted))
    return None


def _grant_advice(volume: str) -> str:
    """What would make a refused credential volume a grant."""
    if not parse_volume(volume)[2]:
        return (
            "a credential folder may only be mounted read-only: the operator grants it by writing the volume "
            f"with ':ro' in {_OPERATOR_FILES}"
        )
    return (
        f"a credential folder is mounted only when the operator wrote the volume, read-only, in {_OPERATOR_FILES}; "
        "never from a project file or an agent's arguments"
    )


def profile_volume_verdicts(profile: RunProfile, settings: ServerSettings) -> list[tuple[str, PathVerdict]]:
    """Each volume of `profile` with its verdict; a read-only volume of the operator's own files
    is judged as a possible grant (RunProfile.granted_volumes)."""
    verdicts = []
    for volume in profile.volumes:
        host, _, read_only = parse_volume(volume)
        verdicts.append((volume, _judge_path(host, settings, grant=read_only and volume in profile.granted_volumes)))
    return verdicts


def _host_path(path: str, settings: ServerSettings) -> Decision | None:
    verdict = _judge_path(path, settings)
    return None if verdict.allowed else Decision(False, verdict.rule, verdict.reason)


def _judge_path(path: str, settings: ServerSettings, grant: bool = False) -> PathVerdict:
    return judge_host_path(
        path,
        roots=settings.allowed_host_roots,
        home=os.path.expanduser("~"),
        extra_protected=(str(settings.audit_path),),
        grant=grant,
    )


def _run_profile(call: ToolCall, settings: ServerSettings) -> Decision | None:
    name = call.profile_name
    if name is None or call.profile is not None:
        return None
    profiles = ", ".join(settings.runs) or "none configured"
    if looks_like_path(name):
        stem = os.path.splitext(os.path.basename(name.rstrip("/\\")))[0]
        hint = f"; did you mean the profile {stem!r}?" if stem in settings.runs else ""
        if stem == os.path.splitext(PROJECT_FILE)[0]:
            hint += f"; the {PROJECT_FILE} of the server's project folder applies without being named"
        return deny(
            rule_ids.PROFILE_FILE_PATH,
            f"profile {name!r} is a file path: only the operator's named run profiles are allowed (a file could be "
            f"one an agent wrote); name one of: {profiles}{hint}",
        )
    return deny(rule_ids.PROFILE_UNKNOWN, f"no run profile {name!r}; the operator's profiles: {profiles}")


def _loadable_image(call: ToolCall, settings: ServerSettings) -> Decision | None:
    image = call.given("image")
    if not allowlists.loadable(image, settings.loadable_images):
        allowed = ", ".join(settings.loadable_images) or "none (the operator lists them in MANYOYO_LOADABLE_IMAGES)"
        return deny(
            rule_ids.LOAD_ALLOWLIST, f"host image {image!r} may not be loaded into sandboxes; allowed: {allowed}"
        )
    return None


def _nested_mounts(call: ToolCall, settings: ServerSettings) -> Decision | None:
    for spec in call.given("volumes") or ():
        source = spec.split(":", 1)[0]
        if source.startswith("/"):
            try:
                path = allowlists.sandbox_path("volume source", source, "/")
            except InvalidArgument:
                continue  # malformed: the tool's own validation says how
            protected = allowlists.forbidden_sandbox_path(path)
            if protected:
                return deny(
                    rule_ids.NESTED_MOUNT,
                    f"volume {spec!r}: {protected} of the sandbox may not be mounted into a nested container (it "
                    "holds the kernel's or the engine's controls); mount a directory under /workspace or a nested "
                    "volume instead",
                )
    return None


def _nested_options(call: ToolCall, settings: ServerSettings) -> Decision | None:
    for cap in call.given("cap_add") or ():
        normal = allowlists.normalize_capability(cap)
        if normal not in allowlists.CAPABILITY_ALLOWLIST:
            return deny(
                rule_ids.NESTED_CAPABILITY,
                f"capability {cap!r} may not be added to a nested container; allowed: "
                f"{', '.join(sorted(allowlists.CAPABILITY_ALLOWLIST))}",
            )
    for name in call.given("sysctls") or {}:
        if allowlists.normalize_sysctl(name) not in allowlists.SYSCTL_ALLOWLIST:
            return deny(
                rule_ids.NESTED_SYSCTL,
                f"sysctl {name!r} may not be set; allowed (namespaced, safe): "
                f"{', '.join(sorted(allowlists.SYSCTL_ALLOWLIST))}",
            )
    for spec in call.given("tmpfs") or ():
        options = spec.partition(":")[2].split(",")
        refused = [o for o in options if o.strip() and not allowlists.tmpfs_option_allowed(o)]
        if refused:
            return deny(
                rule_ids.NESTED_TMPFS,
                f"tmpfs {spec!r}: option {refused[0]!r} is not allowed; allowed: {allowlists.TMPFS_FORMS}",
            )
    restart = call.given("restart")
    if allowlists.restart_policy(restart) is None:
        return deny(
            rule_ids.NESTED_RESTART,
            f"restart policy {restart!r} is not allowed: use 'no' or 'on-failure[:N]' with N at most "
            f"{allowlists.MAX_RESTARTS} (a container that restarts forever is not)",
        )
    return None


def _build_context(call: ToolCall, settings: ServerSettings) -> Decision | None:
    context = call.given("context")
    if "\x00" not in context and context.strip():
        path = allowlists.sandbox_path("context", context)
        protected = allowlists.forbidden_sandbox_path(path)
        if protected:
            return context_denial(context, path, protected)
    return None


def _build_secret_files(call: ToolCall, settings: ServerSettings) -> Decision | None:
    for secret_id, given in (call.given("secrets") or {}).items():
        if "\x00" not in given and given.strip():
            path = allowlists.sandbox_path(f"secret {secret_id}", given)
            protected = allowlists.forbidden_sandbox_path(path)
            if protected:
                return secret_denial(secret_id, given, path, protected)
    return None


def secret_denial(secret_id: str, given: str, path: str, protected: str) -> Decision:
    return deny(
        rule_ids.BUILD_SECRET_PATH,
        f"secret {secret_id!r}: {given!r} resolves to {path}, under {protected}, which a build may not read: keep "
        "the secret in a file under /workspace (out of the image: the server leaves it out of the context) or "
        "the home folder",
    )


def _build_secret_args(call: ToolCall, settings: ServerSettings) -> Decision | None:
    build_args = call.given("build_args") or {}
    if settings.secret_build_args == "allow":
        return None
    suspicious = sorted(name for name, value in build_args.items() if is_secret_name(name) or looks_like_secret(value))
    if not suspicious:
        return None
    advice = (
        "build args stay readable in the image's history: pass a secret as a file with `secrets` "
        "(RUN --mount=type=secret), or when the container runs (run_container env)"
    )
    if settings.secret_build_args == "warn":
        return allow(
            rule_ids.BUILD_SECRET_ARGS_WARNED, f"build args {', '.join(suspicious)} look like secrets; {advice}"
        )
    return deny(
        rule_ids.BUILD_SECRET_ARGS,
        f"build args {', '.join(suspicious)} look like secrets (by name or value); {advice}. The operator can "
        "allow them with MANYOYO_SECRET_BUILD_ARGS=warn or allow",
    )


def context_denial(given: str, path: str, protected: str) -> Decision:
    return deny(
        rule_ids.BUILD_CONTEXT,
        f"context {given!r} resolves to {path}, under {protected}, which cannot be a build context: use a "
        "project directory such as /workspace",
    )


def user_denial(spec: str, owner: tuple[int, int]) -> Decision | None:
    """A user whose numeric uid or gid the sandbox proper does not map (judged once the sandbox's
    workspace owner, `owner` (uid, gid), is known): it could only be a host id."""
    part = allowlists.unmapped_id(spec, owner)
    if part is None:
        return None
    return deny(
        rule_ids.USER_UNMAPPED,
        f"user {spec!r}: id {part} is not one of the sandbox's (its user namespace maps uids and gids 0-"
        f"{allowlists.SANDBOX_IDS - 1} and the workspace owner's, {owner[0]}:{owner[1]}); use root, a name the "
        "sandbox knows, or an id in that range",
    )


# Every tool the server offers, with the rules that apply to it. A tool not listed is denied.
RULES: dict[str, tuple[Rule, ...]] = {
    "create_sandbox": (_run_profile, _sock_mode, _sandbox_image, _workspace_mount, _profile_volumes, network_rule),
    "launch_agent": (
        _run_profile,
        _timeout_ceiling,
        _sock_mode,
        _sandbox_image,
        _workspace_mount,
        _profile_volumes,
        network_rule,
    ),
    "exec": (_timeout_ceiling,),
    "list_sandboxes": (),
    "list_nested": (),
    "remove_sandbox": (),
    "build_image": (_timeout_ceiling, _build_context, _build_secret_files, _build_secret_args),
    "run_container": (_timeout_ceiling, _nested_mounts, _nested_options),
    "container_logs": (),
    "stop_container": (),
    "remove_container": (),
    "prune": (),
    "load_image": (_loadable_image,),
    "describe_policy": (),
}


def admit(tool: str, given: Iterable[str], accepted: frozenset[str] | None) -> Decision | None:
    """What is refused before an argument is read: a tool not in the table (deny by default), and
    an argument the tool does not have (refused, never dropped: an agent asking for `privileged`
    learns it is not available). `accepted`: the tool's arguments; None if the server has no such tool."""
    if tool not in RULES or accepted is None:
        return deny(rule_ids.TOOL_UNKNOWN, f"{tool!r} is not a tool of this server; tools: {', '.join(RULES)}")
    unknown = sorted(set(given) - accepted)
    if unknown:
        return deny(
            rule_ids.ARGUMENTS_UNKNOWN,
            f"{tool} has no argument {', '.join(unknown)}; "
            + (f"its arguments are: {', '.join(sorted(accepted))}" if accepted else "it takes no arguments"),
        )
    return None


def invalid_arguments(tool: str, problems: str) -> Decision:
    """Arguments the tool's own model refused (a wrong type, a value out of range)."""
    return deny(rule_ids.ARGUMENTS_INVALID, f"the arguments do not fit {tool}'s input schema: {problems}")


def evaluate(call: ToolCall, settings: ServerSettings) -> Decision:
    """The decision for one call (its arguments validated): the first rule of its tool that denies
    it, else an allow naming the checks passed. Fails closed: a rule that cannot be evaluated
    denies the call."""
    try:
        return _evaluate(call, settings)
    except Exception as exc:
        return could_not_judge(exc)


def could_not_judge(exc: Exception) -> Decision:
    """A call a rule (or the arguments' validation) broke on: refused (fail closed)."""
    problem = type(exc).__name__
    return deny(rule_ids.POLICY_ERROR, f"the policy could not judge this call ({problem}); nothing was done")


def _evaluate(call: ToolCall, settings: ServerSettings) -> Decision:
    rules = RULES.get(call.tool)
    if rules is None:
        return deny(rule_ids.TOOL_UNKNOWN, f"{call.tool!r} is not a tool of this server; tools: {', '.join(RULES)}")
    warnings = []
    for rule in rules:
        decision = rule(call, settings)
        if decision is not None and not decision.allowed:
            return decision
        if decision is not None:
            warnings.append(decision)
    if warnings:  # allowed, with what the reviewer should see
        return Decision(True, warnings[0].rule, "; ".join(w.reason for w in warnings))
    checked = ", ".join(r.__name__.lstrip("_").replace("_", "-") for r in rules) or "no argument rules apply"
    return Decision(True, rule_ids.tool_allowed(call.tool), f"dind mode; checks passed: {checked}")
