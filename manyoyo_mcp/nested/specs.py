"""Parsing what an agent passes to the nested tools: image references, names, ports, volumes (pure)."""

from __future__ import annotations

import re

from manyoyo_mcp.engine import NestedMount, NestedPort, NestedTmpfs
from manyoyo_mcp.errors import InvalidArgument
from manyoyo_mcp.policy.allowlists import USER_FORMS, USER_SPEC, check_no_nul, sandbox_path

# The Docker reference grammar (distribution/reference), without digests for tags we create.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
_TAG = r"[\w][\w.-]{0,127}"
IMAGE_TAG = re.compile(rf"{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?")
IMAGE_REF = re.compile(rf"{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@sha256:[0-9a-f]{{64}})?")
IMAGE_ID = re.compile(r"(?:sha256:)?[0-9a-f]{12,64}")
TAG_RULE = (
    "lowercase name components of letters, digits and single separators ('.', '_', '-'), optionally a "
    "registry host and '/'-separated path, then optionally ':tag' (letters, digits, '_', '.', '-'; up to 128)"
)
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
NETWORK_NAME = CONTAINER_NAME
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
BUILD_TARGET = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
BUILD_ARG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PORT = re.compile(
    r"(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3})?:?(?P<host>\d{1,5})?:)?(?P<container>\d{1,5})(?:/(?P<proto>tcp|udp))?"
)
PORT_FORMS = (
    "'CONTAINER_PORT', 'HOST_PORT:CONTAINER_PORT' or 'IP:HOST_PORT:CONTAINER_PORT', each optionally '/tcp' or '/udp'"
)


def image_tag(tag: str) -> str:
    """A tag for an image we build: `name[:tag]` by Docker's grammar."""
    if not IMAGE_TAG.fullmatch(tag) or len(tag) > 255:
        raise InvalidArgument(f"tag {tag!r} is not a valid image tag: {TAG_RULE}; e.g. 'myapp:test'")
    return tag


def image_ref(ref: str) -> str:
    """An image to run: a reference (`name[:tag][@digest]`) or an image id."""
    if not (IMAGE_REF.fullmatch(ref) or IMAGE_ID.fullmatch(ref)) or len(ref) > 255:
        raise InvalidArgument(f"image {ref!r} is not a valid image reference: {TAG_RULE}, or an image id")
    return ref


def container_name(name: str) -> str:
    """A nested container name; InvalidArgument saying the allowed form."""
    if not CONTAINER_NAME.fullmatch(name):
        raise InvalidArgument(
            f"container name {name!r} is not allowed: 1-128 ASCII letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def network_name(name: str) -> str:
    """A nested network to join ('bridge' or a name; never host, none or container:)."""
    if not NETWORK_NAME.fullmatch(name) or name in ("host", "none", "container"):
        raise InvalidArgument(
            f"network {name!r} is not allowed: use 'bridge' or a network name of ASCII letters, digits, '_', "
            "'.' or '-' (host, none and container: networking are not available)"
        )
    return name


def port(spec: str) -> NestedPort:
    """'[IP:][HOST_PORT:]PORT[/tcp|udp]' as a port to publish on the sandbox; InvalidArgument otherwise."""
    match = _PORT.fullmatch(spec.strip())
    if not match:
        raise InvalidArgument(f"port {spec!r} is not understood: use {PORT_FORMS}, e.g. '8080:80'")
    numbers = [int(n) for n in (match["host"], match["container"]) if n is not None]
    if any(not 1 <= n <= 65535 for n in numbers):
        raise InvalidArgument(f"port {spec!r}: port numbers are 1-65535")
    if match["ip"] and any(int(part) > 255 for part in match["ip"].split(".")):
        raise InvalidArgument(f"port {spec!r}: {match['ip']} is not an IPv4 address")
    return NestedPort(
        container_port=int(match["container"]),
        protocol=match["proto"] or "tcp",  # type: ignore[arg-type]
        host_port=int(match["host"]) if match["host"] else None,
        # The sandbox's loopback unless an address is given (dockerd has --ip 127.0.0.1; podman binds
        # every address of the sandbox when none is named): other sandboxes never reach it either way.
        host_ip=match["ip"] or "127.0.0.1",
    )


def volume(spec: str) -> NestedMount:
    """'NAME:/path[:ro|rw]' (a nested volume) or '/sandbox/path:/path[:ro|rw]' (a sandbox directory,
    never a protected one: the policy refused those)."""
    check_no_nul("volume", spec)
    parts = spec.split(":")
    mode = "rw"
    if len(parts) == 3:
        source, target, mode = parts
    elif len(parts) == 2:
        source, target = parts
    else:
        raise InvalidArgument(
            f"volume {spec!r} is not understood: use 'NAME:/container/path' for a nested volume or "
            "'/sandbox/path:/container/path', optionally with ':ro'"
        )
    if mode not in ("ro", "rw"):
        raise InvalidArgument(f"volume {spec!r}: the mode may be 'ro' or 'rw', not {mode!r}")
    if not target.startswith("/"):
        raise InvalidArgument(f"volume {spec!r}: the container path must be absolute")
    target = sandbox_path("volume target", target, "/")
    if target == "/":
        raise InvalidArgument(f"volume {spec!r}: cannot mount over the container's root")
    if source.startswith("/"):  # the policy judged it (nested.mount-protected-path)
        source = sandbox_path("volume source", source, "/")
    elif not VOLUME_NAME.fullmatch(source):
        raise InvalidArgument(
            f"volume {spec!r}: the source is an absolute path inside the sandbox or a volume name of ASCII "
            "letters, digits, '_', '.' or '-'"
        )
    return NestedMount(source=source, target=target, read_only=mode == "ro")


def tmpfs(spec: str) -> NestedTmpfs:
    """'/path[:option,option...]' as a tmpfs mount (its options the policy allowed: nested.tmpfs)."""
    check_no_nul("tmpfs", spec)
    target, _, options = spec.partition(":")
    if not target.startswith("/"):
        raise InvalidArgument(f"tmpfs {spec!r}: give an absolute path in the container, e.g. '/tmp' or '/run:size=64m'")
    target = sandbox_path("tmpfs target", target, "/")
    if target == "/":
        raise InvalidArgument(f"tmpfs {spec!r}: cannot mount over the container's root (use read_only and tmpfs paths)")
    return NestedTmpfs(target, tuple(o.strip() for o in options.split(",") if o.strip()))


def user(spec: str) -> str:
    """A user to run as: 'root', a name, 'uid' or 'uid:gid' (or 'name:group'); InvalidArgument otherwise."""
    if not USER_SPEC.fullmatch(spec):
        raise InvalidArgument(f"user {spec!r} is not understood: use {USER_FORMS}, e.g. '1000:1000'")
    return spec


def build_args(args: dict[str, str]) -> dict[str, str]:
    """`args` if every name is a shell-style name and no value holds a NUL byte."""
    for key, value in args.items():
        if not BUILD_ARG.fullmatch(key):
            raise InvalidArgument(f"build arg name {key!r} is not allowed: letters, digits and '_', not first a digit")
        check_no_nul(f"build arg {key}", value)
    return args


def build_target(target: str) -> str:
    """A stage name of a multi-stage Dockerfile; InvalidArgument otherwise."""
    if not BUILD_TARGET.fullmatch(target):
        raise InvalidArgument(f"target {target!r} is not a stage name: ASCII letters, digits, '_', '.' or '-'")
    return target
