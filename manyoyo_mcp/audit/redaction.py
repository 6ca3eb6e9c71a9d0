"""Keeping secrets out of the audit log while commands stay readable (pure).

Values that are secret by their place (env values, build args) and anything in free text that
looks like a credential (the patterns of manyoyo_mcp.credentials) become `[redacted:xxxxxxxx]`,
where xxxxxxxx is a keyed fingerprint: the same value gives the same marker, so a reviewer can
tell values apart without seeing them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from manyoyo_mcp.credentials import FLAG_VALUE, KEY_VALUE, URL_CREDENTIALS, VALUE_PATTERNS

# Argument names whose values are secret wherever they appear (each value of the mapping).
SECRET_MAPPINGS = frozenset({"env", "build_args"})
MIN_SECRET = 4


class Redactor:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def marker(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"[redacted:{digest[:8]}]"

    def text(self, value: str, known: Iterable[str] = ()) -> str:
        """Free text with known secret values and credential-looking parts replaced."""
        for secret in sorted(set(known), key=len, reverse=True):
            if len(secret) >= MIN_SECRET:
                value = value.replace(secret, self.marker(secret))
        for pattern in VALUE_PATTERNS:
            value = pattern.sub(lambda m: self.marker(m.group(0)), value)
        value = URL_CREDENTIALS.sub(lambda m: m.group(1) + self.marker(m.group(2)) + m.group(3), value)
        value = KEY_VALUE.sub(lambda m: m.group(1) + m.group(2) + self._value_marker(m.group(3)), value)
        return FLAG_VALUE.sub(lambda m: m.group(1) + self._value_marker(m.group(2)), value)

    def known_only(self, value: Any, known: Iterable[str]) -> Any:
        """`value` (text, or lists and mappings of it) with only the known secret values replaced:
        for results and output, where credential-looking text of the agent's own stays as it is."""
        secrets = sorted({s for s in known if len(s) >= MIN_SECRET}, key=len, reverse=True)
        if not secrets:
            return value

        def mask(item: Any) -> Any:
            if isinstance(item, str):
                for secret in secrets:
                    if secret in item:
                        item = item.replace(secret, self.marker(secret))
                return item
            if isinstance(item, dict):
                return {k: mask(v) for k, v in item.items()}
            if isinstance(item, list | tuple):
                return [mask(v) for v in item]
            return item

        return mask(value)

    def digest(self, data: bytes) -> str:
        """The keyed SHA-256 of `data` (the fingerprint key): what a large text is kept as (bounds.py)."""
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def secrets_in(self, arguments: dict[str, Any]) -> list[str]:
        """The values secret by their place (env, build args): redacted wherever they reappear.
        A map sent as JSON text (clients such as the Inspector's CLI do; the gate reads it as the
        SDK does) gives its values; any other text or list in such a place is secret whole."""
        found: list[str] = []
        for name in SECRET_MAPPINGS:
            given = arguments.get(name)
            if isinstance(given, str):
                with contextlib.suppress(ValueError):
                    given = json.loads(given) if given.lstrip().startswith("{") else given
            if isinstance(given, dict):
                found += [v for v in given.values() if isinstance(v, str)]
            elif isinstance(given, str | list):
                found += [v for v in ([given] if isinstance(given, str) else given) if isinstance(v, str) and v]
        return found

    def _value_marker(self, value: str) -> str:
        return value if value.startswith("[redacted:") else self.marker(value)

    def arguments(self, arguments: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """(the arguments safe to record, the secret values found in them for redacting elsewhere)."""
        secrets = self.secrets_in(arguments)
        return self.value(arguments, secrets, top=True), secrets

    def value(self, value: Any, known: list[str], top: bool = False) -> Any:
        if isinstance(value, str):
            return self.text(value, known)
        if isinstance(value, dict):
            if not top:
                return {str(k): self.value(v, known) for k, v in value.items()}
            return {
                str(k): (
                    {str(n): self.marker(str(v)) for n, v in v.items()}
                    if k in SECRET_MAPPINGS and isinstance(v, dict)
                    else self.value(v, known)
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v, known) for v in value]
        return value
