"""The sandbox image's sandboxd package, imported from the source tree for its unit tests (it runs
inside sandboxes, with the standard library only; no bytecode is written next to it)."""

import sys
from pathlib import Path

import manyoyo_mcp

LIBRARY = Path(manyoyo_mcp.__file__).parent / "sandbox" / "image" / "rootfs" / "usr" / "local" / "lib" / "manyoyo"

_writing = sys.dont_write_bytecode
sys.dont_write_bytecode = True
sys.path.insert(0, str(LIBRARY))
try:
    from sandboxd import cgroups, output, record, server, spawn  # noqa: F401
finally:
    sys.path.remove(str(LIBRARY))
    sys.dont_write_bytecode = _writing
