"""sandboxd's pure parts (the daemon inside each sandbox): reading output files at character
boundaries, head and tail, punched ranges, the start request's checks, the operator's bounds, the
job spec a spare receives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .daemon import cgroups, output, record, server, spawn

pytestmark = pytest.mark.anyio


def test_a_range_never_ends_inside_a_character():
    data = "aé".encode()  # a, then two bytes
    assert output.utf8_end(data) == 3
    assert output.utf8_end(data[:2]) == 1
    assert output.utf8_end("€".encode()[:2]) == 0
    assert output.utf8_start("é".encode()[1:] + b"x") == 1
    assert output.utf8_start(b"plain") == 0


def test_a_read_from_the_middle_of_a_character_starts_at_the_next_one(tmp_path: Path):
    path = tmp_path / "out"
    path.write_bytes("ééé".encode())
    stream = output.Stream(str(path), 6)
    chunk = stream.read(1, 4)
    assert (chunk["offset"], chunk["text"], chunk["next"]) == (2, "é", 4)
    last = stream.read(4, 100, final=True)
    assert (last["text"], last["next"]) == ("é", 6)


def test_a_running_jobs_last_incomplete_character_waits_for_its_other_bytes(tmp_path: Path):
    path = tmp_path / "out"
    path.write_bytes(b"ab" + "é".encode()[:1])
    chunk = output.Stream(str(path), 3).read(0, 10)
    assert (chunk["text"], chunk["next"]) == ("ab", 2)


def test_reading_a_punched_range_skips_to_what_was_kept(tmp_path: Path):
    path = tmp_path / "out"
    path.write_bytes(b"h" * 10 + b"\0" * 80 + b"t" * 10)
    stream = output.Stream(str(path), 100, (10, 90))
    inside = stream.read(20, 50)
    assert (inside["offset"], inside["skipped"], inside["text"]) == (90, 70, "t" * 10)
    before = stream.read(0, 50)
    assert (before["text"], before["next"]) == ("h" * 10, 10)


def test_ends_are_the_whole_file_when_it_fits_and_else_head_and_tail(tmp_path: Path):
    path = tmp_path / "out"
    path.write_bytes(b"0123456789")
    whole = output.Stream(str(path), 10).ends(5, 5)
    assert (whole["head"], whole["tail"], whole["head_end"]) == ("0123456789", "", 10)
    cut = output.Stream(str(path), 10).ends(3, 2)
    assert (cut["head"], cut["head_end"], cut["tail"], cut["tail_start"]) == ("012", 3, "89", 8)


def test_a_file_past_its_cap_is_punched_in_the_middle_and_keeps_its_size(tmp_path: Path):
    path = tmp_path / "out"
    path.write_bytes(b"H" * 8192 + b"m" * (1 << 20) + b"T" * 8192)
    size = path.stat().st_size
    cut = output.punch(str(path), 8192, 8192, None)
    if cut is None:
        pytest.skip("this filesystem cannot punch holes")  # the sandbox's disk quota bounds it then
    assert cut == (8192, ((size - 8192) // 4096) * 4096)
    data = path.read_bytes()
    assert len(data) == size and data[:8192] == b"H" * 8192 and data.endswith(b"T" * 8192)
    assert data[cut[0] : cut[1]].count(0) == cut[1] - cut[0]
    assert output.punch(str(path), 8192, 8192, cut) == cut  # nothing new to punch


async def test_search_finds_lines_with_their_numbers_and_byte_offsets(tmp_path: Path):
    path = tmp_path / "out"
    path.write_bytes(b"ok\nERROR one\nfine\nerror two\n" + b"x" * 5000 + b" ERROR long\n")
    found = await output.search(str(path), "ERROR", fixed=True, ignore_case=False, limit=10, timeout_s=5)
    assert [(m["line"], m["offset"]) for m in found["matches"]] == [(2, 3), (5, 28)]
    assert len(found["matches"][1]["text"]) == output.LINE_CHARS and not found["more"]
    loose = await output.search(str(path), "^(error|ERROR) t", fixed=False, ignore_case=True, limit=1, timeout_s=5)
    assert [m["text"] for m in loose["matches"]] == ["error two"] and not loose["more"]
    capped = await output.search(str(path), "o", fixed=True, ignore_case=False, limit=2, timeout_s=5)
    assert len(capped["matches"]) == 2 and capped["more"]


async def test_a_pattern_grep_refuses_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "out"
    path.write_text("x\n")
    with pytest.raises(ValueError, match="grep refused the pattern"):
        await output.search(str(path), "(", fixed=False, ignore_case=False, limit=5, timeout_s=5)


GOOD = {"id": "ab12", "argv": ["true"], "env": {"A": "1"}, "cwd": "/w", "uid": 1000, "gid": 1000}


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("id", "../etc"),
        ("id", "A"),
        ("argv", []),
        ("argv", ["a\0b"]),
        ("argv", "true"),
        ("env", {"BAD NAME": "x"}),
        ("env", {"A": "x\0y"}),
        ("cwd", "relative"),
        ("uid", -1),
        ("uid", "0"),
        ("gid", 2**32),
        ("tty", "yes"),
        ("timeout_s", 0),
        ("tag", "x" * 41),
    ],
)
def test_a_start_request_with_a_bad_field_is_refused_naming_it(field, bad):
    with pytest.raises(server.HttpError, match=f"start: {field} "):
        server.validate_start({**GOOD, field: bad})
    assert server.validate_start(GOOD)["argv"] == ["true"]  # its harmless twin


def test_the_operators_bounds_come_from_the_environment_and_bad_values_fall_back():
    given = record.Settings.from_env(
        {"MANYOYO_JOBS_MAX_COUNT": "7", "MANYOYO_JOBS_MAX_BYTES": "lots", "MANYOYO_JOB_LEFTOVERS": "kill"}
    )
    assert (given.max_count, given.max_bytes, given.leftovers) == (7, record.Settings().max_bytes, "kill")
    assert record.Settings.from_env({"MANYOYO_JOB_LEFTOVERS": "explode"}).leftovers == "report"
    assert record.Settings.from_env({"MANYOYO_JOB_OUTPUT_MAX_BYTES": "10"}).output_max == 1 << 20


def test_the_spec_a_spare_receives_is_the_spec_sent():
    tree = cgroups.Tree("j1", 1, ("/sys/fs/cgroup/freezer/manyoyo-jobs/s-1",))
    spec = spawn.Spec("j1", "/d", ["sh", "-c", "x"], {"A": "é"}, "/w", 1, 2, [2, 3], True, tree)
    assert spawn.Spec.from_json(spec.to_json()) == spec


def test_without_cgroups_a_tree_is_its_processes_marker(tmp_path: Path):
    tree = cgroups.Tree.create("j9", 0, root=tmp_path)
    assert (tree.version, tree.paths) == (0, ())
    assert os.getpid() not in tree.pids()


def test_a_tree_is_made_in_each_hierarchy_there_is(tmp_path: Path):
    for name in ("freezer", "memory"):
        (tmp_path / name / cgroups.PARENT).mkdir(parents=True)
        (tmp_path / name / "cgroup.procs").write_text("")
    assert cgroups.version(tmp_path) == 1
    tree = cgroups.Tree.create("j1", 1, root=tmp_path)
    assert tree.paths == tuple(str(tmp_path / n / cgroups.PARENT / "j1") for n in ("freezer", "memory"))
    assert tree.remove() and not any((tmp_path / n / cgroups.PARENT / "j1").exists() for n in ("freezer", "memory"))


def test_on_cgroup_v2_jobs_are_leaves_of_a_parent_that_hands_down_memory_and_pids(tmp_path: Path, monkeypatch):
    written: list[tuple[str, str]] = []
    monkeypatch.setattr(cgroups, "_write", lambda path, text: written.append((Path(path).name, text)) or True)
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids io\n")
    parent = tmp_path / cgroups.PARENT
    parent.mkdir()  # the kernel fills a new cgroup with its files; here, the two prepare reads and writes
    (parent / "cgroup.controllers").write_text("cpu memory pids io\n")
    (parent / "cgroup.subtree_control").write_text("")
    assert cgroups.prepare(tmp_path) == 2
    assert written == [("cgroup.subtree_control", "+memory"), ("cgroup.subtree_control", "+pids")]
    tree = cgroups.Tree.create("j2", 2, root=tmp_path)
    assert tree.paths == (str(parent / "j2"),)
    written.clear()
    tree.kill()
    assert written == [("cgroup.kill", "1")]  # the whole tree at once, no freezing, no signal one by one


def test_oom_kills_are_read_from_the_jobs_own_memory_cgroup(tmp_path: Path):
    leaf = tmp_path / cgroups.PARENT / "j3"
    leaf.mkdir(parents=True)
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n")
    assert cgroups.Tree("j3", 2, (str(leaf),)).oom_kills() == 1
    v1 = tmp_path / "memory" / cgroups.PARENT / "j3"
    v1.mkdir(parents=True)
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    freezer = tmp_path / "freezer" / cgroups.PARENT / "j3"
    assert cgroups.Tree("j3", 1, (str(freezer), str(v1))).oom_kills() == 3
    assert cgroups.Tree("j3", 0, ()).oom_kills() is None
