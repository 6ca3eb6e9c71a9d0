"""run_container's catch-up after its follow (cut, or ended early by Podman): what the capture lacks is appended."""

import anyio

from manyoyo_mcp.nested.run import _catch_up
from manyoyo_mcp.output import OutputCapture


class _Stream:
    def __init__(self, frames):
        self._frames, self.closed = frames, False

    def frames(self):
        yield from self._frames

    def close(self):
        self.closed = True


class _Nested:
    def __init__(self, frames):
        self.stream = _Stream(frames)

    def logs(self, ref, *, follow):
        assert not follow
        return self.stream


def test_the_lines_a_slow_follow_missed_are_appended_once():
    capture = OutputCapture(1024)
    capture.write(1, b"268435456\n")  # what the follow delivered before it was cut
    nested = _Nested([(1, b"268435456\n"), (2, b"warn\n"), (1, b"100\n")])
    anyio.run(_catch_up, nested, "c1", capture)
    assert (capture.stdout.text(), capture.stderr.text()) == ("268435456\n100\n", "warn\n")
    assert nested.stream.closed
