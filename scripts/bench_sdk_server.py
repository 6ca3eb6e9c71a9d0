"""The reference for the start-up benchmark: a bare MCP SDK server (the low-level `Server`, stdio)
that lists the same tools, with the same schemas and instructions, as manyoyo-mcp, read from a
JSON file the benchmark captured from manyoyo-mcp itself. It does nothing else: what it costs to
answer `initialize` and `tools/list` is the SDK's own floor.

Usage: python scripts/bench_sdk_server.py TOOLS.json   (the file: {"instructions": ..., "tools": [...]})
"""

import json
import sys
from pathlib import Path

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server


def main(path: str) -> None:
    captured = json.loads(Path(path).read_text())
    tools = [types.Tool.model_validate(tool) for tool in captured["tools"]]

    async def list_tools(ctx: object, params: object) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: object, params: object) -> types.CallToolResult:
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
