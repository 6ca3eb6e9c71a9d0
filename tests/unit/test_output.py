"""Bounded output capture (pure): head and tail kept, memory bounded, progress from what is new."""

from manyoyo_mcp.output import HeadTailBuffer, OutputCapture


def test_output_under_the_cap_is_kept_whole():
    buffer = HeadTailBuffer(cap=100)
    for piece in (b"hello ", b"world"):
        buffer.write(piece)
    assert buffer.text() == "hello world"
    assert not buffer.truncated
    assert buffer.total == 11


def test_output_over_the_cap_keeps_head_and_tail_with_a_marker():
    buffer = HeadTailBuffer(cap=20)
    data = bytes(range(65, 91)) * 40  # 1040 bytes of A..Z
    for i in range(0, len(data), 7):
        buffer.write(data[i : i + 7])
    text = buffer.text()
    assert buffer.truncated
    assert buffer.total == len(data)
    assert text.startswith(data[:10].decode())
    assert text.endswith(data[-10:].decode())
    assert f"[... {len(data) - 20} bytes truncated" in text


def test_output_exactly_at_the_cap_is_not_truncated():
    buffer = HeadTailBuffer(cap=10)
    buffer.write(b"0123456789")
    assert not buffer.truncated
    assert buffer.text() == "0123456789"


def test_memory_held_stays_bounded_however_much_is_written():
    buffer = HeadTailBuffer(cap=1024)
    chunk = b"x" * 4096
    for _ in range(10_000):
        buffer.write(chunk)
    assert buffer.total == 40_960_000
    assert len(buffer._head) + len(buffer._tail) <= 1024 + 2 * 512 + 4096


def test_broken_utf8_is_replaced_not_raised():
    buffer = HeadTailBuffer(cap=100)
    buffer.write("é".encode()[:1])
    assert buffer.text() == "\ufffd"


def test_capture_routes_streams_and_reports_only_new_output():
    capture = OutputCapture(cap=1024)
    capture.write(1, b"out\n")
    capture.write(2, b"err\n")
    assert capture.take_recent() == "out\nerr\n"
    assert capture.take_recent() == ""
    capture.write(1, b"more\n")
    assert capture.take_recent() == "more\n"
    assert capture.stdout.text() == "out\nmore\n"
    assert capture.stderr.text() == "err\n"
    assert capture.total == 13


def test_unreported_output_is_bounded_to_its_most_recent_part():
    capture = OutputCapture(cap=1024)
    for i in range(10_000):
        capture.write(1, f"line {i}\n".encode())
    recent = capture.take_recent()
    assert len(recent) == OutputCapture.RECENT_CAP
    assert recent.endswith("line 9999\n")
