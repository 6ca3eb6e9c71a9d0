"""The project's errors, sorted by who can act on them, each with the outcome the audit log records.

    ManyoyoError                 every error below; its message is written for the agent  (error)
    ├── InvalidArgument          the call's arguments are wrong; the message says what is allowed
    │   ├── ConfigError          a configuration file or value is wrong; names the file and the key
    │   └── EnvFileError         an env file cannot be used; names the file and the line
    ├── PolicyDenied             the policy refuses the call; carries the rule id           (denied)
    ├── FileRefused              a file tool's operation the sandbox refused: not found, a folder, denied
    ├── SandboxNotFound          no owned sandbox by that name or id; lists the valid names
    ├── SandboxConflict          the name is taken (by another sandbox or a foreign container)
    ├── SandboxNotRunning        the sandbox exists but is stopped
    ├── SandboxNotReady          the nested engine did not answer in time; carries its log tail
    ├── FirstCommandFailed       a run profile's `first` command failed; the sandbox was removed
    ├── ContainerNotFound        no nested container by that name or id; lists the valid ones
    ├── ImageMissing             an image is not where it is needed; says how to build or load it
    ├── BuildFailed              a build step failed; names the step and carries its output
    │   └── BuildTimedOut        the build ran past its timeout and was stopped            (timeout)
    ├── TimedOut                 a step of the call ran past its time and was stopped      (timeout)
    ├── AuditUnavailable         the audit log cannot be written: nothing runs unrecorded
    ├── NestedEngineDown         a sandbox's own engine was not answering; says what the server found
    │                            and did about it (restarted it), and what to do next
    ├── EngineUnavailable        the host's container engine cannot be reached; says how to start it
    └── EngineFailure            the engine refused or failed an operation
        ├── ObjectNotFound       no object by that id or name
        ├── ObjectConflict       a conflicting object (usually a name in use)
        ├── EngineTimeout        an engine did not answer a request in time                (timeout)
        ├── NestedEngineLost     the connection to a sandbox's own engine failed (refused, cut, or
        │                        no answer in time); the server looks into the sandbox and says why
        └── ChannelError         a service inside a sandbox did not answer as it should

Only `manyoyo_mcp.engine` turns docker-py exceptions into these (engine/errors.py); the server
turns these into the tool errors the agent reads (server/errors.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal

Outcome = Literal["error", "denied", "timeout"]


class ManyoyoError(Exception):
    """Base class: the message is safe and useful to show to the agent."""

    outcome: ClassVar[Outcome] = "error"
    """The status of the call's outcome record when this error ends it."""


class InvalidArgument(ManyoyoError):
    pass


class ConfigError(InvalidArgument):
    pass


class EnvFileError(InvalidArgument):
    pass


class PolicyDenied(ManyoyoError):
    """A call the policy refuses; the message names the rule and what is allowed instead."""

    outcome = "denied"

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"denied by policy rule {rule}: {reason}")
        self.rule = rule
        self.reason = reason


class FileRefused(ManyoyoError):
    """A file tool's operation the sandbox refused (not found, a folder, permission denied ...);
    the message says what is allowed."""


class SandboxNotFound(ManyoyoError):
    pass


class SandboxConflict(ManyoyoError):
    pass


class SandboxNotRunning(ManyoyoError):
    pass


class SandboxNotReady(ManyoyoError):
    pass


class FirstCommandFailed(ManyoyoError):
    """A run profile's `first` command failed in a new sandbox (which was removed)."""


class ContainerNotFound(ManyoyoError):
    pass


class ImageMissing(ManyoyoError):
    pass


class BuildFailed(ManyoyoError):
    """A build step failed; the message names the step and carries its output."""


class BuildTimedOut(BuildFailed):
    """The build ran past its timeout and was stopped; the message names the step it was at."""

    outcome = "timeout"


class TimedOut(ManyoyoError):
    """A step of the call ran past its time and was stopped; the message says which and what is left."""

    outcome = "timeout"


class AuditUnavailable(ManyoyoError):
    """The audit log cannot be written: the server refuses to act (fail closed)."""


class EngineUnavailable(ManyoyoError):
    pass


class EngineFailure(ManyoyoError):
    pass


class ObjectNotFound(EngineFailure):
    """The engine has no object by that id or name."""


class ObjectConflict(EngineFailure):
    """The engine refused because of a conflicting object (usually a name in use)."""


class EngineTimeout(EngineFailure):
    """An engine did not answer one request within its phase's time (see engine/connection.py)."""

    outcome = "timeout"


class NestedEngineLost(EngineFailure):
    """The connection to a sandbox's own engine failed: refused, cut, or no answer in time."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class NestedEngineDown(ManyoyoError):
    """A sandbox's own engine was not answering: what the server found, what it did (restarted
    it), and what the agent should do next."""


class ChannelError(EngineFailure):
    """A service inside a sandbox (sandboxd) did not answer as it should: gone, silent, or not
    speaking HTTP and JSON (engine/channel.py)."""
