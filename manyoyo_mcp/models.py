"""Tool results: the structured output an agent receives (and its schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class LimitsView(BaseModel):
    cpus: float = Field(description="CPU cores the sandbox may use.")
    memory: str = Field(description="Memory limit, e.g. '4g'.")
    memory_bytes: int
    pids: int = Field(description="Maximum number of processes.")


class SandboxView(BaseModel):
    name: str = Field(description="The sandbox name: pass it as `sandbox` to the other tools.")
    id: str = Field(description="Full container id of the sandbox on the host engine.")
    engine: Literal["docker", "podman"] = Field(description="Container engine running inside the sandbox.")
    mode: Literal["dind", "sock"] = Field(description="dind: the sandbox has its own engine.")
    state: str = Field(description="running, exited, created, ...")
    image: str
    workspace: str | None = Field(description="Host directory mounted at /workspace, if any.")
    limits: LimitsView
    created_at: str
    age_s: float = Field(description="Seconds since the sandbox was created.")


class CreateSandboxResult(SandboxView):
    created: bool = Field(description="false when an existing sandbox of that name was returned.")
    ready_s: float = Field(description="Seconds this call took until the nested engine answered.")
    engine_version: str = Field(description="Version reported by the nested engine's API.")


class ListSandboxesResult(BaseModel):
    sandboxes: list[SandboxView]


class RemoveSandboxResult(BaseModel):
    name: str
    id: str
    removed_volumes: list[str] = Field(description="Volumes removed with it (the nested engine's storage).")


class ExecResult(BaseModel):
    sandbox: str
    exit_code: int | None = Field(description="Exit status of the command; null if it was killed before one was known.")
    stdout: str
    stderr: str
    stdout_bytes: int = Field(description="Bytes the command wrote to stdout (before truncation).")
    stderr_bytes: int
    truncated: bool = Field(description="true if stdout or stderr exceeded the cap; head and tail are kept.")
    duration_s: float
    timed_out: bool = Field(description="true if the command ran past timeout_s and was killed.")
    killed: bool = Field(description="true if the server killed the command's processes (and verified them gone).")


class NestedContainerView(BaseModel):
    id: str
    name: str
    image: str
    state: str = Field(description="running, exited, created, ...")
    status: str = Field(description="The engine's own summary, e.g. 'Exited (0) 5 seconds ago'.")
    created_at: str
    exit_code: int | None = Field(description="Exit code of an exited container; null otherwise.")
    ports: list[str] = Field(description="'ip:public->private/proto' when published, else 'private/proto'.")


class NestedImageView(BaseModel):
    id: str
    tags: list[str]
    size_bytes: int
    created_at: str


class NestedVolumeView(BaseModel):
    name: str
    driver: str


class NestedNetworkView(BaseModel):
    name: str
    driver: str


class ListNestedResult(BaseModel):
    sandbox: str
    engine: Literal["docker", "podman"]
    containers: list[NestedContainerView]
    images: list[NestedImageView]
    volumes: list[NestedVolumeView]
    networks: list[NestedNetworkView]
