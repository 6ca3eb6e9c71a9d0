"""The one seam to container engines: the only package that imports `docker`.

Everything here is synchronous (docker-py is); async callers run it in worker threads.
docker-py exceptions are mapped to the project's own at this boundary and nowhere else.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from manyoyo_mcp.engine.exec_transport import end_response, nested_api_client, read_frames
from manyoyo_mcp.engine.nested import (
    BuildStream,
    DiskUsage,
    LogStream,
    NestedContainer,
    NestedContainerState,
    NestedEngine,
    NestedImage,
    NestedInventory,
    NestedMount,
    NestedNetwork,
    NestedPort,
    NestedRunSpec,
    NestedVolume,
    PruneReport,
)
from manyoyo_mcp.errors import EngineFailure, EngineUnavailable, ImageMissing, ObjectConflict, ObjectNotFound
from manyoyo_mcp.runtime import RuntimeProfile

CONTROL_TIMEOUT_S = 120

START_ENGINE_HELP = (
    "Start it (as root: `dockerd > /var/log/dockerd.log 2>&1 &`, or `sudo systemctl start docker`; "
    "in a manyoyo-mcp checkout: `scripts/engine-up`), or point DOCKER_HOST / MANYOYO_DOCKER_HOST at a "
    "running engine, then call the tool again."
)


@dataclass(frozen=True, slots=True)
class Mount:
    source: str
    target: str
    kind: Literal["volume", "bind"]
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """A container to create, built by the caller from validated, policy-approved fields only."""

    name: str
    image: str
    labels: dict[str, str]
    environment: dict[str, str]
    mounts: tuple[Mount, ...]
    nano_cpus: int
    memory_bytes: int
    pids_limit: int
    profile: RuntimeProfile
    hostname: str | None = None
    working_dir: str | None = None
    ports: tuple[tuple[str, int | None, int, str], ...] = ()
    """Published ports: (host ip, host port or None for any, container port, protocol)."""


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    id: str
    name: str
    state: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class ContainerDetails:
    id: str
    name: str
    state: str
    image: str
    labels: dict[str, str]
    created: str
    started_at: str
    nano_cpus: int
    memory_bytes: int
    pids_limit: int
    mounts: tuple[Mount, ...] = field(default=())


@dataclass(slots=True)
class ExecStream:
    """A running exec: iterate `chunks` for (stream, bytes) with stream 1 = stdout, 2 = stderr.

    Frames are read from the response's buffered reader, not its raw socket (as docker-py does):
    output that arrived together with the response headers sits in that buffer, and reading
    around it loses it (seen with a TCP host engine and a quick command).
    """

    exec_id: str
    _response: Any

    def chunks(self) -> Iterator[tuple[int, bytes]]:
        return read_frames(self._response.raw._fp.fp.read)

    def close(self) -> None:
        """End the stream, waking a thread blocked reading it."""
        end_response(self._response)


class Engine:
    """A host container engine, reached lazily: constructing one never touches the network."""

    def __init__(self, docker_host: str | None = None) -> None:
        self._docker_host = docker_host
        self._lock = threading.RLock()  # re-entered when a failed connect forgets the clients
        self._control: docker.APIClient | None = None
        self._streaming: docker.APIClient | None = None

    @property
    def endpoint(self) -> str:
        return self._docker_host or "DOCKER_HOST or unix:///var/run/docker.sock"

    def _client(self, streaming: bool = False) -> docker.APIClient:
        with self._lock:
            if self._control is None:
                self._control = self._connect(CONTROL_TIMEOUT_S)
            # Streams (exec output, builds) may stay silent for long: no socket timeout there;
            # the callers bound them with their own deadlines.
            if streaming and self._streaming is None:
                self._streaming = self._connect(None)
            return self._streaming if streaming else self._control  # type: ignore[return-value]

    def _connect(self, timeout: int | None) -> docker.APIClient:
        self._probe_unix_socket()
        with self._mapped():
            if self._docker_host:
                client = docker.DockerClient(base_url=self._docker_host, version="auto", timeout=timeout)
            else:
                client = docker.from_env(version="auto", timeout=timeout)
            return client.api

    def _probe_unix_socket(self) -> None:
        """Fail early, and without leaking a socket (docker-py does on a failed unix connect)."""
        url = self._docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if not url.startswith("unix://"):
            return
        path = url.removeprefix("unix://")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(5)
                probe.connect(path)
        except OSError as exc:
            raise EngineUnavailable(
                f"Cannot reach the Docker engine at {url} ({exc.strerror or exc}). {START_ENGINE_HELP}"
            ) from exc

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        try:
            yield
        except (requests.exceptions.ConnectionError, ConnectionError) as exc:
            self._forget_clients()
            raise EngineUnavailable(f"Cannot reach the Docker engine at {self.endpoint}. {START_ENGINE_HELP}") from exc
        except docker.errors.DockerException as exc:
            raise _mapped_api_error(exc, self) from exc

    @contextlib.contextmanager
    def _mapped_nested(self) -> Iterator[None]:
        """For a sandbox's engine: a lost tunnel is that call's failure, not the host engine's."""
        try:
            yield
        except docker.errors.DockerException as exc:  # first: APIError is a requests exception too
            raise _mapped_api_error(exc, None) from exc
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as exc:
            raise EngineFailure(f"the connection to the sandbox's engine was lost ({exc})") from exc

    def _forget_clients(self) -> None:
        with self._lock:
            clients, self._control, self._streaming = (self._control, self._streaming), None, None
        for client in clients:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()

    def close(self) -> None:
        """Close the engine connections (a later call reconnects)."""
        self._forget_clients()

    # -- engine ---------------------------------------------------------------------------

    def ping(self) -> dict[str, str]:
        with self._mapped():
            version = self._client().version()
        return {"version": version.get("Version", "?"), "api_version": version.get("ApiVersion", "?")}

    # -- containers -----------------------------------------------------------------------

    def list_containers(self, labels: dict[str, str]) -> list[ContainerSummary]:
        """Containers (any state) carrying every one of `labels`."""
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        with self._mapped():
            rows = self._client().containers(all=True, filters=filters)
        return [
            ContainerSummary(
                id=row["Id"],
                name=(row.get("Names") or ["/"])[0].lstrip("/"),
                state=row.get("State", "unknown"),
                labels=row.get("Labels") or {},
            )
            for row in rows
        ]

    def container_named(self, name: str) -> ContainerSummary | None:
        """The container whose name is exactly `name`, owned or not (for conflict checks)."""
        with self._mapped():
            rows = self._client().containers(all=True, filters={"name": name})
        for row in rows:
            names = [n.lstrip("/") for n in row.get("Names") or []]
            if name in names:
                return ContainerSummary(row["Id"], name, row.get("State", "unknown"), row.get("Labels") or {})
        return None

    def inspect_container(self, container_id: str) -> ContainerDetails:
        with self._mapped():
            data = self._client().inspect_container(container_id)
        host = data.get("HostConfig") or {}
        state = data.get("State") or {}
        config = data.get("Config") or {}
        return ContainerDetails(
            id=data["Id"],
            name=data["Name"].lstrip("/"),
            state=state.get("Status", "unknown"),
            image=config.get("Image", ""),
            labels=config.get("Labels") or {},
            created=data.get("Created", ""),
            started_at=state.get("StartedAt", ""),
            nano_cpus=host.get("NanoCpus") or 0,
            memory_bytes=host.get("Memory") or 0,
            pids_limit=host.get("PidsLimit") or 0,
            mounts=tuple(
                Mount(
                    source=m.get("Name") or m.get("Source", ""),
                    target=m.get("Destination", ""),
                    kind="volume" if m.get("Type") == "volume" else "bind",
                    read_only=not m.get("RW", True),
                )
                for m in data.get("Mounts") or []
            ),
        )

    def create_container(self, spec: ContainerSpec) -> str:
        api = self._client()
        profile = spec.profile
        with self._mapped():
            host_config = api.create_host_config(
                binds={m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in spec.mounts},
                nano_cpus=spec.nano_cpus,
                mem_limit=spec.memory_bytes,
                memswap_limit=spec.memory_bytes,
                pids_limit=spec.pids_limit,
                privileged=profile.privileged,
                cap_add=list(profile.cap_add) or None,
                security_opt=list(profile.security_opt) or None,
                device_cgroup_rules=list(profile.device_cgroup_rules) or None,
                cgroupns=profile.cgroupns,
                restart_policy={"Name": "no"},
                port_bindings={
                    f"{port}/{proto}": (ip,) if host is None else (ip, host) for ip, host, port, proto in spec.ports
                }
                or None,
            )
            created = api.create_container(
                image=spec.image,
                name=spec.name,
                hostname=spec.hostname,
                working_dir=spec.working_dir,
                ports=[(port, proto) for _, _, port, proto in spec.ports] or None,
                labels=spec.labels,
                environment=spec.environment,
                volumes=[m.target for m in spec.mounts],
                host_config=host_config,
                detach=True,
            )
        return created["Id"]

    def start_container(self, container_id: str) -> None:
        with self._mapped():
            self._client().start(container_id)

    def remove_container(self, container_id: str) -> None:
        """Force-remove a container and its anonymous volumes; gone already is fine."""
        with contextlib.suppress(ObjectNotFound), self._mapped():
            self._client().remove_container(container_id, force=True, v=True)

    def remove_labelled(self, labels: dict[str, str]) -> None:
        """Force-remove every container, volume, network and image carrying `labels`."""
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        api = self._client()
        with self._mapped():
            for row in api.containers(all=True, filters=filters):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_container(row["Id"], force=True, v=True)
            for row in (api.volumes(filters=filters) or {}).get("Volumes") or []:
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_volume(row["Name"], force=True)
            for row in api.networks(filters=filters):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_network(row["Id"])
            for row in api.images(filters=filters):
                with contextlib.suppress(docker.errors.APIError):  # gone, or still used elsewhere
                    api.remove_image(row["Id"], force=True)

    # -- volumes and images ---------------------------------------------------------------

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        with self._mapped():
            self._client().create_volume(name=name, labels=labels)

    def remove_volume(self, name: str) -> None:
        with contextlib.suppress(ObjectNotFound), self._mapped():
            self._client().remove_volume(name, force=True)

    def list_volumes(self, labels: dict[str, str]) -> list[str]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        with self._mapped():
            found = self._client().volumes(filters=filters)
        return [v["Name"] for v in (found or {}).get("Volumes") or []]

    def image_present(self, ref: str) -> bool:
        try:
            with self._mapped():
                self._client().inspect_image(ref)
        except (ImageMissing, ObjectNotFound):
            return False
        return True

    def pull_image(self, ref: str) -> None:
        with self._mapped():
            self._client().pull(ref)

    def build_image(
        self, context_dir: str, tag: str, build_args: dict[str, str], no_cache: bool = False
    ) -> Iterator[str]:
        """Build from a directory on the engine's host; yields log lines, raises on a failed step."""
        with self._mapped():
            events = self._client(streaming=True).build(
                path=context_dir, tag=tag, buildargs=build_args, nocache=no_cache, rm=True, forcerm=True, decode=True
            )
            for event in events:
                if "error" in event:
                    raise EngineFailure(f"image build failed: {event['error'].strip()}")
                text = event.get("stream") or event.get("status")
                if text:
                    yield text

    # -- exec -----------------------------------------------------------------------------

    def exec_start(self, container_id: str, argv: list[str], workdir: str | None, env: dict[str, str]) -> ExecStream:
        api = self._client(streaming=True)
        with self._mapped():
            created = api.exec_create(
                container_id, argv, stdout=True, stderr=True, stdin=False, tty=False, environment=env, workdir=workdir
            )
            response = _start_exec(api, created["Id"])
        return ExecStream(exec_id=created["Id"], _response=response)

    def exec_exit_code(self, exec_id: str) -> int | None:
        with self._mapped():
            info = self._client().exec_inspect(exec_id)
        return None if info.get("Running") else info.get("ExitCode")

    def nested(self, container_id: str, socket_path: str, kind: str = "docker") -> NestedEngine:
        """The engine inside a sandbox, reached through an exec tunnel (see exec_transport)."""
        with self._mapped():
            host_api = self._client()
        return NestedEngine(nested_api_client(host_api, container_id, socket_path), self._mapped_nested, kind)

    def scoped(self, labels: dict[str, str]) -> NestedEngine:
        """This engine seen through the objects carrying `labels` (sock mode's view for one sandbox)."""
        with self._mapped():
            api = self._client(streaming=True)  # builds may be silent for long
        return NestedEngine(api, self._mapped, "docker", scope=labels, owns_api=False)

    # -- files and image archives ---------------------------------------------------------

    def read_archive(self, container_id: str, path: str) -> Iterator[bytes]:
        """A tar stream of `path` inside the container (its last path component is the top entry)."""
        with self._mapped():
            chunks, _ = self._client(streaming=True).get_archive(container_id, path, chunk_size=1 << 20)
        return _mapped_iter(self._mapped, chunks)

    def write_archive(self, container_id: str, directory: str, tar: bytes) -> None:
        """Unpack a tar archive into `directory` (which must exist) inside the container."""
        with self._mapped():
            self._client().put_archive(container_id, directory, tar)

    def export_image(self, ref: str) -> Iterator[bytes]:
        """The image as a `docker save` tar stream."""
        with self._mapped():
            chunks = self._client(streaming=True).get_image(ref, chunk_size=1 << 20)
        return _mapped_iter(self._mapped, chunks)

    def image_tags(self, ref: str) -> tuple[str, tuple[str, ...]] | None:
        """(id, tags) of a host image, or None if the host engine has no such image."""
        try:
            with self._mapped():
                data = self._client().inspect_image(ref)
        except (ImageMissing, ObjectNotFound):
            return None
        return data["Id"], tuple(data.get("RepoTags") or ())

    def image_names(self) -> list[str]:
        """Every tag the host engine holds (for matching the operator's loadable patterns)."""
        with self._mapped():
            rows = self._client().images()
        return sorted({tag for row in rows for tag in row.get("RepoTags") or [] if tag != "<none>:<none>"})

    def exec_run(self, container_id: str, argv: list[str]) -> tuple[int, str, str]:
        """A short command to completion: (exit code, stdout, stderr)."""
        api = self._client()
        output: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        with self._mapped():
            created = api.exec_create(container_id, argv, stdout=True, stderr=True)
            stream = ExecStream(created["Id"], _start_exec(api, created["Id"]))
            try:
                for kind, data in stream.chunks():
                    output[kind] += data
            finally:
                stream.close()
            code = api.exec_inspect(created["Id"]).get("ExitCode")
        decode = lambda b: bytes(b).decode("utf-8", errors="replace")  # noqa: E731
        return (code if code is not None else -1), decode(output[1]), decode(output[2])


def _start_exec(api: docker.APIClient, exec_id: str) -> Any:
    """Start an exec attached, without a TTY; the upgraded response carries its framed output."""
    response = api._post_json(
        api._url("/exec/{0}/start", exec_id),
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        data={"Tty": False, "Detach": False},
        stream=True,
    )
    api._raise_for_status(response)
    return response


def _mapped_api_error(exc: docker.errors.DockerException, host: Engine | None) -> Exception:
    """The project's error for a docker-py error; `host` is forgotten when it cannot be reached."""
    if isinstance(exc, docker.errors.ImageNotFound):
        return ImageMissing(_explanation(exc))
    if isinstance(exc, docker.errors.NotFound):
        return ObjectNotFound(_explanation(exc))
    if isinstance(exc, docker.errors.APIError):
        if exc.status_code == 409:
            return ObjectConflict(_explanation(exc))
        return EngineFailure(f"the engine refused: {_explanation(exc)}")
    if host is None:
        return EngineFailure(f"the sandbox's engine failed: {exc}")
    host._forget_clients()
    return EngineUnavailable(f"Cannot reach the Docker engine at {host.endpoint} ({exc}). {START_ENGINE_HELP}")


def _explanation(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


def _mapped_iter(
    mapped: Callable[[], contextlib.AbstractContextManager[None]], chunks: Iterator[bytes]
) -> Iterator[bytes]:
    with mapped():
        yield from chunks


__all__ = [
    "BuildStream",
    "ContainerDetails",
    "ContainerSpec",
    "ContainerSummary",
    "DiskUsage",
    "Engine",
    "ExecStream",
    "LogStream",
    "Mount",
    "NestedContainer",
    "NestedContainerState",
    "NestedEngine",
    "NestedImage",
    "NestedInventory",
    "NestedMount",
    "NestedNetwork",
    "NestedPort",
    "NestedRunSpec",
    "NestedVolume",
    "ObjectConflict",
    "ObjectNotFound",
    "PruneReport",
]
