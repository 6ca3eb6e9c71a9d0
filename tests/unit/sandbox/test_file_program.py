"""The program the file tools run inside a sandbox, run here on temporary folders (it is plain
Python): atomic replace, parents, modes, pages that never split a character, binary detection,
listings by depth and glob, and refusals that say what is allowed."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os

import pytest

from manyoyo_mcp.sandbox import file_program as program


def run(op: str, request: dict, stdin: bytes = b"", capsys=None) -> dict:
    program.main(["-c", op, json.dumps(request)], io.BytesIO(stdin))
    return json.loads(capsys.readouterr().out)


def test_a_write_creates_then_replaces_the_file_with_a_new_inode(tmp_path, capsys):
    target = tmp_path / "f.txt"
    made = run("write", {"path": str(target)}, b"one", capsys)
    inode = target.stat().st_ino
    again = run("write", {"path": str(target), "mode": 0o600}, b"two", capsys)
    assert (
        made["ok"]
        and made["created"]
        and made["mode"] == "0644"
        and made["sha256"] == hashlib.sha256(b"one").hexdigest()
    )
    assert again["ok"] and not again["created"] and again["mode"] == "0600" and again["bytes"] == 3
    assert target.read_bytes() == b"two" and target.stat().st_ino != inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # no temporary file left


def test_a_replace_keeps_the_mode_and_writes_through_a_symlink(tmp_path, capsys):
    real = tmp_path / "real"
    real.write_text("old")
    real.chmod(0o640)
    (tmp_path / "link").symlink_to("real")
    done = run("write", {"path": str(tmp_path / "link")}, b"new", capsys)
    assert done["path"] == str(real) and done["mode"] == "0640"
    assert (tmp_path / "link").is_symlink() and real.read_text() == "new"


def test_missing_parents_are_refused_unless_asked_for(tmp_path, capsys):
    deep = tmp_path / "a" / "b" / "c.txt"
    refused = run("write", {"path": str(deep)}, b"x", capsys)
    made = run("write", {"path": str(deep), "parents": True}, b"x", capsys)
    assert refused == {"ok": False, "error": "not_found", "message": refused["message"]}
    assert "pass parents=true" in refused["message"]
    assert made["ok"] and oct((tmp_path / "a").stat().st_mode & 0o777) == "0o755"


@pytest.mark.parametrize(("setup", "kind"), [("dir", "is_a_directory"), ("file-parent", "not_a_directory")])
def test_a_write_over_a_folder_or_under_a_file_is_refused(tmp_path, capsys, setup, kind):
    (tmp_path / "x").mkdir() if setup == "dir" else (tmp_path / "x").write_text("")
    path = tmp_path / "x" if setup == "dir" else tmp_path / "x" / "y"
    assert run("write", {"path": str(path), "parents": True}, b"z", capsys)["error"] == kind


def test_a_read_pages_through_text_without_splitting_a_character(tmp_path, capsys):
    text = "aé✓" * 100  # 1, 2 and 3 byte characters
    (tmp_path / "t").write_text(text)
    pages, offset = [], 0
    while offset is not None:
        page = run("read", {"path": str(tmp_path / "t"), "offset": offset, "limit": 7}, capsys=capsys)
        assert page["encoding"] == "utf-8" and page["bytes"] <= 7
        pages.append(page["content"])
        offset = page["next_offset"]
    assert "".join(pages) == text and page["truncated"] is False and page["size"] == len(text.encode())


@pytest.mark.parametrize("data", [b"\x00abc", b"\xff\xfe\x00", bytes(range(256)), b"caf\xe9"])
def test_bytes_that_are_not_text_come_back_as_base64(tmp_path, capsys, data):
    (tmp_path / "b").write_bytes(data)
    page = run("read", {"path": str(tmp_path / "b"), "offset": 0, "limit": 4096}, capsys=capsys)
    assert page["encoding"] == "base64" and base64.b64decode(page["content"]) == data


def test_a_read_of_a_folder_a_fifo_or_nothing_is_refused(tmp_path, capsys):
    os.mkfifo(tmp_path / "fifo")  # must not block
    refusals = [
        run("read", {"path": str(tmp_path / name), "offset": 0, "limit": 10}, capsys=capsys)
        for name in ("", "fifo", "missing")
    ]
    assert [r["error"] for r in refusals] == ["is_a_directory", "not_a_file", "not_found"]
    assert "list it with list_files" in refusals[0]["message"]


def test_a_listing_goes_to_its_depth_sorted_and_is_cut_at_max_entries(tmp_path, capsys):
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "deep").write_text("x")
    (tmp_path / "a").write_text("12345")
    (tmp_path / "s").symlink_to("a")
    one = run("list", {"path": str(tmp_path), "depth": 1, "max_entries": 100}, capsys=capsys)
    three = run("list", {"path": str(tmp_path), "depth": 3, "max_entries": 100}, capsys=capsys)
    cut = run("list", {"path": str(tmp_path), "depth": 3, "max_entries": 2}, capsys=capsys)
    assert [(e["name"], e["type"], e["size"]) for e in one["entries"]][:1] == [("a", "file", 5)]
    assert [e["name"] for e in one["entries"]] == ["a", "d", "s"] and one["truncated"] is False
    assert one["entries"][2]["target"] == "a"
    assert [e["path"].removeprefix(str(tmp_path)) for e in three["entries"]] == ["/a", "/d", "/d/e", "/d/e/deep", "/s"]
    assert cut["truncated"] is True and len(cut["entries"]) == 2


def test_a_glob_matches_recursively_and_a_file_is_not_a_folder(tmp_path, capsys):
    (tmp_path / "p" / "q").mkdir(parents=True)
    for name in ("p/a.py", "p/q/b.py", "p/q/c.txt"):
        (tmp_path / name).write_text("")
    found = run("list", {"pattern": f"{tmp_path}/**/*.py", "depth": 1, "max_entries": 100}, capsys=capsys)
    refused = run("list", {"path": str(tmp_path / "p" / "a.py"), "depth": 1, "max_entries": 9}, capsys=capsys)
    assert [e["path"] for e in found["entries"]] == [f"{tmp_path}/p/a.py", f"{tmp_path}/p/q/b.py"]
    assert refused["error"] == "not_a_directory" and "read a file with read_file" in refused["message"]


def test_the_program_imports_nothing_of_the_server():
    source = program.__loader__.get_source(program.__name__)
    assert "manyoyo_mcp" not in source.split('"""', 2)[2]


@pytest.mark.parametrize("offset", [9, 10, 5000])
def test_a_read_at_or_past_the_end_gives_the_files_own_size(tmp_path, capsys, offset):
    (tmp_path / "h").write_bytes(b"123456789")
    page = run("read", {"path": str(tmp_path / "h"), "offset": offset, "limit": 100}, capsys=capsys)
    assert (page["size"], page["bytes"], page["next_offset"]) == (9, 0, None)
