"""`manyoyo-mcp serve`: the stdio MCP server (what agent configs launch), and the configuration
every command loads (the same loader for all of them)."""

from __future__ import annotations

import argparse
import logging
import os
import signal

from manyoyo_mcp import __version__
from manyoyo_mcp.config.layers import USER_FILE
from manyoyo_mcp.config.loader import LoadedConfig, load_config


def load(args: argparse.Namespace, **flags: object) -> LoadedConfig:
    user_file = getattr(args, "config", None) or os.environ.get("MANYOYO_CONFIG") or USER_FILE
    return load_config(user_file, getattr(args, "project", None), flags=flags)


def serve_command(args: argparse.Namespace) -> int:
    from manyoyo_mcp.server.startup import Startup

    startup = Startup()
    loaded = load(
        args,
        docker_host=args.docker_host,
        scope=args.scope,
        sandbox_image=args.sandbox_image,
        default_engine=args.default_engine,
        runtime_profile=args.runtime_profile,
        max_sandboxes=args.max_sandboxes,
        default_run=args.default_run,
        allowed_host_roots=args.allowed_host_roots,
    )
    settings = loaded.settings
    startup.serving = (
        f"manyoyo-mcp {__version__} serving on stdio (scope {settings.scope}, image {settings.sandbox_image})"
    )
    startup.done("configuration")
    import mcp.server.mcpserver  # noqa: F401  (the SDK: the largest part of a start)

    startup.done("MCP SDK import")
    from manyoyo_mcp.server import build_server

    startup.done("server modules")
    for notice in loaded.notices:
        logging.getLogger("manyoyo_mcp").warning("configuration: %s", notice)
    # SIGTERM (how `timeout`, process managers and MCP hosts stop a server) ends it as Ctrl-C does:
    # the event loop cancels what runs, so calls end with their cleanup (a keeper, a half-made
    # sandbox removed) and the server's stop is recorded, instead of the process just ending.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: os.kill(os.getpid(), signal.SIGINT))
    try:
        build_server(settings, startup=startup).run()
    except KeyboardInterrupt:  # SIGINT or SIGTERM, after the cleanup above: no traceback for it
        return 0
    return 0
