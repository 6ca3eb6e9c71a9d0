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

from manyoyo_mcp.cli.audit import audit_command
from manyoyo_mcp.cli.config import config_command, profiles_command
from manyoyo_mcp.cli.image import image_command
from manyoyo_mcp.cli.parser import parser
from manyoyo_mcp.cli.resources import gc_command, status_command
from manyoyo_mcp.cli.serve import load, serve_command
from manyoyo_mcp.errors import ManyoyoError


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(args, "log_level", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            return serve_command(args)
        if args.command == "audit":
            return audit_command(args)
        if args.command == "config":
            return config_command(args, load)
        if args.command == "profiles":
            return profiles_command(load(args), args.json)
        if args.command == "status":
            return status_command(load(args, scope=args.scope).settings, args.json)
        if args.command == "gc":
            return gc_command(load(args, scope=args.scope).settings, args)
        return image_command(args)
    except ManyoyoError as exc:
        print(f"manyoyo-mcp: {exc}", file=sys.stderr)
        return 2
