"""`manyoyo-mcp image build`: the sandbox image, built on the host engine."""

from __future__ import annotations

import argparse
import sys

from manyoyo_mcp.cli.serve import load
from manyoyo_mcp.config.settings import ServerSettings


def image_command(args: argparse.Namespace) -> int:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.image_build import DEFAULT_BASE, build_sandbox_image

    settings: ServerSettings = load(args, docker_host=args.docker_host).settings
    tag = args.tag or settings.sandbox_image
    base = args.base or DEFAULT_BASE
    print(f"building {tag} on {base} ...", file=sys.stderr)
    build_sandbox_image(
        Engine(settings.docker_host),
        tag,
        base,
        args.no_cache,
        on_line=lambda line: print(line, file=sys.stderr),
        agents=args.agents,
        certificates=args.ca_certificates,
    )
    print(f"built {tag}", file=sys.stderr)
    return 0
