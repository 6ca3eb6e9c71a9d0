"""What marks a container or volume as this server's, and how an agent's reference finds one.

Docker accepts any unique id prefix as a reference, so an agent's "a" could hit a host
container. Here a reference matches an owned sandbox's exact name or full id, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

LABEL_PREFIX = "io.manyoyo.mcp."
MANAGED = LABEL_PREFIX + "managed"
SCOPE = LABEL_PREFIX + "scope"
SANDBOX = LABEL_PREFIX + "sandbox"
ENGINE = LABEL_PREFIX + "engine"
MODE = LABEL_PREFIX + "mode"
WORKSPACE = LABEL_PREFIX + "workspace"
KIND = LABEL_PREFIX + "kind"
DISK = LABEL_PREFIX + "disk"  # the disk quota in bytes, or "none"
NETWORK = LABEL_PREFIX + "network"  # the sandbox's egress mode
NETWORK_ALLOW = LABEL_PREFIX + "network-allow"  # its allowlist, comma-separated
IMAGE_NETWORK = LABEL_PREFIX + "network-containment"  # on a sandbox image: its outer init enforces it
IMAGE_DISK_QUOTA = LABEL_PREFIX + "disk-quota"  # on a sandbox image: "loop", its outer init makes quotas
SOCK_OF = LABEL_PREFIX + "sock-of"  # in sock mode: the sandbox (full id) whose tools made the object
POOL_SHAPE = LABEL_PREFIX + "pool-shape"  # made for the warm pool: the digest of what it was made for
IMAGE_STORE = LABEL_PREFIX + "image-store"  # on a podman sandbox: the shared image store it reads
IMAGE_SHARES = LABEL_PREFIX + "shared-images"  # on a sandbox image: "podman", its podman reads the store
POOLING = "-POOLING"
POOLED = "-POOLED"
DRAINING = "-DRAINING"
"""The container name's ending while a sandbox is made for the warm pool (POOLING), once it is
ready and waits there (POOLED), and while the pool removes it (DRAINING). Handing it out or
removing it renames it by its current name first: an atomic step of the engine, so one taker wins.
Sandbox names are lowercase, so no agent's sandbox can be named like any of them."""
KEEPER = "-KEEPER"
"""The container name's ending of a shared image store's keeper (image_store.py)."""

_FULL_ID = re.compile(r"[0-9a-f]{64}")


def owner_labels(scope: str) -> dict[str, str]:
    """The labels that every object this server creates carries, and that every lookup filters on."""
    return {MANAGED: "true", SCOPE: scope}


def container_name(scope: str, sandbox: str) -> str:
    """The engine-side name of a sandbox; prefixed so it cannot collide with a user's own containers."""
    return f"manyoyo-{sandbox}" if scope == "default" else f"manyoyo-{scope}-{sandbox}"


def is_pooled(container_name: str) -> bool:
    """Whether a sandbox's container is the warm pool's (made for it or waiting: no agent's yet)."""
    return container_name.endswith((POOLING, POOLED, DRAINING))


def image_store_volume(scope: str) -> str:
    """The volume holding this scope's shared image store (image_store.py): uppercase, so no
    sandbox's own volume can be named like it."""
    return container_name(scope, "images") + "-STORE"


def network_name(scope: str, sandbox: str) -> str:
    """The Docker network a sandbox alone is on (its egress rules live in its outer container)."""
    return container_name(scope, sandbox) + "-net"


def engine_volume_name(scope: str, sandbox: str) -> str:
    """The named volume holding a sandbox's nested engine storage."""
    return container_name(scope, sandbox) + "-engine"


class Labelled(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...


Owned = TypeVar("Owned", bound=Labelled)


def match_reference(reference: str, owned: Iterable[Owned]) -> Owned | None:
    """The owned sandbox whose sandbox name (its label) or full container id is exactly `reference`."""
    for container in owned:
        if container.labels.get(SANDBOX) == reference:
            return container
        if _FULL_ID.fullmatch(reference) and container.id == reference:
            return container
    return None


def is_sandbox_of(labels: Mapping[str, str], scope: str, name: str) -> bool:
    """Whether a container with these labels is the sandbox `name` of `scope` (made by any server)."""
    wanted = {**owner_labels(scope), KIND: "sandbox", SANDBOX: name}
    return all(labels.get(key) == value for key, value in wanted.items())
