"""The file tools' pure parts: paths, modes and content checked before anything enters a sandbox,
and the program's answer read back."""

from __future__ import annotations

import pytest

from manyoyo_mcp.errors import EngineFailure, FileRefused, InvalidArgument
from manyoyo_mcp.sandbox import files


@pytest.mark.parametrize(
    ("given", "path"),
    [("/etc/hosts", "/etc/hosts"), ("src/a.py", "/workspace/src/a.py"), ("a", "/workspace/a"), ("/", "/")],
)
def test_a_relative_path_is_relative_to_the_workspace(given, path):
    assert files.sandbox_path(given) == path


@pytest.mark.parametrize("given", ["", "   ", "a\x00b"])
def test_an_empty_path_or_a_nul_byte_is_refused(given):
    with pytest.raises(InvalidArgument, match=r"empty|NUL"):
        files.sandbox_path(given)


@pytest.mark.parametrize(
    ("mode", "value"), [("0644", 0o644), ("755", 0o755), ("0000", 0), ("0777", 0o777), (None, None)]
)
def test_a_mode_is_octal_permission_bits(mode, value):
    assert files.parse_mode(mode) == value


@pytest.mark.parametrize("mode", ["4755", "1777", "0o644", "rw-r--r--", "644 ", "0888", "", "07777"])
def test_a_mode_beyond_the_permission_bits_is_refused_with_the_range(mode):
    with pytest.raises(InvalidArgument, match="'0000' to '0777'"):
        files.parse_mode(mode)


def test_content_is_text_or_strict_base64():
    assert files.decode_content("héllo", "utf-8") == "héllo".encode()
    assert files.decode_content("AAEC/w==", "base64") == b"\x00\x01\x02\xff"
    for bad in ("AAE", "AA EC", "AAEC\n/w==", "!!!!"):
        with pytest.raises(InvalidArgument, match="not valid base64"):
            files.decode_content(bad, "base64")


def test_the_programs_answer_is_a_result_a_refusal_or_a_failure():
    assert files.answer(0, '{"ok": true, "path": "/a"}\n', "", "dev") == {"path": "/a"}
    with pytest.raises(FileRefused, match=r"^/a does not exist \(as user dev; not_found\)$"):
        files.answer(0, '{"ok": false, "error": "not_found", "message": "/a does not exist"}', "", "dev")
    with pytest.raises(EngineFailure, match="need python3"):
        files.answer(127, "", "exec: python3: not found", "dev")
    with pytest.raises(EngineFailure, match=r"exit 1.*Traceback"):
        files.answer(1, "", "Traceback ...", "dev")
