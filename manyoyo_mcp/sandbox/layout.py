"""Where things are inside the sandbox image (sandbox/image/): each inner engine's socket,
storage and log, and where the host workspace is mounted."""

from __future__ import annotations

ENGINE_SOCKETS: dict[str, str] = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
ENGINE_STORAGE: dict[str, str] = {"docker": "/var/lib/docker", "podman": "/var/lib/containers"}
ENGINE_LOG = "/var/log/manyoyo-engine.log"
WORKSPACE_TARGET = "/workspace"
