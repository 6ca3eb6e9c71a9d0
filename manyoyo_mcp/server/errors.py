"""From the project's errors (manyoyo_mcp.errors) to the tool errors the agent reads.

Every tool error reads `Error executing tool <name>: <message>`, the SDK's own format; a refusal's
message is `denied by policy rule <id>: <reason, with what is allowed>`. Inside a tool or a
resolver, `maps_errors` turns a project error into an AgentError, which the SDK prefixes with the
tool's name and which keeps the project error (and so its audit outcome) for the gate. Before the
SDK runs the tool, the gate formats its own refusals with `tool_error_text`.
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from manyoyo_mcp.errors import ManyoyoError

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class AgentError(ToolError):
    """A project error on its way to the agent; `error` is what the gate records the outcome of."""

    def __init__(self, error: ManyoyoError) -> None:
        super().__init__(str(error))
        self.error = error


def maps_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an async tool or resolver: a project error becomes a tool error the agent can act on
    (logged for the operator); anything else stays a crash, which the SDK hides."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ManyoyoError as exc:
            log.info("tool error: %s", exc)
            raise AgentError(exc) from exc
        except BaseExceptionGroup as group:  # from a task group: the project error inside it
            found = first_project_error(group)
            if found is None:
                raise
            log.info("tool error: %s", found)
            raise AgentError(found) from group

    return run


def first_project_error(group: BaseExceptionGroup) -> ManyoyoError | None:
    """The first project error in a (nested) exception group, if any."""
    for inner in group.exceptions:
        if isinstance(inner, ManyoyoError):
            return inner
        if isinstance(inner, BaseExceptionGroup) and (found := first_project_error(inner)) is not None:
            return found
    return None


def innermost(crash: BaseException) -> BaseException:
    """What a single-exception group (from a task group) holds, however deep; else `crash`."""
    while isinstance(crash, BaseExceptionGroup) and len(crash.exceptions) == 1:
        crash = crash.exceptions[0]
    return crash


def tool_error_text(tool: str, message: Any) -> str:
    """The text of a tool error, as the SDK writes the ones raised inside a tool."""
    return f"Error executing tool {tool}: {message}"


CRASH_DETAIL_CHARS = 300


def crash_text(tool: str, crash: BaseException) -> str:
    """The tool error for an exception nothing expected (a fault of the server's, not a refusal):
    what it was, that the server goes on serving, and where the details are."""
    crash = innermost(crash)
    detail = " ".join(str(crash).split())
    if len(detail) > CRASH_DETAIL_CHARS:
        detail = detail[:CRASH_DETAIL_CHARS] + f"... ({len(detail)} characters)"
    what = f"{type(crash).__name__}: {detail}" if detail else type(crash).__name__
    return tool_error_text(
        tool,
        f"the server failed on this call ({what}). This is a fault in manyoyo-mcp, not a refusal: the server goes "
        "on serving, and its log (stderr) has the details. Check the arguments against describe_policy and the "
        "tool's schema, then call again; if it fails the same way, report it",
    )


def project_error(raised: ToolError) -> ManyoyoError | None:
    """The project error behind a tool error the SDK raised; None for the SDK's own and for crashes.

    The SDK raises every failure inside a tool as a ToolError whose `__cause__` is what the tool
    (or a resolver) raised: an AgentError when `maps_errors` made it."""
    cause = raised.__cause__
    return cause.error if isinstance(cause, AgentError) else None
