"""The policy consulted before a tool acts: pure, deny by default, every decision with a rule id.

`evaluate(tool, arguments, settings)` judges what can be judged from the arguments alone (the
operator's allowlists, ceilings, protected paths). What needs the engine (a build context's
resolved path) is judged where it is resolved, with the same rule ids, by raising `PolicyDenied`.
Either way a denial is recorded in the audit log and nothing is done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from manyoyo_mcp import nested_specs
from manyoyo_mcp.errors import InvalidArgument, ManyoyoError
from manyoyo_mcp.settings import ServerSettings


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str
    reason: str


class PolicyDenied(ManyoyoError):
    """A call the policy refuses; the message names the rule and what is allowed instead."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"denied by policy rule {rule}: {reason}")
        self.rule = rule
        self.reason = reason


def allow(rule: str, reason: str) -> Decision:
    return Decision(True, rule, reason)


def deny(rule: str, reason: str) -> Decision:
    return Decision(False, rule, reason)


Rule = Callable[[Mapping[str, Any], ServerSettings], Decision | None]


def _timeout_ceiling(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    timeout = arguments.get("timeout_s")
    if isinstance(timeout, int | float) and timeout > settings.max_exec_timeout_s:
        return deny(
            "limits.timeout-ceiling",
            f"timeout_s may be at most {settings.max_exec_timeout_s:g} (the operator's ceiling); got {timeout:g}",
        )
    return None


def _sandbox_image(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    image = arguments.get("image")
    allowed = (settings.sandbox_image, *settings.extra_sandbox_images)
    if image is not None and image not in allowed:
        return deny(
            "sandbox.image-allowlist",
            f"image {image!r} is not allowed for sandboxes: use one of {', '.join(allowed)} "
            "(the operator adds others with MANYOYO_EXTRA_SANDBOX_IMAGES)",
        )
    return None


def _loadable_image(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    from manyoyo_mcp.transfer import loadable  # transfer imports the engine; keep this module light

    image = str(arguments.get("image", ""))
    if not loadable(image, settings.loadable_images):
        allowed = ", ".join(settings.loadable_images) or "none (the operator lists them in MANYOYO_LOADABLE_IMAGES)"
        return deny(
            "image.load-allowlist", f"host image {image!r} may not be loaded into sandboxes; allowed: {allowed}"
        )
    return None


def _nested_mounts(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    for spec in arguments.get("volumes") or ():
        source = str(spec).split(":", 1)[0]
        if source.startswith("/"):
            try:
                path = nested_specs.sandbox_path("volume source", source, "/")
            except InvalidArgument:
                continue  # malformed: the tool's own validation says how
            protected = nested_specs.forbidden_sandbox_path(path)
            if protected:
                return deny(
                    "nested.mount-protected-path",
                    f"volume {spec!r}: {protected} of the sandbox may not be mounted into a nested container (it "
                    "holds the kernel's or the engine's controls); mount a directory under /workspace or a nested "
                    "volume instead",
                )
    return None


def _build_context(arguments: Mapping[str, Any], settings: ServerSettings) -> Decision | None:
    context = arguments.get("context")
    if isinstance(context, str) and "\x00" not in context and context.strip():
        path = nested_specs.sandbox_path("context", context)
        protected = nested_specs.forbidden_sandbox_path(path)
        if protected:
            return context_denial(context, path, protected)
    return None


def context_denial(given: str, path: str, protected: str) -> Decision:
    return deny(
        "build.context-protected-path",
        f"context {given!r} resolves to {path}, under {protected}, which cannot be a build context: use a "
        "project directory such as /workspace",
    )


# Every tool the server offers, with the rules that apply to it. A tool not listed is denied.
RULES: dict[str, tuple[Rule, ...]] = {
    "create_sandbox": (_sandbox_image,),
    "exec": (_timeout_ceiling,),
    "list_sandboxes": (),
    "list_nested": (),
    "remove_sandbox": (),
    "build_image": (_timeout_ceiling, _build_context),
    "run_container": (_timeout_ceiling, _nested_mounts),
    "container_logs": (),
    "stop_container": (),
    "remove_container": (),
    "prune": (),
    "load_image": (_loadable_image,),
}


def evaluate(tool: str, arguments: Mapping[str, Any], settings: ServerSettings) -> Decision:
    """The decision for one call: the first rule that denies it, else an allow naming the checks passed."""
    rules = RULES.get(tool)
    if rules is None:
        return deny("tool.unknown", f"{tool!r} is not a tool of this server; tools: {', '.join(RULES)}")
    for rule in rules:
        decision = rule(arguments, settings)
        if decision is not None and not decision.allowed:
            return decision
    checked = ", ".join(r.__name__.lstrip("_").replace("_", "-") for r in rules) or "no argument rules apply"
    return allow(f"tool.{tool}", f"dind mode; checks passed: {checked}")
