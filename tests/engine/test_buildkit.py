"""A BuildKit-only Dockerfile through build_image, on both inner engines (BuildKit on docker, buildah on
podman): a cache mount that outlives a build, a secret read from a file in the sandbox that never
reaches the image, the context, the result, the progress, the log or the audit log, build args, a
target stage and a heredoc; and the classic builder's refusal of it, saying how to get BuildKit."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import TESTBOX, call, dind_sandbox, tool_error

pytestmark = pytest.mark.anyio

TOKEN = "tok-" + secrets.token_hex(12)
DOCKERFILE = f"""\
FROM {TESTBOX} AS base
ARG GREETING=hi
RUN --mount=type=cache,target=/cache echo "$GREETING" >> /cache/runs; echo "cache runs: $(wc -l < /cache/runs)"
RUN --mount=type=secret,id=token echo "token bytes: $(wc -c < /run/secrets/token)"; \\
    echo "printed: $(cat /run/secrets/token)"
COPY . /ctx/
RUN <<EOT
echo "greeting $GREETING"
ls -a /ctx
EOT

FROM base AS release
RUN echo the release stage ran
"""


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("buildkit")
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "src").mkdir()
    (root / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / ".secrets").mkdir()
    (root / ".secrets" / "token").write_text(TOKEN + "\n")
    return root


@pytest.fixture(scope="module")
def bk_settings(settings: ServerSettings, tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    audit = str(tmp_path_factory.mktemp("bk-audit"))
    return settings.model_copy(update={"loadable_images": (TESTBOX,), "exec_timeout_s": 180, "audit_dir": audit})


@pytest.fixture(scope="module")
def sandbox(bk_settings: ServerSettings, engine: Engine, inner: str, project: Path) -> Iterator[str]:
    yield from dind_sandbox(bk_settings, engine, f"bk{inner[0]}-{secrets.token_hex(3)}", inner, project)


async def test_a_buildkit_only_dockerfile_builds_with_cache_mounts_secrets_args_and_a_target(
    bk_settings, engine, sandbox, inner
):
    tag = f"bk-{secrets.token_hex(3)}:1"
    build = {"sandbox": sandbox, "tag": tag, "target": "base", "secrets": {"token": ".secrets/token"}}
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(build_server(bk_settings, engine)) as client:
        first = await call(
            client, "build_image", {**build, "build_args": {"GREETING": "one"}}, progress_callback=on_progress
        )
        second = await call(client, "build_image", {**build, "build_args": {"GREETING": "two"}})
        log = await call(client, "exec", {"sandbox": sandbox, "command": ["cat", second["log_path"]]})
        raw_log = await call(
            client, "exec", {"sandbox": sandbox, "command": f"grep -c {TOKEN} {second['log_path']} || true"}
        )
        image = await call(
            client,
            "run_container",
            {"sandbox": sandbox, "image": tag, "command": "ls -A /ctx/.secrets; ls /ctx", "remove": True},
        )
        session = await client.read_resource("manyoyo://audit/session")
    assert first["builder"] == {"docker": "buildkit", "podman": "buildah"}[inner]
    assert "cache runs: 1" in first["log_tail"] and "cache runs: 2" in second["log_tail"]  # the cache outlived a build
    assert "greeting two" in log["stdout"] and "the release stage ran" not in log["stdout"]  # args, target
    assert "token bytes: 29" in log["stdout"]  # the secret was there to read ...
    assert "printed: [redacted:" in log["stdout"] and raw_log["stdout"] == "0\n"  # ... and is masked where printed
    assert image["stdout"] == "Dockerfile\nsrc\n", image  # the secret's file stayed out of the context
    assert any(t.endswith(tag) for t in second["tags"]) and second["size_bytes"] > 0 and second["steps"] >= 5
    everything = [json.dumps([first, second, log, image]), *progress, str(session)]
    everything += [p.read_text() for p in Path(bk_settings.audit_dir).glob("*.jsonl")]
    assert any("printed: [redacted:" in text for text in progress)
    for text in everything:
        assert TOKEN not in text


async def test_the_classic_builder_refuses_buildkit_syntax_saying_how_to_get_buildkit(
    bk_settings, engine, sandbox, inner
):
    build = {"sandbox": sandbox, "secrets": {"token": ".secrets/token"}}
    async with Client(build_server(bk_settings, engine)) as client:
        if inner == "podman":
            refused = await tool_error(client, "build_image", {**build, "builder": "buildkit"})
            assert "podman sandboxes build with buildah" in refused
            return
        no_secrets = await tool_error(client, "build_image", {**build, "builder": "classic"})
        classic = await tool_error(client, "build_image", {"sandbox": sandbox, "builder": "classic"})
    assert "secrets need BuildKit" in no_secrets
    assert "requires BuildKit" in classic and "What to do: use BuildKit: leave `builder` out" in classic


async def test_pruning_the_build_cache_gives_back_buildkits_space_and_its_cache_mounts(
    bk_settings, engine, sandbox, inner
):
    build = {"sandbox": sandbox, "target": "base", "secrets": {"token": ".secrets/token"}, "no_cache": True}
    async with Client(build_server(bk_settings, engine)) as client:
        await call(client, "build_image", build)
        pruned = await call(client, "prune", {"sandbox": sandbox, "containers": False, "images": "none"})
        again = await call(client, "build_image", build)
    if inner == "podman":  # buildah keeps no cache of its own beside its layers (pruned with images)
        assert pruned["bytes_by_kind"].get("build_cache", 0) == 0 and "cache runs: " in again["log_tail"]
        return
    assert any(i["kind"] == "build_cache" for i in pruned["items"]) and pruned["bytes_by_kind"]["build_cache"] > 0
    assert "cache runs: 1" in again["log_tail"]  # the cache mount went with the build cache
