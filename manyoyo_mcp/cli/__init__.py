"""Command line: `manyoyo-mcp serve` (the stdio MCP server) and the operator's commands.

parser.py  the arguments of every command
serve.py   serve, and the configuration loader every command uses
config.py  config show | validate | init, profiles
image.py   image build
audit.py   audit tail | show | stats | verify | report
resources.py  status, gc
"""

from __future__ import annotations

import logging
import sys

from manyoyo_mcp.errors import ManyoyoError


def main(argv: list[str] | None = None) -> int:
    # Each command imports only what it uses: `serve` is what agents wait for (server/startup.py).
    from manyoyo_mcp.cli.parser import parser

    args = parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(args, "log_level", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            from manyoyo_mcp.cli.serve import serve_command

            return serve_command(args)
        if args.command == "audit":
            from manyoyo_mcp.cli.audit import audit_command

            return audit_command(args)
        from manyoyo_mcp.cli.serve import load

        if args.command == "config":
            from manyoyo_mcp.cli.config import config_command

            return config_command(args, load)
        if args.command == "profiles":
            from manyoyo_mcp.cli.config import profiles_command

            return profiles_command(load(args), args.json)
        if args.command == "status":
            from manyoyo_mcp.cli.resources import status_command

            return status_command(load(args, scope=args.scope).settings, args.json)
        if args.command == "gc":
            from manyoyo_mcp.cli.resources import gc_command

            return gc_command(load(args, scope=args.scope).settings, args)
        from manyoyo_mcp.cli.image import image_command

        return image_command(args)
    except ManyoyoError as exc:
        print(f"manyoyo-mcp: {exc}", file=sys.stderr)
        return 2
