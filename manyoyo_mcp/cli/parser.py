"""The command line's arguments: `serve`, `config`, `profiles`, `image build`, `audit`."""

from __future__ import annotations

import argparse
from typing import Any

from manyoyo_mcp import __version__
from manyoyo_mcp.cli.audit import add_audit_parser
from manyoyo_mcp.config.layers import USER_FILE
from manyoyo_mcp.config.settings import DEFAULT_IMAGE
from manyoyo_mcp.sandbox.runtime import PROFILES


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manyoyo-mcp", description="Docker-in-Docker sandboxes for coding agents, over MCP."
    )
    parser.add_argument("--version", action="version", version=f"manyoyo-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the MCP server over stdio (what agent configs launch)")
    serve.add_argument("--docker-host", help="host engine endpoint (default: DOCKER_HOST or the local socket)")
    serve.add_argument("--scope", help="ownership scope: servers see only sandboxes of their own scope")
    serve.add_argument("--image", dest="sandbox_image", help=f"sandbox image (default {DEFAULT_IMAGE})")
    serve.add_argument("--engine", dest="default_engine", choices=["docker", "podman"], help="default inner engine")
    serve.add_argument("--runtime-profile", choices=sorted(PROFILES), help="outer container security profile")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.add_argument("--max-sandboxes", type=int, help="how many sandboxes this scope may hold")
    serve.add_argument("--default-run", help="run profile used when the agent names none")
    serve.add_argument("--allowed-host-root", dest="allowed_host_roots", action="append", help="(repeatable)")
    config_sources(serve)

    config = commands.add_parser("config", help="the configuration: files, env vars, flags")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    show_config = config_commands.add_parser("show", help="every value with the file or flag it came from")
    show_config.add_argument("--json", action="store_true")
    config_sources(show_config)
    validate = config_commands.add_parser("validate", help="check a user or project file (default: all sources)")
    validate.add_argument("file", nargs="?", help="a manyoyo.json (user) or .manyoyo.json (project) file")
    init = config_commands.add_parser("init", help="write a commented example user file")
    init.add_argument("--path", default=USER_FILE, help=f"where (default {USER_FILE})")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    profiles = commands.add_parser("profiles", help="run profiles and agents")
    profiles.add_argument("--json", action="store_true")
    config_sources(profiles)

    image = commands.add_parser("image", help="the sandbox image")
    image_commands = image.add_subparsers(dest="image_command", required=True)
    build = image_commands.add_parser("build", help="build the sandbox image (progress on stderr)")
    build.add_argument("--base", default=None, help="base image (default debian:trixie-slim)")
    build.add_argument(
        "--agents", default="all", help="agent CLIs to install: all (default), none, or names (claude,codex,...)"
    )
    build.add_argument(
        "--ca-certificates",
        action="append",
        default=None,
        metavar="PATH",
        help="extra CA certificates to trust (a .crt file or a folder; repeatable). "
        "Default: the host's, /usr/local/share/ca-certificates",
    )
    build.add_argument("--tag", default=None, help=f"image tag (default: the configured image, {DEFAULT_IMAGE})")
    build.add_argument("--no-cache", action="store_true")
    build.add_argument("--docker-host")

    add_audit_parser(commands)
    add_resource_parsers(commands)
    return parser


def add_resource_parsers(commands: Any) -> None:
    """`status` and `gc` (cli/resources.py runs them)."""
    shown = commands.add_parser("status", help="each sandbox's disk, memory, age and idle time; totals; the audit log")
    shown.add_argument("--json", action="store_true")
    shown.add_argument("--scope", help="the server scope (default: the configured one)")
    config_sources(shown)
    gc = commands.add_parser("gc", help="stop (or remove) sandboxes idle past the TTL")
    gc.add_argument("--ttl", help="idle longer than this (30m, 8h, 2d); default MANYOYO_IDLE_TTL")
    gc.add_argument("--action", choices=["stop", "remove"], help="default MANYOYO_IDLE_ACTION (stop)")
    gc.add_argument("--dry-run", action="store_true", help="list what would be done")
    gc.add_argument("--json", action="store_true")
    gc.add_argument("--scope", help="the server scope (default: the configured one)")
    config_sources(gc)


def config_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help=f"user file (default: MANYOYO_CONFIG or {USER_FILE})")
    parser.add_argument("--project", help="project folder holding .manyoyo.json (default: the current folder)")
