"""The host engine's connection: made lazily, kept, forgotten when the engine goes away.

Two docker-py clients: a control client whose every request must be answered within
CONTROL_TIMEOUT_S, and a streaming one for output that may stay silent for long (an exec's, an
image export's). A stream is bounded in two phases: starting it (the request until the engine's
answer) within CONTROL_TIMEOUT_S, then its output by the caller's own deadline, which cuts it.
A request the engine does not answer in time is an EngineTimeout naming the phase.
Constructing a Connection never touches the network; a failed connect leaves nothing open.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator

import docker
import docker.errors
import requests.exceptions

from manyoyo_mcp.engine.errors import START_ENGINE_HELP, api_error
from manyoyo_mcp.errors import EngineTimeout, EngineUnavailable

CONTROL_TIMEOUT_S = 60
"""How long one control request (list, inspect, create, start, exec create and start...) may wait
for the engine's answer."""
REMOVAL_TIMEOUT_S = 600
"""Removing a sandbox's storage deletes every file its engine wrote: that request may take longer."""


class Connection:
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
            # Streams (exec output, exports) may stay silent for long: no socket timeout there
            # once they run; starting one is bounded per request, the rest by the caller.
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
    def _mapped(self, phase: str = "a request") -> Iterator[None]:
        """docker-py's exceptions as the project's; an unreachable engine's clients are forgotten.
        `phase`: what the engine was asked, for the message of a request it did not answer in time."""
        try:
            yield
        except (requests.exceptions.Timeout, TimeoutError) as exc:  # first: a ConnectTimeout is a ConnectionError
            raise EngineTimeout(
                f"the Docker engine at {self.endpoint} did not answer {phase} in time: it may be overloaded or "
                "stuck (`docker info` on the host shows whether it answers); nothing more was asked of it. Call "
                "the tool again"
            ) from exc
        except (requests.exceptions.ConnectionError, ConnectionError) as exc:
            self._forget_clients()
            raise EngineUnavailable(f"Cannot reach the Docker engine at {self.endpoint}. {START_ENGINE_HELP}") from exc
        except docker.errors.DockerException as exc:
            mapped = api_error(exc)
            if mapped is None:
                self._forget_clients()
                mapped = EngineUnavailable(
                    f"Cannot reach the Docker engine at {self.endpoint} ({exc}). {START_ENGINE_HELP}"
                )
            raise mapped from exc

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
