"""The policy consulted before a tool acts: pure, deny by default, every decision with a rule id.

`evaluate(tool, arguments, settings)` judges what can be judged from the arguments alone (the
operator's allowlists, ceilings, protected paths). What needs the engine (a build context's
resolved path) is judged where it is resolved, with the same rule ids, by raising `PolicyDenied`.
Either way a denial is recorded in the audit log and nothing is done.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.credentials import is_secret_name, looks_like_secret
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.policy import allowlists, rule_ids
from manyoyo_mcp.policy.host_paths import judge_host_path
from manyoyo_mcp.policy.rule_ids import RuleId


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str
    reason: str


def allow(rule: RuleId, reason: str) -> Decision:
    return Decision(True, rule.id, reason)


def deny(rule: RuleId, reason: str) -> Decision:
    return Decision(False, rule.id, reason)


Rule = Callable[[Mapping[str, Any], ServerSettings], Decision | None]


def _timeout_ceiling(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    timeout = arguments.get("timeout_s")
    if isinstance(timeout, int | float) and timeout > settings.max_exec_timeout_s:
        return deny(
            rule_ids.TIMEOUT_CEILING,
            f"timeout_s may be at most {settings.max_exec_timeout_s:g} (the operator's ceiling); got {timeout:g}",
        )
    return None


def _sandbox_image(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    image = arguments.get("image")
    allowed = (settings.sandbox_image, *settings.extra_sandbox_images)
    if image is not None and image not in allowed:
        return deny(
            rule_ids.SANDBOX_IMAGE,
            f"image {image!r} is not allowed for sandboxes: use one of {', '.join(allowed)} "
            "(the operator adds others with MANYOYO_EXTRA_SANDBOX_IMAGES)",
        )
    return None


def _sock_mode(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    if arguments.get("mode") != "sock":
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


def _workspace_mount(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    workspace = arguments.get("workspace")
    if not isinstance(workspace, str):
        return None  # absent, or the wrong type for the schema check to refuse
    return _host_path(workspace, settings)


def _profile_volumes(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    for volume in arguments.get(PROFILE_VOLUMES, ()):
        denied = _host_path(volume.split(":", 1)[0], settings)
        if denied is not None:
            return Decision(False, denied.rule, f"the profile's volume {volume!r}: {denied.reason}")
    return None


def _host_path(path: str, settings: ServerSettings) -> Decision | None:
    verdict = judge_host_path(
        path,
        roots=settings.allowed_host_roots,
        home=os.path.expanduser("~"),
        extra_protected=(str(settings.audit_path),),
    )
    return None if verdict.allowed else Decision(False, verdict.rule, verdict.reason)


def _run_profile(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    name = settings.run_name(arguments.get("profile"))
    if name is not None and name not in settings.runs:
        return deny(
            rule_ids.PROFILE_UNKNOWN,
            f"no run profile {name!r}; the operator's profiles: {', '.join(settings.runs) or 'none configured'}",
        )
    return None


PROFILE_VOLUMES = "profile volumes"  # not an argument name an agent can give (it has a space)


def profile_arguments(arguments: Mapping[str, Any], settings: ServerSettings) -> dict[str, Any]:
    """The arguments as the tool will act on them: what the agent left out comes from the run
    profile, so a profile is judged by the same rules as an agent's own arguments."""
    profile = settings.runs.get(settings.run_name(arguments.get("profile")) or "")
    given = {k: v for k, v in arguments.items() if v is not None}
    if profile is None:
        return given
    derived = {
        "mode": profile.container_mode,
        "workspace": profile.host_path,
        "image": profile.image(),
        PROFILE_VOLUMES: list(profile.volumes),
    }
    return {**{k: v for k, v in derived.items() if v is not None}, **given}


def _loadable_image(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    image = str(arguments.get("image", ""))
    if not allowlists.loadable(image, settings.loadable_images):
        allowed = ", ".join(settings.loadable_images) or "none (the operator lists them in MANYOYO_LOADABLE_IMAGES)"
        return deny(
            rule_ids.LOAD_ALLOWLIST, f"host image {image!r} may not be loaded into sandboxes; allowed: {allowed}"
        )
    return None


def _nested_mounts(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    volumes = arguments.get("volumes")
    for spec in volumes if isinstance(volumes, list) else ():  # other types: the schema check refuses them
        source = str(spec).split(":", 1)[0]
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


def _nested_options(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    caps = arguments.get("cap_add")
    for cap in caps if isinstance(caps, list) else ():
        normal = allowlists.normalize_capability(str(cap))
        if normal not in allowlists.CAPABILITY_ALLOWLIST:
            return deny(
                rule_ids.NESTED_CAPABILITY,
                f"capability {cap!r} may not be added to a nested container; allowed: "
                f"{', '.join(sorted(allowlists.CAPABILITY_ALLOWLIST))}",
            )
    sysctls = arguments.get("sysctls")
    for name in sysctls if isinstance(sysctls, dict) else ():
        if allowlists.normalize_sysctl(str(name)) not in allowlists.SYSCTL_ALLOWLIST:
            return deny(
                rule_ids.NESTED_SYSCTL,
                f"sysctl {name!r} may not be set; allowed (namespaced, safe): "
                f"{', '.join(sorted(allowlists.SYSCTL_ALLOWLIST))}",
            )
    restart = arguments.get("restart")
    if isinstance(restart, str) and allowlists.restart_policy(restart) is None:
        return deny(
            rule_ids.NESTED_RESTART,
            f"restart policy {restart!r} is not allowed: use 'no' or 'on-failure[:N]' with N at most "
            f"{allowlists.MAX_RESTARTS} (a container that restarts forever is not)",
        )
    return None


def _build_context(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    context = arguments.get("context")
    if isinstance(context, str) and "\x00" not in context and context.strip():
        path = allowlists.sandbox_path("context", context)
        protected = allowlists.forbidden_sandbox_path(path)
        if protected:
            return context_denial(context, path, protected)
    return None


def _build_secret_args(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    build_args = arguments.get("build_args")
    if settings.secret_build_args == "allow" or not isinstance(build_args, dict):
        return None
    suspicious = sorted(
        str(name)
        for name, value in build_args.items()
        if is_secret_name(str(name)) or (isinstance(value, str) and looks_like_secret(value))
    )
    if not suspicious:
        return None
    advice = (
        "build args stay readable in the image's history: pass secrets when the container runs "
        "(run_container env) or build without them"
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


PROFILE_TOOLS = frozenset({"create_sandbox", "launch_agent"})
# Every tool the server offers, with the rules that apply to it. A tool not listed is denied.
RULES: dict[str, tuple[Rule, ...]] = {
    "create_sandbox": (_run_profile, _sock_mode, _sandbox_image, _workspace_mount, _profile_volumes),
    "launch_agent": (_run_profile, _timeout_ceiling, _sock_mode, _sandbox_image, _workspace_mount, _profile_volumes),
    "exec": (_timeout_ceiling,),
    "list_sandboxes": (),
    "list_nested": (),
    "remove_sandbox": (),
    "build_image": (_timeout_ceiling, _build_context, _build_secret_args),
    "run_container": (_timeout_ceiling, _nested_mounts, _nested_options),
    "container_logs": (),
    "stop_container": (),
    "remove_container": (),
    "prune": (),
    "load_image": (_loadable_image,),
    "describe_policy": (),
}


def evaluate(
    tool: str, arguments: Mapping[str, Any], settings: ServerSettings, accepted: frozenset[str] | None = None
) -> Decision:
    """The decision for one call: the first rule that denies it, else an allow naming the checks passed.

    `accepted` names the tool's parameters: any other argument is refused rather than silently
    dropped (an agent asking for `privileged: true` learns it is not available). Fails closed: a
    rule that cannot be evaluated denies the call.
    """
    try:
        if tool in RULES and accepted is not None:
            unknown = sorted(set(arguments) - accepted)
            if unknown:
                return deny(
                    rule_ids.ARGUMENTS_UNKNOWN,
                    f"{tool} has no argument {', '.join(unknown)}; "
                    + (f"its arguments are: {', '.join(sorted(accepted))}" if accepted else "it takes no arguments"),
                )
        return _evaluate(tool, arguments, settings)
    except Exception as exc:
        return deny(
            rule_ids.POLICY_ERROR, f"the policy could not judge this call ({type(exc).__name__}); nothing was done"
        )


def _evaluate(tool: str, arguments: Mapping[str, Any], settings: ServerSettings) -> Decision:
    rules = RULES.get(tool)
    if rules is None:
        return deny(rule_ids.TOOL_UNKNOWN, f"{tool!r} is not a tool of this server; tools: {', '.join(RULES)}")
    if tool in PROFILE_TOOLS:
        arguments = profile_arguments(arguments, settings)
    warnings = []
    for rule in rules:
        decision = rule(arguments, settings)
        if decision is not None and not decision.allowed:
            return decision
        if decision is not None:
            warnings.append(decision)
    if warnings:  # allowed, with what the reviewer should see
        return Decision(True, warnings[0].rule, "; ".join(w.reason for w in warnings))
    checked = ", ".join(r.__name__.lstrip("_").replace("_", "-") for r in rules) or "no argument rules apply"
    return Decision(True, rule_ids.tool_allowed(tool), f"dind mode; checks passed: {checked}")
