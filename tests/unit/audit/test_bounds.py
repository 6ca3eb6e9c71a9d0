"""Records of a bounded size: long texts kept as size, keyed digest and redacted head; what the
reviewer reads of them."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from manyoyo_mcp.audit.bounds import LARGE, bounded, bounded_record, is_large, shown
from manyoyo_mcp.audit.log import canonical
from manyoyo_mcp.audit.redaction import Redactor
from manyoyo_mcp.audit.report.rows import describe

KEY = b"k" * 32
REDACTOR = Redactor(KEY)
LIMIT = 4096


def bound(value: object, limit: int = LIMIT) -> object:
    return bounded(value, limit, REDACTOR.digest, lambda text: REDACTOR.text(text))


def test_a_text_past_the_limit_is_kept_as_its_size_keyed_digest_and_head():
    command = "echo start; " + "x" * 10_000_000
    kept = bound({"command": command})["command"]
    assert is_large(kept)
    facts = kept[LARGE]
    assert facts["bytes"] == len(command.encode())
    assert facts["hmac_sha256"] == hmac.new(KEY, command.encode(), hashlib.sha256).hexdigest()
    assert facts["head"].startswith("echo start; xxx") and len(facts["head"]) == 1024
    assert len(canonical(kept)) < 1200


def test_texts_within_the_limit_keys_and_other_values_stay_as_they_are():
    value = {"command": ["ls", "-la"], "timeout_s": 30, "env": {"A": "1"}, "text": "y" * LIMIT}
    assert bound(value) == value


def test_a_credential_at_the_end_of_the_head_is_redacted_not_kept_in_part():
    token = "ghp_" + "A" * 36
    text = "z" * 1009 + " " + token + " " + "q" * 10_000  # the head's end falls inside the token
    head = bound(text)[LARGE]["head"]
    assert "ghp_AAAA" not in head and "[redacted:" in head


@pytest.mark.parametrize(
    "value",
    [
        ["a"] * 100_000,  # many short items
        {f"k{i}": 1 for i in range(100_000)},  # many keys
        {"x" * 100_000: 1},  # one long key
    ],
    ids=["items", "keys", "key"],
)
def test_many_small_parts_or_a_long_key_are_bounded_too(value):
    assert len(canonical({"args": bound(value)})) < 3 * LIMIT


def test_a_whole_record_past_four_values_loses_its_largest_fields_first():
    record = {"event": "call", "call": "s-1", "tool": "exec", "client": {"name": "n" * 4000}}
    record["args"] = {f"a{i}": "v" * 4000 for i in range(20)}
    kept = bounded_record(record, LIMIT, REDACTOR.digest)
    assert is_large(kept["args"]) and kept["client"] == record["client"]
    assert (kept["event"], kept["call"], kept["tool"]) == ("call", "s-1", "exec")  # what the review keys on
    assert len(canonical(kept)) <= 4 * LIMIT + 2048


def test_the_reviewer_reads_the_head_and_what_was_cut():
    kept = bound({"command": "make all " + "x" * 3_000_000, "workdir": "/w"})
    what, extra, _ = describe("exec", kept)
    assert what.startswith("make all xxx") and "… [2.9 MB, hmac " in what and extra == "workdir=/w"
    whole = bounded_record({"event": "call", "args": {str(i): "v" * 4000 for i in range(40)}}, LIMIT, REDACTOR.digest)
    assert describe("exec", whole["args"])[0].startswith('{"0": "vvv')
    assert shown("plain") == "plain" and json.dumps(shown(kept["command"]))
