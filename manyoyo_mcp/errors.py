"""The project's errors, sorted by who can act on them.

    ManyoyoError                 every error below; its message is written for the agent
    ├── InvalidArgument          the call's arguments are wrong; the message says what is allowed
    ├── SandboxNotFound          no owned sandbox by that name or id; lists the valid names
    ├── SandboxConflict          the name is taken (by another sandbox or a foreign container)
    ├── SandboxNotRunning        the sandbox exists but is stopped
    ├── SandboxNotReady          the nested engine did not answer in time; carries its log tail
    ├── ImageMissing             the sandbox image (or its base) is not on the engine; says how to build it
    ├── EngineUnavailable        the host's container engine cannot be reached; says how to start it
    └── EngineFailure            the engine refused or failed an operation
        ├── ObjectNotFound       no object by that id or name
        └── ObjectConflict       a conflicting object (usually a name in use)

Only `manyoyo_mcp.engine` turns docker-py exceptions into these.
"""


class ManyoyoError(Exception):
    """Base class: the message is safe and useful to show to the agent."""


class InvalidArgument(ManyoyoError):
    pass


class SandboxNotFound(ManyoyoError):
    pass


class SandboxConflict(ManyoyoError):
    pass


class SandboxNotRunning(ManyoyoError):
    pass


class SandboxNotReady(ManyoyoError):
    pass


class ImageMissing(ManyoyoError):
    pass


class EngineUnavailable(ManyoyoError):
    pass


class EngineFailure(ManyoyoError):
    pass


class ObjectNotFound(EngineFailure):
    """The engine has no object by that id or name."""


class ObjectConflict(EngineFailure):
    """The engine refused because of a conflicting object (usually a name in use)."""


class FirstCommandFailed(ManyoyoError):
    """A run profile's `first` command failed in a new sandbox (which was removed)."""
