"""The one choke point every tool call passes, before the SDK runs the tool.

    1. arrival    the call record (tool, redacted arguments, client); if it cannot be written
                  the call is refused: nothing runs unrecorded
    2. validate   tool and argument names (policy.admit), then the tool's own argument model;
                  a failure is refused and recorded like a denial (arguments.invalid)
    3. judge      the policy's rules on the validated arguments and the run profile they use
    4. decision   recorded and synced with the arrival (one fsync a call, before it acts); a
                  denial ends the call here (outcome denied): nothing reaches the engine
    5. act        the SDK runs the tool, its Resolve parameters first (the running sandbox, the
                  run profile, a human's confirmation); a service may still refuse once the
                  engine has answered (a resolved path, a quota): a second decision record
    6. outcome    ok or timeout (from the result), denied, error or timeout (from the error's
                  class), cancelled, awaiting-input (the client asks a human and calls again); a
                  crash (an exception nothing expected) becomes a readable error, recorded too
    7. deliver    the configured credentials masked in the result's structured content, then its
                  short text rendered from that (server/rendering.py): the data goes out once

Every tool error reads `Error executing tool <name>: <message>` (server/errors.py).
"""

import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import ValidationError

from manyoyo_mcp import policy
from manyoyo_mcp.audit.recorder import CallRecord, Recorder
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.errors import ManyoyoError, PolicyDenied
from manyoyo_mcp.server.errors import crash_text, project_error, tool_error_text
from manyoyo_mcp.server.rendering import render

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallState:
    """The call being served: its audit record and the arguments as the policy judged them."""

    record: CallRecord
    judged: policy.ToolCall


_CURRENT: contextvars.ContextVar[CallState | None] = contextvars.ContextVar("manyoyo_call", default=None)


def current_call() -> CallState:
    """The call being served (for resolvers, and decisions taken inside a tool)."""
    state = _CURRENT.get()
    if state is None:
        raise RuntimeError("no tool call is being served here")
    return state


def client_of(ctx: Context | None) -> dict[str, str | None]:
    """The MCP client's name and version as it introduced itself (absent on anonymous requests)."""
    try:
        info = ctx.session.client_params.client_info  # type: ignore[union-attr]
        return {"name": info.name, "version": info.version}
    except AttributeError:
        return {"name": None, "version": None}


class AuditedServer(MCPServer):
    """An MCPServer whose every tool call passes the gate (see the module's docstring)."""

    def __init__(self, *args: Any, recorder: Recorder, settings: ServerSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = recorder
        self.settings = settings

    def judge(self, name: str, arguments: dict[str, Any]) -> tuple[policy.Decision, policy.ToolCall | None]:
        """Validate, then judge (steps 2 and 3): pure, nothing is recorded or done. The ToolCall
        is None when the call was refused before its arguments were validated."""
        try:
            tool = self._tool_manager.get_tool(name)
            accepted = None if tool is None else frozenset(tool.parameters.get("properties", {}))
            refused = policy.admit(name, arguments, accepted)  # tool.unknown when there is no such tool
            refused = refused or policy.oversized(name, arguments)  # before anything reads them
            if refused is not None or tool is None:
                return refused or policy.could_not_judge(LookupError(name)), None
            metadata = tool.fn_metadata
            try:
                validated = metadata.arg_model.model_validate(metadata.pre_parse_json(arguments))
            except ValidationError as exc:
                return policy.invalid_arguments(name, _problems(exc)), None
            call = policy.tool_call(name, validated, self.settings)
        except Exception as exc:  # fail closed
            return policy.could_not_judge(exc), None
        return policy.evaluate(call, self.settings), call

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        arguments = dict(arguments or {})
        record = await self._recorded(name, self.recorder.arrive(name, arguments, client_of(context)))
        low_disk = self.recorder.disk_low()  # refused while the refusal can still be recorded
        decision, judged = (low_disk, None) if low_disk is not None else self.judge(name, arguments)
        await self._recorded(name, record.decision(decision))
        if not decision.allowed or judged is None:
            await self._refuse(name, record, PolicyDenied(decision.rule, decision.reason))
        token = _CURRENT.set(CallState(record, judged))
        try:
            result = await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:  # a crash: the SDK would answer with the tool's name alone
            raise await self._crashed(name, record, exc.__cause__ or exc) from None
        except ToolError as exc:
            await self._recorded(name, self._failed(record, exc))
            masked = self.recorder.mask(str(exc))
            if masked != str(exc):
                raise ToolError(masked) from None  # the unmasked message stays out of tracebacks too
            raise
        except anyio.get_cancelled_exc_class():
            await record.outcome("cancelled")
            raise
        except Exception as exc:
            raise await self._crashed(name, record, exc) from None
        finally:
            _CURRENT.reset(token)
        if isinstance(result, InputRequiredResult):  # the client asks a human and calls again
            await self._recorded(name, record.outcome("awaiting-input"))
            return result
        data = getattr(result, "structured_content", None) or {}
        await self._recorded(name, record.outcome("timeout" if data.get("timed_out") else "ok", result=data))
        return self._delivered(name, result)

    async def _recorded(self, name: str, write: Awaitable[T]) -> T:
        """An audit write; a log that cannot be written refuses the call with the reason."""
        try:
            return await write
        except ManyoyoError as exc:
            raise ToolError(tool_error_text(name, exc)) from exc

    async def _crashed(self, name: str, record: CallRecord, crash: BaseException) -> ToolError:
        """A crash as a readable tool error, recorded as the call's outcome (the traceback goes to the log)."""
        log.error("tool %s failed unexpectedly", name, exc_info=crash)
        text = crash_text(name, crash)
        await self._recorded(name, record.outcome("error", error=text))
        return ToolError(self.recorder.mask(text))

    async def _refuse(self, name: str, record: CallRecord, refusal: PolicyDenied) -> NoReturn:
        text = tool_error_text(name, refusal)
        await self._recorded(name, record.outcome("denied", error=text))
        raise ToolError(self.recorder.mask(text)) from refusal

    async def _failed(self, record: CallRecord, raised: ToolError) -> None:
        error = project_error(raised)
        if isinstance(error, PolicyDenied):  # refused once the engine answered: a second decision
            await record.decision(policy.Decision(False, error.rule, error.reason))
        await record.outcome(error.outcome if error is not None else "error", error=str(raised))

    def _delivered(self, tool: str, result: Any) -> Any:
        """The result as the client gets it: the configured credentials masked in its structured
        content, then its short text rendered from the masked data (and masked too: both parts are)."""
        if not isinstance(result, CallToolResult):
            return result
        mask = self.recorder.mask if self.recorder.masking else _unchanged
        structured = None if result.structured_content is None else mask(result.structured_content)
        content = [_masked_text(item, mask) for item in result.content]
        if structured is not None and not content:  # sent once (structured_only): add the short text
            content = [TextContent(type="text", text=mask(render(tool, structured)))]
        return result.model_copy(update={"content": content, "structured_content": structured})


def _unchanged(value: T) -> T:
    return value


def _masked_text(item: Any, mask: Callable[[Any], Any]) -> Any:
    return item.model_copy(update={"text": mask(item.text)}) if isinstance(item, TextContent) else item


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, error['loc'])) or 'arguments'}: {error['msg']}" for error in exc.errors(include_url=False)
    )
