"""A sandbox as the engine reports it: its facts read from the labels the server gave it, in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from manyoyo_mcp.engine import ContainerDetails, ContainerSummary
from manyoyo_mcp.limits import Limits, format_memory
from manyoyo_mcp.models import LimitsView, NetworkView, SandboxView
from manyoyo_mcp.sandbox import ownership


@dataclass(frozen=True, slots=True)
class Sandbox:
    """One of this server's sandboxes. Built from a listing (`of(summary)`) or an inspection
    (`of(details)`); only an inspected one knows its image, creation time and limits."""

    id: str
    state: str
    labels: Mapping[str, str]
    container_name: str
    details: ContainerDetails | None = None

    @classmethod
    def of(cls, container: ContainerSummary | ContainerDetails) -> Sandbox:
        details = container if isinstance(container, ContainerDetails) else None
        return cls(container.id, container.state, dict(container.labels), container.name, details)

    @property
    def name(self) -> str:
        """The sandbox name agents use (its label; references match it exactly)."""
        return self.labels.get(ownership.SANDBOX, "")

    @property
    def engine(self) -> str:
        """The engine inside: docker or podman."""
        return self.labels.get(ownership.ENGINE, "docker")

    @property
    def mode(self) -> str:
        """dind (an engine of its own) or sock (the host's engine socket mounted)."""
        return self.labels.get(ownership.MODE, "dind")

    @property
    def is_sock(self) -> bool:
        return self.mode == "sock"

    @property
    def workspace(self) -> str | None:
        """The host folder mounted as its workspace, if any."""
        return self.labels.get(ownership.WORKSPACE)

    @property
    def network(self) -> NetworkView:
        """Its egress as the server set it (sandboxes made before egress modes existed: public)."""
        allow = self.labels.get(ownership.NETWORK_ALLOW, "")
        return NetworkView(
            mode=self.labels.get(ownership.NETWORK, "public"),  # type: ignore[arg-type]
            allow=[a for a in allow.split(",") if a],
        )

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def limits(self) -> Limits:
        """CPU cores, memory bytes and pids as the engine set them (0 where none is set)."""
        details = self._inspected()
        return Limits(details.nano_cpus / 1e9, details.memory_bytes, details.pids_limit)

    def view(self) -> SandboxView:
        """What list_sandboxes and create_sandbox show the agent."""
        details = self._inspected()
        created = parse_time(details.created)
        return SandboxView(
            name=self.name or self.container_name,
            id=self.id,
            engine=self.engine,  # type: ignore[arg-type]
            mode=self.mode,  # type: ignore[arg-type]
            state=self.state,
            image=details.image,
            workspace=self.workspace,
            network=self.network,
            limits=LimitsView(
                cpus=details.nano_cpus / 1e9,
                memory=format_memory(details.memory_bytes),
                memory_bytes=details.memory_bytes,
                pids=details.pids_limit,
            ),
            created_at=created.isoformat() if created else details.created,
            age_s=round((datetime.now(UTC) - created).total_seconds(), 1) if created else 0.0,
        )

    def _inspected(self) -> ContainerDetails:
        if self.details is None:
            raise ValueError(f"sandbox {self.name!r} was listed, not inspected: SandboxService.inspect it first")
        return self.details


def parse_time(value: str) -> datetime | None:
    # Docker gives nanoseconds ("2026-11-29T04:32:06.916434760Z"); Python takes microseconds.
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", value)
    if not match:
        return None
    fraction = (match.group(2) or ".0")[:7]
    return datetime.fromisoformat(match.group(1) + fraction).replace(tzinfo=UTC)
