"""Command line: `manyoyo-mcp serve` (the stdio MCP server) and operator commands."""

from __future__ import annotations

import argparse
import logging
import sys

from manyoyo_mcp import __version__
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.runtime import PROFILES
from manyoyo_mcp.settings import DEFAULT_IMAGE, ServerSettings, settings_from_env


def _parser() -> argparse.ArgumentParser:
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

    image = commands.add_parser("image", help="the sandbox image")
    image_commands = image.add_subparsers(dest="image_command", required=True)
    build = image_commands.add_parser("build", help="build the sandbox image (progress on stderr)")
    build.add_argument("--base", default=None, help="base image (default debian:bookworm-slim)")
    build.add_argument("--tag", default=None, help=f"image tag (default: the configured image, {DEFAULT_IMAGE})")
    build.add_argument("--no-cache", action="store_true")
    build.add_argument("--docker-host")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(args, "log_level", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            return _serve(args)
        return _image_build(args)
    except ManyoyoError as exc:
        print(f"manyoyo-mcp: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from manyoyo_mcp.server import build_server  # imports mcp: about a second, so only here

    settings = settings_from_env(
        docker_host=args.docker_host,
        scope=args.scope,
        sandbox_image=args.sandbox_image,
        default_engine=args.default_engine,
        runtime_profile=args.runtime_profile,
    )
    logging.getLogger("manyoyo_mcp").info(
        "manyoyo-mcp %s serving on stdio (scope %s, image %s)", __version__, settings.scope, settings.sandbox_image
    )
    build_server(settings).run()
    return 0


def _image_build(args: argparse.Namespace) -> int:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.image import DEFAULT_BASE, build_sandbox_image

    settings: ServerSettings = settings_from_env(docker_host=args.docker_host)
    tag = args.tag or settings.sandbox_image
    base = args.base or DEFAULT_BASE
    print(f"building {tag} on {base} ...", file=sys.stderr)
    build_sandbox_image(
        Engine(settings.docker_host), tag, base, args.no_cache, on_line=lambda line: print(line, file=sys.stderr)
    )
    print(f"built {tag}", file=sys.stderr)
    return 0
