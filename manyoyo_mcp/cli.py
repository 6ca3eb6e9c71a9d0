"""Command line: `manyoyo-mcp serve` (the stdio MCP server) and operator commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from manyoyo_mcp import __version__
from manyoyo_mcp.config.loader import USER_FILE, LoadedConfig, load_config
from manyoyo_mcp.config.settings import DEFAULT_IMAGE, ServerSettings
from manyoyo_mcp.config_cli import config_command, profiles_command
from manyoyo_mcp.errors import ManyoyoError
from manyoyo_mcp.sandbox.runtime import PROFILES


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
    serve.add_argument("--max-sandboxes", type=int, help="how many sandboxes this scope may hold")
    serve.add_argument("--default-run", help="run profile used when the agent names none")
    serve.add_argument("--allowed-host-root", dest="allowed_host_roots", action="append", help="(repeatable)")
    _config_sources(serve)

    config = commands.add_parser("config", help="the configuration: files, env vars, flags")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    show_config = config_commands.add_parser("show", help="every value with the file or flag it came from")
    show_config.add_argument("--json", action="store_true")
    _config_sources(show_config)
    validate = config_commands.add_parser("validate", help="check a user or project file (default: all sources)")
    validate.add_argument("file", nargs="?", help="a manyoyo.json (user) or .manyoyo.json (project) file")
    init = config_commands.add_parser("init", help="write a commented example user file")
    init.add_argument("--path", default=USER_FILE, help=f"where (default {USER_FILE})")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    profiles = commands.add_parser("profiles", help="run profiles and agents")
    profiles.add_argument("--json", action="store_true")
    _config_sources(profiles)

    image = commands.add_parser("image", help="the sandbox image")
    image_commands = image.add_subparsers(dest="image_command", required=True)
    build = image_commands.add_parser("build", help="build the sandbox image (progress on stderr)")
    build.add_argument("--base", default=None, help="base image (default debian:bookworm-slim)")
    build.add_argument("--tag", default=None, help=f"image tag (default: the configured image, {DEFAULT_IMAGE})")
    build.add_argument("--no-cache", action="store_true")
    build.add_argument("--docker-host")

    audit = commands.add_parser("audit", help="review the audit log")
    audit.add_argument("--dir", help="audit directory (default: MANYOYO_AUDIT_DIR or ~/.manyoyo/audit)")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    tail = audit_commands.add_parser("tail", help="the last records, one per line")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    tail.add_argument("--json", action="store_true", help="the records as they are stored")
    show = audit_commands.add_parser("show", help="calls, a line each (filters combine)")
    show.add_argument("--since", help="ISO time, or a duration ago: 30m, 2h, 1d")
    show.add_argument("--until", help="ISO time, or a duration ago")
    show.add_argument("--sandbox")
    show.add_argument("--tool")
    show.add_argument("--client", help="the MCP client's name")
    show.add_argument("--denied", action="store_true", help="only calls the policy denied")
    show.add_argument("--errors", action="store_true", help="only calls that failed, timed out or were cancelled")
    show.add_argument("--json", action="store_true", help="each call with its records, as JSON lines")
    stats = audit_commands.add_parser("stats", help="calls per tool, denials per rule, outcomes, durations")
    stats.add_argument("--json", action="store_true")
    verify_command = audit_commands.add_parser(
        "verify", help="check the hash chain; name the first record edited, removed or moved"
    )
    verify_command.add_argument("--json", action="store_true")
    report = audit_commands.add_parser("report", help="a self-contained HTML page to open in a browser")
    report.add_argument("--html", required=True, metavar="FILE")
    return parser


def _config_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help=f"user file (default: MANYOYO_CONFIG or {USER_FILE})")
    parser.add_argument("--project", help="project folder holding .manyoyo.json (default: the current folder)")


def _load(args: argparse.Namespace, **flags: object) -> LoadedConfig:
    user_file = getattr(args, "config", None) or os.environ.get("MANYOYO_CONFIG") or USER_FILE
    return load_config(user_file, getattr(args, "project", None), flags=flags)


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
        if args.command == "audit":
            return _audit(args)
        if args.command == "config":
            return config_command(args, _load)
        if args.command == "profiles":
            return profiles_command(_load(args), args.json)
        return _image_build(args)
    except ManyoyoError as exc:
        print(f"manyoyo-mcp: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from manyoyo_mcp.server import build_server  # imports mcp: about a second, so only here

    loaded = _load(
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
    for notice in loaded.notices:
        logging.getLogger("manyoyo_mcp").warning("configuration: %s", notice)
    logging.getLogger("manyoyo_mcp").info(
        "manyoyo-mcp %s serving on stdio (scope %s, image %s)", __version__, settings.scope, settings.sandbox_image
    )
    build_server(settings).run()
    return 0


def _image_build(args: argparse.Namespace) -> int:
    from manyoyo_mcp.engine import Engine
    from manyoyo_mcp.sandbox.image_build import DEFAULT_BASE, build_sandbox_image

    settings: ServerSettings = _load(args, docker_host=args.docker_host).settings
    tag = args.tag or settings.sandbox_image
    base = args.base or DEFAULT_BASE
    print(f"building {tag} on {base} ...", file=sys.stderr)
    build_sandbox_image(
        Engine(settings.docker_host), tag, base, args.no_cache, on_line=lambda line: print(line, file=sys.stderr)
    )
    print(f"built {tag}", file=sys.stderr)
    return 0


def _audit(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from manyoyo_mcp.audit import review as audit_review
    from manyoyo_mcp.audit.log import read_records, verify

    directory = Path(args.dir).expanduser() if args.dir else _load(args).settings.audit_path
    if not directory.is_dir():
        raise ManyoyoError(f"no audit log at {directory} (set --dir or MANYOYO_AUDIT_DIR)")
    command = args.audit_command
    if command == "verify":
        count, problem = verify(directory)
        if args.json:
            print(
                json.dumps({"records": count, "intact": problem is None, "problem": str(problem) if problem else None})
            )
            return 0 if problem is None else 1
        if problem is None:
            print(f"ok: {count} records in {directory}, the chain is intact")
            return 0
        print(f"BROKEN after {count - 1} good records: {problem}")
        return 1
    if command == "tail":
        seen = [r for _, _, r, _ in read_records(directory) if r is not None]
        show = (lambda r: json.dumps(r, ensure_ascii=False)) if args.json else audit_review.record_line
        for record in seen[-args.n :]:
            print(show(record), flush=True)
        last = seen[-1]["seq"] if seen else 0
        while args.follow:
            time.sleep(0.5)
            for _, _, record, _ in read_records(directory):
                if record is not None and record.get("seq", 0) > last:
                    print(show(record), flush=True)
                    last = record["seq"]
        return 0
    calls, records = audit_review.load(directory)
    if command == "show":
        filters = audit_review.Filters(
            since=audit_review.parse_moment(args.since) if args.since else None,
            until=audit_review.parse_moment(args.until) if args.until else None,
            sandbox=args.sandbox,
            tool=args.tool,
            denied=args.denied,
            errors=args.errors,
            client=args.client,
        )
        chosen = [c for c in calls if filters.accepts(c)]
        if args.json:
            for call in chosen:
                print(json.dumps(call.as_dict(), ensure_ascii=False))
        else:
            print(audit_review.table(chosen))
        return 0
    if command == "stats":
        summary = audit_review.stats(calls)
        print(json.dumps(summary, indent=1) if args.json else audit_review.stats_text(summary))
        return 0
    Path(args.html).write_text(audit_review.html_report(calls, records, directory), encoding="utf-8")
    print(f"wrote {args.html}: {len(calls)} calls", file=sys.stderr)
    return 0
