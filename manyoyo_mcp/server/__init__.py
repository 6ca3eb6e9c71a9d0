"""The MCP server: the app wiring, the gate every call passes, and the tools.

app.py           build_server: the App (settings, engine, services, recorder) and its tools
gate.py          AuditedServer.call_tool: record, validate, judge, record, act, record
errors.py        the project's errors as the tool errors the agent reads (one format)
params.py        parameter types the tools share; the running sandbox and run profile (Resolve)
confirmation.py  sock mode's confirmation by a human (elicitation) or the operator
tools/           one module per tool group
"""

from manyoyo_mcp.server.app import AUDIT_RESOURCE, App, build_server

__all__ = ["AUDIT_RESOURCE", "App", "build_server"]
