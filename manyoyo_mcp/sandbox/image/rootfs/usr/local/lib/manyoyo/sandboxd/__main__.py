"""Entry point: `python3 -I /usr/local/lib/manyoyo/sandboxd [--replace]` (see __init__.py)."""

import os
import sys

# The package's parent, in place of the package's own folder (whose module names are not the
# standard library's to shadow).
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from sandboxd.server import main  # noqa: E402

main(sys.argv[1:])
