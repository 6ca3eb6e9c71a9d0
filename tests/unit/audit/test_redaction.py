"""Redaction (pure): credentials in commands become stable markers; harmless text stays."""

from __future__ import annotations

import json

import pytest

from manyoyo_mcp.audit.redaction import Redactor

SECRETS = [
    (
        "export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "export",
    ),
    ("curl -H 'Authorization: Bearer abc.def-ghi_jkl012345' api", "abc.def-ghi_jkl012345", "curl -H"),
    ("git clone https://bob:hunter2hunter@example.test/r.git", "hunter2hunter", "@example.test/r.git"),
    (
        "ANTHROPIC_API_KEY=sk-ant-api03-aaaaaaaaaaaaaaaaaaaa claude -p hi",
        "sk-ant-api03-aaaaaaaaaaaaaaaaaaaa",
        "claude -p hi",
    ),
    ("aws s3 ls # AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP", "aws s3 ls"),
    ("mysql --password=s3cretpass -u root", "s3cretpass", "-u root"),
    ('DB_PASSWORD="two words" ./run', "two words", "./run"),
    (
        "echo '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----'",
        "b3BlbnNzaC1rZXk",
        "echo",
    ),
]


@pytest.mark.parametrize(("command", "secret", "kept"), SECRETS)
def test_credentials_in_a_command_become_markers_and_the_command_stays_readable(command, secret, kept):
    redacted = Redactor(b"key").text(command)
    assert secret not in redacted and "[redacted:" in redacted
    assert kept in redacted


def test_env_and_build_args_are_redacted_everywhere_with_stable_fingerprints():
    redactor = Redactor(b"key")
    safe, found = redactor.arguments(
        {"command": "echo plainvalue1", "env": {"A": "plainvalue1", "B": "other-val"}, "build_args": {"V": "bv-123"}}
    )
    text = json.dumps(safe)
    assert "plainvalue1" not in text and "other-val" not in text and "bv-123" not in text
    assert safe["env"]["A"] == redactor.marker("plainvalue1") != safe["env"]["B"]
    assert safe["command"] == f"echo {redactor.marker('plainvalue1')}"
    assert sorted(found) == ["bv-123", "other-val", "plainvalue1"]
    assert Redactor(b"other key").marker("plainvalue1") != redactor.marker("plainvalue1")


def test_harmless_text_is_left_alone():
    text = "docker build -t app:test . && echo the token count is 3 && ls ~/.ssh"
    assert Redactor(b"key").text(text) == text


@pytest.mark.parametrize(
    ("env", "secrets"),
    [
        ('{"TOKEN": "tok-in-json-1"}', ["tok-in-json-1"]),  # a map as JSON text, as the Inspector's CLI sends it
        ("TOKEN=tok-in-json-1", ["TOKEN=tok-in-json-1"]),
        (["TOKEN=tok-in-json-1"], ["TOKEN=tok-in-json-1"]),
        ("{not json tok-in-json-1", ["{not json tok-in-json-1"]),
        (7, []),
        (None, []),
    ],
)
def test_an_env_that_is_not_a_map_is_recorded_without_failing_and_stays_secret(env, secrets):
    safe, found = Redactor(b"key").arguments({"command": "true", "env": env})
    assert found == secrets
    assert "tok-in-json-1" not in json.dumps(safe)
