"""The host engine's resources: what its machine has (for ceilings), what a container uses,
stopping one (idle sandboxes), the sandboxes' networks."""

from __future__ import annotations

import contextlib
import os
import re
import time
from datetime import datetime
from pathlib import Path

import docker.errors
import docker.types

from manyoyo_mcp.engine.connection import Connection
from manyoyo_mcp.engine.types import HostFacts, RuntimeProfile
from manyoyo_mcp.errors import ObjectNotFound

PID_MAX = Path("/proc/sys/kernel/pid_max")


class Resources(Connection):
    def host_facts(self) -> HostFacts:
        """CPUs and memory as the engine reports them; kernel.pid_max and the free space under the
        engine's data root read on this machine when the engine runs here, else pid_max as the
        kernel sets it by default for that many CPUs and the free space unknown."""
        with self._mapped():
            info = self._client().info()
        cpus, memory = int(info.get("NCPU") or 1), int(info.get("MemTotal") or 0)
        default_pid_max = max(32768, 1024 * cpus)  # the kernel's default (kernel/pid.c)
        if not self._local():
            return HostFacts(cpus, memory, default_pid_max, None, "the engine's report (pid_max estimated)")
        try:
            pid_max = int(PID_MAX.read_text())
        except (OSError, ValueError):
            pid_max = default_pid_max
        free = None
        with contextlib.suppress(OSError):
            stat = os.statvfs(str(info.get("DockerRootDir") or "/var/lib/docker"))
            free = stat.f_bavail * stat.f_frsize
        return HostFacts(cpus, memory, pid_max, free, "this machine")

    def _ulimits(self, api: docker.APIClient, profile: RuntimeProfile) -> list[docker.types.Ulimit] | None:
        """The profile's ulimits on a cgroup v2 host, where they are needed; none on a v1 host, whose
        engine may be unable to raise them (runc: "error setting rlimit type 8", as on these CI hosts)."""
        if not profile.ulimits:
            return None
        cgroup = getattr(self, "_cgroup_version", None)
        if cgroup is None:
            cgroup = self._cgroup_version = str(api.info().get("CgroupVersion") or "1")
        if cgroup != "2":
            return None
        return [docker.types.Ulimit(name=n, soft=s, hard=h) for n, s, h in profile.ulimits]

    def _local(self) -> bool:
        url = self._docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return url.startswith("unix://") and PID_MAX.exists()

    def memory_usage(self, container_id: str) -> int | None:
        """Bytes of memory the container uses now (page cache it could give back excluded), or None
        when it is not running."""
        with self._mapped():
            stats = self._client().stats(container_id, stream=False, one_shot=True)
        memory = stats.get("memory_stats") or {}
        if "usage" not in memory:
            return None
        details = memory.get("stats") or {}
        cache = details.get("total_inactive_file", details.get("inactive_file", 0))  # as `docker stats` shows it
        return max(0, int(memory["usage"]) - int(cache))

    def stop_container(self, container_id: str, timeout_s: int) -> None:
        """Stop a container (SIGTERM, SIGKILL after `timeout_s`); stopped or gone already is fine."""
        with contextlib.suppress(ObjectNotFound), self._mapped():
            self._client().stop(container_id, timeout=timeout_s)

    def create_network(self, name: str, labels: dict[str, str], internal: bool = False) -> None:
        """A bridge network for one sandbox (`internal`: no route out of it at all).

        The engine's duplicate-name check is best effort: two concurrent creates of a name can both
        succeed, and the name is then ambiguous to every later call. So each creator keeps the same
        one (the first by creation time, then id) and removes the others (unused: just made)."""
        api = self._client()
        with self._mapped():
            api.create_network(name, driver="bridge", internal=internal, labels=labels, check_duplicate=True)
            named = sorted(
                (r for r in api.networks(names=[name]) if r["Name"] == name), key=lambda r: (r["Created"], r["Id"])
            )
            for row in named[1:]:
                with contextlib.suppress(docker.errors.APIError):  # gone already, or the other's in use
                    api.remove_network(row["Id"])

    def remove_network(self, name: str) -> None:
        """Remove a network by id or name; one already gone is no error."""
        with contextlib.suppress(ObjectNotFound), self._mapped():
            self._client().remove_network(name)

    def list_networks(self, labels: dict[str, str]) -> list[str]:
        """The ids of the networks with all of `labels` (ids: a name may be held twice for a moment)."""
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        with self._mapped():
            return [row["Id"] for row in self._client().networks(filters=filters)]

    def unused_network_age(self, name: str) -> float | None:
        """Seconds since the network `name` was made, if no container is attached to it; None when
        one is, or when there is no such network."""
        try:
            with self._mapped():
                data = self._client().inspect_network(name)
        except ObjectNotFound:
            return None
        if data.get("Containers"):
            return None
        created = re.sub(r"(\.\d{6})\d+", r"\1", str(data.get("Created", ""))).replace("Z", "+00:00")
        try:
            return time.time() - datetime.fromisoformat(created).timestamp()
        except ValueError:
            return None
