"""manyoyo-mcp: Docker-in-Docker sandboxes for coding agents, over MCP."""

__version__ = "0.1.0"
