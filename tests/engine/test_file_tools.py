"""The file tools through MCP against real sandboxes, on both inner engines, in a workspace owned by
a non-root host user (uid 1000): text and binary round trips, atomic replace, parents and modes,
paging a read to its end, binary detection, listings by depth and by glob, who owns what is
written on the host (the owner by default, the sandbox's root as root, never the host's root),
refusals with what is allowed, and an audit log holding a written file's size and digest, never
its content."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from manyoyo_mcp.audit.log import read_records
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.engine import Engine
from manyoyo_mcp.server import build_server

from ..helpers import call, dind_sandbox, owned_folder, tool_error

pytestmark = pytest.mark.anyio

OWNER = 1000
SANDBOX_ROOT = 1000000  # the sandbox proper's root, as the host sees it
BINARY = bytes(range(256)) * 4 + b"\x00\xff\xfe"


@pytest.fixture(scope="module", params=["docker", "podman"])
def inner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return owned_folder(tmp_path_factory.mktemp("files"), OWNER)


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("files-audit")


@pytest.fixture(scope="module")
def file_settings(settings: ServerSettings, audit_dir: Path) -> ServerSettings:
    return settings.model_copy(
        update={
            "loadable_images": ("manyoyo-busybox:latest",),
            "audit_dir": str(audit_dir),
            "output_cap_bytes": 4096,
            "max_write_file_bytes": 64 * 1024,
        }
    )


@pytest.fixture(scope="module")
def sandbox(file_settings: ServerSettings, engine: Engine, inner: str, workspace: Path) -> Iterator[str]:
    yield from dind_sandbox(file_settings, engine, f"ft{inner[0]}-{secrets.token_hex(3)}", inner, workspace)


@pytest.fixture
def server(file_settings: ServerSettings, engine: Engine):
    return build_server(file_settings, engine)


def owner_of(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid


async def test_text_and_binary_round_trip_and_land_owned_by_the_workspace_owner(server, sandbox, workspace):
    probe = secrets.token_hex(3)
    text = "héllo wörld ✓\nline two\n"
    async with Client(server) as client:
        wrote = await call(client, "write_file", {"sandbox": sandbox, "path": f"t-{probe}.txt", "content": text})
        binary = await call(
            client,
            "write_file",
            {"sandbox": sandbox, "path": f"/workspace/b-{probe}.bin", "content": base64.b64encode(BINARY).decode(),
             "encoding": "base64"},
        )  # fmt: skip
        read_text = await call(client, "read_file", {"sandbox": sandbox, "path": f"t-{probe}.txt"})
        read_binary = await call(client, "read_file", {"sandbox": sandbox, "path": f"b-{probe}.bin", "limit": 4096})
    assert wrote["path"] == f"/workspace/t-{probe}.txt" and wrote["created"] is True, wrote
    assert wrote["bytes"] == len(text.encode()) and wrote["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert (wrote["uid"], wrote["gid"], wrote["mode"]) == (OWNER, OWNER, "0644"), wrote
    assert (workspace / f"t-{probe}.txt").read_text() == text
    assert (workspace / f"b-{probe}.bin").read_bytes() == BINARY
    assert owner_of(workspace / f"t-{probe}.txt") == (OWNER, OWNER)  # the host's developer can edit it
    assert read_text["encoding"] == "utf-8" and read_text["content"] == text and read_text["truncated"] is False
    assert read_binary["encoding"] == "base64" and base64.b64decode(read_binary["content"]) == BINARY
    assert read_binary["size"] == len(BINARY) and read_binary["next_offset"] is None, binary


async def test_root_writes_as_the_sandboxes_root_never_the_hosts(server, sandbox, workspace):
    probe = secrets.token_hex(3)
    async with Client(server) as client:
        wrote = await call(
            client, "write_file", {"sandbox": sandbox, "path": f"r-{probe}", "content": "x", "user": "root"}
        )
    assert (wrote["uid"], wrote["user"]) == (0, "root")
    assert owner_of(workspace / f"r-{probe}") == (SANDBOX_ROOT, SANDBOX_ROOT)


async def test_a_replace_is_atomic_keeps_the_mode_and_a_reader_never_sees_half(server, sandbox, workspace):
    probe = secrets.token_hex(3)
    name = f"a-{probe}"
    (workspace / name).write_text("A" * 50_000)
    os.chown(workspace / name, OWNER, OWNER)
    os.chmod(workspace / name, 0o600)
    before = os.stat(workspace / name).st_ino
    # A reader in the sandbox copies the file in a loop while it is replaced: every copy must be whole.
    watch = (
        f"touch /tmp/reading-{probe}; for i in $(seq 1 3000); do cp /workspace/{name} /tmp/r-{probe}; "
        f"n=$(wc -c </tmp/r-{probe}); a=$(tr -dc A </tmp/r-{probe} | wc -c); b=$(tr -dc B </tmp/r-{probe} | wc -c); "
        '[ "$n" = 50000 ] && { [ "$a" = 50000 ] || [ "$b" = 50000 ]; } || echo "torn $n $a $b"; '
        '[ "$b" = 50000 ] && { echo whole; exit 0; }; done; echo never-replaced'
    )
    result: dict = {}
    async with Client(server) as client:

        async def read_along() -> None:
            result.update(await call(client, "exec", {"sandbox": sandbox, "command": watch}))

        async with anyio.create_task_group() as group:
            group.start_soon(read_along)
            with anyio.fail_after(60):
                while (await call(client, "exec", {"sandbox": sandbox, "command": f"ls /tmp/reading-{probe}"}))[
                    "exit_code"
                ]:
                    await anyio.sleep(0.1)
            wrote = await call(client, "write_file", {"sandbox": sandbox, "path": name, "content": "B" * 50_000})
    assert (workspace / name).read_text() == "B" * 50_000
    assert os.stat(workspace / name).st_ino != before  # a new file renamed over the old one
    assert wrote["created"] is False and wrote["mode"] == "0600" and wrote["uid"] == OWNER, wrote
    assert "torn" not in result["stdout"] and result["stdout"].endswith("whole\n"), result
    assert [p.name for p in workspace.iterdir() if p.name.startswith(f".{name}.")] == []  # no temporary left


async def test_parents_and_mode_are_made_as_asked_and_refused_without_parents(server, sandbox, workspace):
    probe = secrets.token_hex(3)
    deep = f"/workspace/p-{probe}/x/y/run.sh"
    async with Client(server) as client:
        refused = await tool_error(client, "write_file", {"sandbox": sandbox, "path": deep, "content": "echo hi\n"})
        made = await call(
            client,
            "write_file",
            {"sandbox": sandbox, "path": deep, "content": "#!/bin/sh\necho hi\n", "parents": True, "mode": "0755"},
        )
        ran = await call(client, "exec", {"sandbox": sandbox, "command": [deep]})
    assert "does not exist: pass parents=true" in refused, refused
    assert made["mode"] == "0755" and ran["stdout"] == "hi\n"
    assert oct(os.stat(workspace / f"p-{probe}" / "x").st_mode & 0o777) == "0o755"
    assert owner_of(workspace / f"p-{probe}" / "x" / "y") == (OWNER, OWNER)


async def test_a_read_pages_to_the_end_without_splitting_characters(server, sandbox, workspace):
    probe = secrets.token_hex(3)
    text = "".join(f"{i:04d} ünïcode ✓\n" for i in range(800))  # > 4 KiB, multi-byte characters
    (workspace / f"page-{probe}").write_text(text)
    pages, offset = [], 0
    async with Client(server) as client:
        too_big = await tool_error(client, "read_file", {"sandbox": sandbox, "path": f"page-{probe}", "limit": 8192})
        while offset is not None:
            page = await call(
                client, "read_file", {"sandbox": sandbox, "path": f"page-{probe}", "offset": offset, "limit": 1000}
            )
            pages.append(page)
            offset = page["next_offset"]
    assert "limits.file-size-ceiling" in too_big and "4096" in too_big, too_big
    assert all(p["encoding"] == "utf-8" and p["bytes"] <= 1000 for p in pages)
    assert "".join(p["content"] for p in pages) == text
    assert pages[-1]["truncated"] is False and all(p["truncated"] for p in pages[:-1])
    assert pages[0]["size"] == len(text.encode())


async def test_a_listing_goes_to_its_depth_and_a_glob_finds_its_matches(server, sandbox, workspace):
    probe = secrets.token_hex(3)
    top = workspace / f"l-{probe}"
    (top / "src" / "pkg").mkdir(parents=True)
    (top / "src" / "a.py").write_text("a = 1\n")
    (top / "src" / "pkg" / "b.py").write_text("b = 22\n")
    (top / "README").write_text("r")
    (top / "link").symlink_to("src/a.py")
    root = f"/workspace/l-{probe}"
    async with Client(server) as client:
        shallow = await call(client, "list_files", {"sandbox": sandbox, "path": root})
        deep = await call(client, "list_files", {"sandbox": sandbox, "path": root, "depth": 3})
        cut = await call(client, "list_files", {"sandbox": sandbox, "path": root, "depth": 3, "max_entries": 2})
        globbed = await call(client, "list_files", {"sandbox": sandbox, "pattern": f"l-{probe}/**/*.py"})
        not_folder = await tool_error(client, "list_files", {"sandbox": sandbox, "path": f"{root}/README"})
    assert [(e["name"], e["type"]) for e in shallow["entries"]] == [
        ("README", "file"), ("link", "symlink"), ("src", "dir")
    ]  # fmt: skip
    assert next(e for e in shallow["entries"] if e["name"] == "link")["target"] == "src/a.py"
    assert [e["path"].removeprefix(root) for e in deep["entries"]] == [
        "/README", "/link", "/src", "/src/a.py", "/src/pkg", "/src/pkg/b.py"
    ]  # fmt: skip
    assert next(e for e in deep["entries"] if e["name"] == "b.py")["size"] == 7
    assert cut["truncated"] is True and len(cut["entries"]) == 2
    assert [e["path"] for e in globbed["entries"]] == [f"{root}/src/a.py", f"{root}/src/pkg/b.py"]
    assert "is not a folder" in not_folder


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"path": "/nope/missing.txt"}, "does not exist"),
        ({"path": "/workspace"}, "is a folder: list it with list_files"),
        ({"path": "/dev/null"}, "not a regular file"),
        ({"path": "/etc/shadow"}, "permission denied on /etc/shadow"),
        ({"path": ""}, "path is empty"),
    ],
)
async def test_a_read_is_refused_with_what_is_allowed(server, sandbox, arguments, says):
    async with Client(server) as client:
        message = await tool_error(client, "read_file", {"sandbox": sandbox, **arguments})
    assert says in message, message


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"content": "!!not base64!!", "encoding": "base64"}, "not valid base64"),
        ({"content": "x", "mode": "4755"}, "'0000' to '0777'"),
        ({"content": "x", "mode": "rw-r--r--"}, "octal permission bits"),
        ({"content": "x" * (64 * 1024 + 1)}, "limits.file-size-ceiling"),
        ({"content": "x", "path": "/etc/passwd"}, "permission denied"),
        ({"content": "x", "path": "/workspace"}, "not a regular file"),
        ({"content": "x", "user": "70000"}, "sandbox.user-unmapped"),
    ],
)
async def test_a_write_is_refused_with_what_is_allowed(server, sandbox, arguments, says):
    async with Client(server) as client:
        message = await tool_error(client, "write_file", {"sandbox": sandbox, "path": "w-refused", **arguments})
    assert says in message, message


async def test_the_audit_log_keeps_a_files_size_and_digest_never_its_content(server, sandbox, audit_dir):
    secret_like = f"content-{secrets.token_hex(8)}"
    digest = hashlib.sha256(secret_like.encode()).hexdigest()
    async with Client(server) as client:
        await call(client, "write_file", {"sandbox": sandbox, "path": f"audited-{digest[:6]}", "content": secret_like})
        read = await call(client, "read_file", {"sandbox": sandbox, "path": f"audited-{digest[:6]}"})
    assert read["content"] == secret_like
    records = [r for _, _, r, _ in read_records(audit_dir) if r is not None]
    assert secret_like not in str(records)
    (arrival,) = [r for r in records if r["event"] == "call" and r["tool"] == "write_file" and
                  r["args"].get("path") == f"audited-{digest[:6]}"]  # fmt: skip
    assert arrival["args"]["content"] == {"bytes": len(secret_like), "sha256": digest}
    outcome = next(r for r in records if r["event"] == "outcome" and r["call"] == arrival["call"])
    assert outcome["status"] == "ok" and outcome["sha256"] == digest and outcome["file_bytes"] == len(secret_like)
