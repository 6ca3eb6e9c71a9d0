"""A build context re-packed for the builder: rooted, .dockerignore applied, capped (pure)."""

from __future__ import annotations

import io
import tarfile

import pytest

from manyoyo_mcp.engine.build_context import dockerignore_patterns, repack_context
from manyoyo_mcp.errors import InvalidArgument


def _tar(entries: dict[str, bytes | None], link: tuple[str, str] | None = None) -> list[bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.LNKTYPE, link[1]
            tar.addfile(info)
    raw = buffer.getvalue()
    return [raw[i : i + 1000] for i in range(0, len(raw), 1000)]  # as a stream of chunks


def test_repacked_context_is_rooted_ignores_what_dockerignore_says_and_adds_inline_files():
    archive = _tar(
        {
            "app/": None,
            "app/Dockerfile": b"FROM x\n",
            "app/.dockerignore": b"node_modules\n*.log\n!keep.log\n",
            "app/src/main.py": b"print(1)\n",
            "app/node_modules/dep/index.js": b"x" * 5000,
            "app/debug.log": b"noise",
            "app/keep.log": b"kept",
        },
        link=("app/src/alias.py", "app/src/main.py"),
    )
    patterns = dockerignore_patterns("# comment\nnode_modules\n*.log\n!keep.log\n\n")
    packed, _ = repack_context(
        iter(archive),
        ignore_patterns=patterns,
        keep={"Dockerfile"},
        extra_files={"inline.D": b"FROM y\n"},
        max_bytes=10**6,
    )
    with packed, tarfile.open(fileobj=packed) as tar:
        names = set(tar.getnames())
        assert tar.getmember("src/alias.py").linkname == "src/main.py"
        assert tar.extractfile("inline.D").read() == b"FROM y\n"
    assert names == {"Dockerfile", ".dockerignore", "src/main.py", "src/alias.py", "keep.log", "inline.D"}


def test_a_context_over_the_cap_is_refused_with_advice():
    with pytest.raises(InvalidArgument, match=r"\.dockerignore"):
        repack_context(
            iter(_tar({"c/big": b"x" * 3000})), ignore_patterns=[], keep=set(), extra_files={}, max_bytes=2000
        )


def test_secret_files_in_the_context_are_left_out_whatever_dockerignore_says():
    archive = _tar({"app/": None, "app/Dockerfile": b"FROM x\n", "app/.npmrc": b"token", "app/keep": b"k"})
    packed, _ = repack_context(
        iter(archive),
        ignore_patterns=["!.npmrc"],
        keep={"Dockerfile"},
        extra_files={".manyoyo-secret-ab": b"value"},
        max_bytes=10_000,
        exclude=frozenset({".npmrc"}),
    )
    with packed, tarfile.open(fileobj=packed) as tar:
        assert sorted(tar.getnames()) == [".manyoyo-secret-ab", "Dockerfile", "keep"]
