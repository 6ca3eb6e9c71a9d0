"""Bounded output capture (pure): head and tail kept, memory bounded, progress from what is new."""

from manyoyo_mcp.output import HeadTailBuffer, OutputCapture, StreamEnds, allot, cut_marker, fit


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


# -- results sized for the client ----------------------------------------------------------------


def test_streams_that_fit_the_budget_together_are_kept_whole():
    assert allot({"stdout": 300, "stderr": 100}, 400) == {"stdout": 300, "stderr": 100}
    texts, truncated = fit({"stdout": StreamEnds(3, "hi\n", 3), "stderr": StreamEnds(0, "", 0)}, 100)
    assert texts == {"stdout": "hi\n", "stderr": ""} and not truncated


def test_a_small_stream_leaves_its_unused_share_to_the_other():
    assert allot({"stdout": 5000, "stderr": 100}, 1000) == {"stdout": 900, "stderr": 100}
    assert allot({"stdout": 5000, "stderr": 6000}, 1000) == {"stdout": 500, "stderr": 500}


def test_a_cut_stream_keeps_head_and_tail_and_says_where_the_whole_output_is():
    head, tail = "H" * 600, "T" * 600
    ends = StreamEnds(10_000, head, 600, tail, 9_400, "/var/lib/manyoyo-jobs/abc/stdout")
    texts, truncated = fit({"stdout": ends, "stderr": StreamEnds(0, "", 0)}, 1000)
    text = texts["stdout"]
    assert truncated
    assert text.startswith("H" * 500) and text.endswith("T" * 500) and "HT" not in text
    assert "[... 9000 bytes truncated by manyoyo-mcp" in text
    assert "/var/lib/manyoyo-jobs/abc/stdout" in text and "read_output" in text


def test_the_budget_holds_for_both_streams_together_whatever_their_sizes():
    big = StreamEnds(10**8, "a" * 5000, 5000, "b" * 5000, 10**8 - 5000)
    texts, _ = fit({"stdout": big, "stderr": big}, 4096)
    shown = sum(len(t.encode()) for t in texts.values())
    markers = sum(len(cut_marker(1, big)) + 8 for _ in texts)
    assert shown <= 4096 + markers


def test_a_cut_never_splits_a_character():
    ends = StreamEnds(9_000, "é" * 300, 600, "ü" * 300, 8_400)
    texts, _ = fit({"stdout": ends}, 301)
    text = texts["stdout"]
    assert "\ufffd" not in text
    assert text.startswith("é" * 75) and text.endswith("ü" * 75)


def test_the_fallback_capture_gives_its_ends_for_the_budget():
    buffer = HeadTailBuffer(cap=20)
    buffer.write(b"A" * 10 + b"x" * 1000 + b"Z" * 10)
    ends = buffer.ends()
    assert (ends.size, ends.head, ends.tail, ends.path) == (1020, "A" * 10, "Z" * 10, None)
    texts, truncated = fit({"stdout": ends}, 10)
    assert truncated and texts["stdout"].startswith("AAAAA") and texts["stdout"].endswith("ZZZZZ")
    assert "the whole output was not kept" in texts["stdout"]
