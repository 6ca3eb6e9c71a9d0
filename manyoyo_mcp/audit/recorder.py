"""What the server writes to the audit log for each call: arrival, decision, outcome.

The arrival record is written (and synced) before the server acts; if it cannot be written the
call is refused. Arguments, error messages and every other string pass the redactor first, with
the call's own secret values (env, build args) redacted wherever they reappear.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from manyoyo_mcp.audit.bounds import bounded, bounded_record
from manyoyo_mcp.audit.log import AuditLog
from manyoyo_mcp.audit.redaction import Redactor
from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.limits import format_memory
from manyoyo_mcp.policy import Decision, rule_ids
from manyoyo_mcp.threads import in_thread

SESSION_RECORDS = 10_000
SESSION_BYTES = 16 * 1024 * 1024
"""This session's records kept in memory (the audit resource): the last 10,000, at most 16 MB."""


def settings_fingerprint(settings: ServerSettings) -> str:
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]


@dataclass(slots=True)
class CallRecord:
    recorder: Recorder
    call_id: str
    tool: str
    sandbox: str | None
    secrets: list[str]
    started: float = field(default_factory=time.monotonic)

    async def decision(self, decision: Decision, confirmation: str | None = None) -> None:
        await self.recorder.write(
            {
                "event": "decision",
                "call": self.call_id,
                "tool": self.tool,
                "sandbox": self.sandbox,
                "allowed": decision.allowed,
                "rule": decision.rule,
                "reason": self.recorder.redactor.text(decision.reason, self.secrets),
                "confirmation": confirmation,
            }
        )

    async def outcome(self, status: str, *, result: Mapping[str, Any] | None = None, error: str | None = None) -> None:
        facts = effects(self.tool, result) if result else {}
        record = {
            "event": "outcome",
            "call": self.call_id,
            "tool": self.tool,
            "sandbox": self.sandbox,
            "status": status,
            "duration_s": round(time.monotonic() - self.started, 3),
            **facts,
        }
        if error is not None:
            record["error"] = self.recorder.redactor.text(error, self.secrets)
        with anyio.CancelScope(shield=True):  # a cancelled call still gets its outcome recorded
            await self.recorder.write(record, sync=False)


class Recorder:
    def __init__(self, log: AuditLog, settings: ServerSettings) -> None:
        self.log = log
        self.settings = settings
        self.session = secrets.token_hex(6)
        self.records: deque[dict[str, Any]] = deque(maxlen=SESSION_RECORDS)
        self._sizes: deque[int] = deque()
        self._kept_bytes = 0
        self._calls = itertools.count(1)
        self._redactor: Redactor | None = None
        self._known: set[str] = set()
        self._masked: set[str] = set()  # configured credentials: masked in results too

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:
            self._redactor = Redactor(self.log.fingerprint_key())
        return self._redactor

    def remember(self, secrets: set[str]) -> None:
        """Secret values known beforehand (run profiles' credentials): redacted in every record."""
        self._known.update(secrets)
        self._masked.update(secrets)

    @property
    def masking(self) -> bool:
        return bool(self._masked)

    def mask(self, value: Any) -> Any:
        """A tool result, progress text or error with every known secret value replaced."""
        return self.redactor.known_only(value, self._masked)

    async def write(self, record: dict[str, Any], *, sync: bool = True) -> dict[str, Any]:
        """Append one record to the log, its long texts kept as size, digest and head (bounds.py);
        `sync`: on disk before this returns (AuditLog.append)."""
        record = bounded_record(
            {"session": self.session, **record},
            self.settings.audit_max_value_bytes,
            self.redactor.digest,
            lambda text: self.redactor.text(text, self._known),
        )
        written = await in_thread(self.log.append, record, sync=sync)
        self._keep(written)
        return written

    def _keep(self, record: dict[str, Any]) -> None:
        if len(self.records) == SESSION_RECORDS:
            self._kept_bytes -= self._sizes.popleft()  # the deque drops its oldest as this one comes in
        self.records.append(record)
        self._sizes.append(len(str(record)))
        self._kept_bytes += self._sizes[-1]
        while self._kept_bytes > SESSION_BYTES and len(self.records) > 1:
            self.records.popleft()
            self._kept_bytes -= self._sizes.popleft()

    def disk_low(self) -> Decision | None:
        """A refusal while the log's disk has less free space than the operator's reserve: calls stop
        while the reserve still lets their refusals be recorded (audit.disk-low)."""
        free = self.log.free_bytes()
        reserve = self.settings.audit_min_free_bytes
        if free is None or free >= reserve:
            return None
        return Decision(
            False,
            rule_ids.AUDIT_DISK_LOW.id,
            f"the disk holding the audit log ({self.log.directory}) has {format_memory(free)} free, below the "
            f"operator's reserve of {format_memory(reserve)} (MANYOYO_AUDIT_MIN_FREE_BYTES): no call runs until the "
            "operator frees space, so that every call stays recorded",
        )

    async def server_event(self, event: str, **facts: Any) -> None:
        await self.write({"event": event, "config": settings_fingerprint(self.settings), **facts})

    async def arrive(self, tool: str, arguments: dict[str, Any], client: Mapping[str, str | None]) -> CallRecord:
        # Secret values seen earlier in the session (a sandbox's env) are redacted in later calls too.
        self._known.update(self.redactor.secrets_in(arguments))
        known = sorted(self._known)
        arguments = without_contents(tool, arguments)
        # Long texts are cut before the redaction reads them (their heads are redacted on their own).
        limit = self.settings.audit_max_value_bytes
        short = bounded(arguments, limit, self.redactor.digest, lambda text: self.redactor.text(text, known))
        safe = self.redactor.value(short, known, top=True)
        sandbox = arguments.get("sandbox") or (arguments.get("name") if tool == "create_sandbox" else None)
        call = CallRecord(self, f"{self.session}-{next(self._calls)}", tool, sandbox, known)
        await self.write(
            {
                "event": "call",
                "call": call.call_id,
                "tool": tool,
                "sandbox": sandbox,
                "client": dict(client),
                "args": safe,
            },
            sync=False,  # synced with the decision that follows it before the call acts
        )
        return call


def without_contents(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the log keeps them: a file's content (write_file) as its size and SHA-256
    (of the bytes written, so `sha256sum` on the file checks it), never the content itself."""
    content = arguments.get("content")
    if tool != "write_file" or not isinstance(content, str):
        return arguments
    data = content.encode("utf-8", "surrogatepass")
    facts: dict[str, Any] = {}
    if arguments.get("encoding") == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except ValueError:
            facts["undecodable"] = True  # the digest is of the text given
    return {**arguments, "content": {**facts, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}


def effects(tool: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """The facts a reviewer wants from a result: exit code, output size, what was created or removed
    (and the name of a sandbox the server made, which the call's arguments may not hold)."""
    facts: dict[str, Any] = {}
    if "exit_code" in result:
        facts["exit_code"] = result["exit_code"]
    if result.get("job_id"):  # the sandboxd job a command ran as (exec, the job tools)
        facts["job"] = result["job_id"]
    if "stdout_bytes" in result:
        facts["output_bytes"] = int(result.get("stdout_bytes") or 0) + int(result.get("stderr_bytes") or 0)
    elif "stdout" in result or "output" in result:
        printed = result.get("stdout", result.get("output"))
        facts["output_bytes"] = len(str(printed or "")) + len(str(result.get("stderr") or ""))
    created: list[str] = []
    removed: list[str] = []
    if tool == "create_sandbox" and result.get("created"):
        created.append(result["id"])
    elif tool == "launch_agent" and result.get("sandbox_created"):
        created.append(result["sandbox_id"])
    elif (tool == "remove_sandbox" and result.get("id")) or (tool == "gc" and result.get("removed")):
        removed += [result["id"], *result.get("removed_volumes", [])]  # gc: an idle sandbox removed
    elif tool == "run_container" and result.get("id"):
        created.append(result["id"])
        if result.get("removed"):
            removed.append(result["id"])
    elif tool in ("build_image", "load_image") and result.get("image_id"):
        created.append(result["image_id"])
    elif tool == "remove_container" and result.get("id"):
        removed.append(result["id"])
    elif tool == "prune" and not result.get("dry_run"):
        removed += [item["id"] for item in result.get("items", [])]
    elif tool == "pool" and result.get("id"):  # the warm pool made, or removed, a waiting sandbox
        (removed if result.get("removed") else created).append(result["id"])
    if tool == "create_sandbox" and result.get("pooled"):
        facts["pooled"] = True  # handed out from the warm pool
    if tool in ("write_file", "read_file") and result.get("path"):
        facts["path"] = result["path"]
        facts["file_bytes"] = result.get("bytes")
        if tool == "write_file":
            facts.update(sha256=result.get("sha256"), mode=result.get("mode"), user=result.get("user"))
    # The sandbox by the name the server gave it (the agent may have given none).
    made = {"create_sandbox": "name", "launch_agent": "sandbox"}.get(tool)
    if made and result.get(made):
        facts["sandbox"] = result[made]
    if tool == "create_sandbox" and result.get("network"):  # the egress it got, chosen or the operator's
        facts["network"] = result["network"]
    if created:
        facts["created"] = created
    if removed:
        facts["removed"] = removed
    return facts
