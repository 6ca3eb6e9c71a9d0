"""A written file's content never reaches the audit log: its size and SHA-256 stand for it."""

from __future__ import annotations

import base64
import hashlib

from manyoyo_mcp.audit.recorder import effects, without_contents


def test_write_file_content_is_kept_as_size_and_digest_of_the_bytes_written():
    text = without_contents("write_file", {"sandbox": "s", "path": "f", "content": "héllo"})
    data = bytes(range(10))
    binary = without_contents("write_file", {"content": base64.b64encode(data).decode(), "encoding": "base64"})
    assert text == {
        "sandbox": "s",
        "path": "f",
        "content": {"bytes": 6, "sha256": hashlib.sha256("héllo".encode()).hexdigest()},
    }
    assert binary["content"] == {"bytes": 10, "sha256": hashlib.sha256(data).hexdigest()}


def test_undecodable_base64_is_digested_as_given_and_other_tools_keep_their_arguments():
    odd = without_contents("write_file", {"content": "!!", "encoding": "base64"})
    assert odd["content"] == {"undecodable": True, "bytes": 2, "sha256": hashlib.sha256(b"!!").hexdigest()}
    assert without_contents("exec", {"command": "x", "content": "y"}) == {"command": "x", "content": "y"}


def test_the_outcome_names_the_file_its_size_and_digest_never_a_reads_content():
    wrote = {"path": "/workspace/f", "bytes": 3, "sha256": "ab", "mode": "0644", "user": "dev", "created": True}
    read = {"path": "/workspace/f", "bytes": 3, "content": "abc", "encoding": "utf-8"}
    assert effects("write_file", wrote) == {
        "path": "/workspace/f", "file_bytes": 3, "sha256": "ab", "mode": "0644", "user": "dev"
    }  # fmt: skip
    assert effects("read_file", read) == {"path": "/workspace/f", "file_bytes": 3}


def test_the_warm_pool_s_sandboxes_are_recorded_as_made_removed_and_handed_out():
    made = {"id": "a" * 64, "name": "sbx-1"}
    assert effects("pool", made)["created"] == ["a" * 64]
    assert effects("pool", {"id": "a" * 64, "removed": True})["removed"] == ["a" * 64]
    handed = effects("create_sandbox", {"id": "b" * 64, "name": "sbx-2", "created": True, "pooled": True})
    assert (handed["pooled"], handed["created"], handed["sandbox"]) == (True, ["b" * 64], "sbx-2")
    assert "pooled" not in effects("create_sandbox", {"id": "c" * 64, "name": "x", "created": True, "pooled": False})
