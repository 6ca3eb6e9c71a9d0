"""Records of a bounded size (pure): a long text in a record is kept as its size, a keyed digest and
its head, so one call with a 10 MB command adds a few KB to the log, not 10 MB.

    {"$large": {"bytes": 10485760, "hmac_sha256": "9f2c...", "head": "for i in $(seq ..."}}

`bytes` counts the text's UTF-8 bytes; `hmac_sha256` is keyed with the log's fingerprint key
(`.fingerprint-key`), so the digest of a text holding a password cannot be checked by guessing,
while the operator can check a copy of the text:
`openssl dgst -sha256 -mac HMAC -macopt hexkey:$(xxd -p -c 64 .fingerprint-key) FILE`. The chain
hashes the record as stored: verifying it never needs the full text. The head is redacted like
any text of the log (a window past its end is redacted first, so a credential cut by the head's
end is not kept in part).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

LARGE = "$large"
HEAD_CHARS = 1024
REDACTION_WINDOW = 256
RECORD_FACTOR = 4
"""A whole record may hold this many values' worth (`limit` each) before its largest parts go."""
CHAIN_FIELDS = frozenset({"seq", "ts", "prev", "hash", "event", "call", "tool", "session", "sandbox"})


def large(text: str, digest: Callable[[bytes], str], redact: Callable[[str], str]) -> dict[str, Any]:
    """`text` as its size, keyed digest and redacted head."""
    data = text.encode("utf-8", "surrogatepass")
    head = redact(text[: HEAD_CHARS + REDACTION_WINDOW])[:HEAD_CHARS]
    return {LARGE: {"bytes": len(data), "hmac_sha256": digest(data), "head": head}}


def bounded(value: Any, limit: int, digest: Callable[[bytes], str], redact: Callable[[str], str] = lambda t: t) -> Any:
    """`value` (texts, lists and mappings of them) with every text (and key) longer than `limit`
    UTF-8 bytes made `large`; a mapping with more than `limit` keys or a list with more than
    `limit` items is made `large` as its JSON text."""

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return large(item, digest, redact) if len(item) > limit // 4 and _size(item) > limit else item
        if isinstance(item, dict | list | tuple) and len(item) > limit:
            return large(json.dumps(item, ensure_ascii=False, default=str), digest, redact)
        if isinstance(item, dict):
            return {(k if _size(str(k)) <= limit else _key(str(k), digest)): walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value)


def bounded_record(
    record: dict[str, Any], limit: int, digest: Callable[[bytes], str], redact: Callable[[str], str] = lambda t: t
) -> dict[str, Any]:
    """A record's fields `bounded`, then, while the whole record is over RECORD_FACTOR values'
    worth, its largest field (not one the chain or the review keys on) made `large` as JSON."""
    record = {k: (v if k in CHAIN_FIELDS else bounded(v, limit, digest, redact)) for k, v in record.items()}
    sizes = {
        k: _size(json.dumps(v, ensure_ascii=False, default=str)) for k, v in record.items() if k not in CHAIN_FIELDS
    }
    while sizes and sum(sizes.values()) > RECORD_FACTOR * limit:
        biggest = max(sizes, key=sizes.__getitem__)
        if sizes[biggest] <= limit:
            break
        record[biggest] = large(json.dumps(record[biggest], ensure_ascii=False, default=str), digest, redact)
        sizes[biggest] = _size(json.dumps(record[biggest], ensure_ascii=False))
    return record


def is_large(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {LARGE} and isinstance(value[LARGE], dict)


def shown(value: Any) -> Any:
    """A value for people: a `large` one as its head and what was cut ('head … [10.0 MB, hmac 9f2c1a2b]')."""
    if not is_large(value):
        return value
    facts = value[LARGE]
    size = int(facts.get("bytes") or 0)
    amount = f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KB"
    return f"{facts.get('head', '')} … [{amount}, hmac {str(facts.get('hmac_sha256', ''))[:8]}]"


def _key(key: str, digest: Callable[[bytes], str]) -> str:
    data = key.encode("utf-8", "surrogatepass")
    return f"{key[:64]}…[{len(data)} bytes, hmac {digest(data)[:8]}]"


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
