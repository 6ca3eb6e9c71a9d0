"""What a credential looks like, in one table for everyone who needs to know (pure).

The policy refuses build args that look like secrets, env files and `config show` mask the
values of credential-named variables, and the audit log's redaction replaces credentials in free
text: all of them read these patterns, so what counts as a credential cannot drift apart.
"""

from __future__ import annotations

import re

# Words that make a variable or argument name a credential's: API_TOKEN, DB_PASSWORD, PASSWD,
# AWS_SECRET_ACCESS_KEY, OPENAI_API_KEY, GITHUB_AUTH ... (matched anywhere in the name, any case).
NAME_WORDS = (
    "token",
    "secret",
    "passw",
    "pwd",
    r"api[_-]?key",
    r"access[_-]?key",
    r"private[_-]?key",
    "credential",
    "auth",
)
SECRET_NAME = re.compile(rf"(?i)({'|'.join(NAME_WORDS)})")

# Values that are credentials by their form, whatever they are called: each service's token format.
VALUE_PATTERNS = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"),  # GitHub
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"),  # Anthropic, OpenAI
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API keys
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{12,}"),
)
# `user:password@` in a URL: groups (scheme://user:, password, @).
URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)")
# `NAME=value` or `NAME: value` with a credential name: groups (name, separator, value).
KEY_VALUE = re.compile(
    rf"(?i)\b([A-Z0-9_.-]*(?:{'|'.join(NAME_WORDS)})[A-Z0-9_.-]*)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s'\";&|]+)"
)
# `--password value` / `--token=value`: groups (flag with its separator, value).
FLAG_VALUE = re.compile(r"(?i)(--?(?:password|passwd|token|secret|api-key|access-key)(?:=|\s+))([^\s'\";&|]+)")


def is_secret_name(name: str) -> bool:
    """Whether a variable or argument of this name holds a credential."""
    return SECRET_NAME.search(name) is not None


def looks_like_secret(text: str) -> bool:
    """Whether `text` holds something the audit log's redaction would replace."""
    patterns = (*VALUE_PATTERNS, URL_CREDENTIALS, KEY_VALUE, FLAG_VALUE)
    return any(pattern.search(text) for pattern in patterns)


def secret_values(environment: dict[str, str]) -> set[str]:
    """The values of the credential-named variables: what is masked everywhere."""
    return {value for key, value in environment.items() if is_secret_name(key) and value}
