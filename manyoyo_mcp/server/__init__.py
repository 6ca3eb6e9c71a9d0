"""The MCP server: the app wiring, the gate every call passes, and the tools.

app.py           build_server: the App (settings, engine, services, recorder) and its tools
gate.py          AuditedServer.call_tool: record, validate, judge, record, act, record
errors.py        the project's errors as the tool errors the agent reads (one format)
params.py        parameter types the tools share; the running sandbox and run profile (Resolve)
confirmation.py  sock mode's confirmation by a human (elicitation) or the operator
startup.py       the phases of a start, timed
tools/           one module per tool group

Importing the package loads nothing else: `serve` times each phase of its start, the MCP SDK's
import among them (app.py loads on first use of a name below).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from manyoyo_mcp.server.app import AUDIT_RESOURCE, App, build_server

__all__ = ["AUDIT_RESOURCE", "App", "build_server"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from manyoyo_mcp.server import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
