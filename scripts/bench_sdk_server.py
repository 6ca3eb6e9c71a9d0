"""The SDK's own floor for the benchmark: a bare MCP SDK server (the low-level `Server`, stdio)
that lists the same tools, with the same schemas and instructions, as manyoyo-mcp, read from a
JSON file the benchmark captured from manyoyo-mcp itself. What it costs to answer `initialize`
and `tools/list` is the SDK's floor for a start.

It runs no tool, except `exec` of the command `bench-2mib`, which returns at once a canned result
of exec's shape with 1 MiB on each stream (structured content and a one-line text): the floor
for delivering such a result over stdio, with no command run.

Usage: python scripts/bench_sdk_server.py TOOLS.json   (the file: {"instructions": ..., "tools": [...]})
"""

import json
import sys
from pathlib import Path

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

CANNED_COMMAND = "bench-2mib"
MIB = 1 << 20


def canned_result() -> dict:
    return {
        "sandbox": "bench",
        "exit_code": 0,
        "stdout": "o" * MIB,
        "stderr": "e" * MIB,
        "stdout_bytes": MIB,
        "stderr_bytes": MIB,
        "truncated": False,
        "duration_s": 0.0,
        "timed_out": False,
        "killed": False,
    }


def main(path: str) -> None:
    captured = json.loads(Path(path).read_text())
    tools = [types.Tool.model_validate(tool) for tool in captured["tools"]]

    async def list_tools(ctx: object, params: object) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: object, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name == "exec" and (params.arguments or {}).get("command") == CANNED_COMMAND:
            text = types.TextContent(type="text", text="exit code 0, 1 MiB on each stream")
            return types.CallToolResult(content=[text], structured_content=canned_result())
        return types.CallToolResult(content=[types.TextContent(type="text", text="not implemented")], is_error=True)

    server = Server(
        "bench-sdk-reference",
        version="0",
        instructions=captured["instructions"],
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)


if __name__ == "__main__":
    main(sys.argv[1])
