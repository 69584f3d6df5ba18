"""The seen-files record: parts written whole, read back, compacted; damage named, never guessed."""

import os

import pytest

from transforms.io.seen import (
    SUFFIX,
    SeenFilesError,
    SkipSeenFiles,
    compact,
    read_record,
    read_seen,
    seen_folder,
    set_aside_uncommitted,
    uncommitted_files,
    window_key,
    write_part,
)


def test_parts_are_read_back_as_one_set(tmp_path):
    folder = seen_folder(str(tmp_path / "out"))
    assert folder.endswith(os.path.join("_streaming", "seen"))
    assert read_seen(folder) == set()  # no record yet: nothing seen
    write_part(folder, "w1", ["/in/a.jsonl", "/in/b.jsonl"])
    write_part(folder, "w2", ["/in/c\nodd name.jsonl", "/in/a.jsonl"])
    assert read_seen(folder) == {"/in/a.jsonl", "/in/b.jsonl", "/in/c\nodd name.jsonl"}
    assert sorted(os.listdir(folder)) == ["w1" + SUFFIX, "w2" + SUFFIX]  # no temporary file left


def test_compact_folds_the_parts_into_one(tmp_path):
    folder = str(tmp_path / "seen")
    for i in range(5):
        write_part(folder, f"w{i}", [f"/in/{i}.jsonl"], [f"key{i}"])
    expected = ({f"/in/{i}.jsonl" for i in range(5)}, {f"key{i}" for i in range(5)})
    assert compact(folder) == expected
    assert len(os.listdir(folder)) == 1
    assert read_record(folder) == expected
    assert compact(folder) == expected and len(os.listdir(folder)) == 1


def test_a_damaged_part_is_named_with_how_to_recover(tmp_path):
    folder = str(tmp_path / "seen")
    write_part(folder, "good", ["/in/a.jsonl"])
    (tmp_path / "seen" / ("bad" + SUFFIX)).write_bytes(b'"/in/b.jso\n\xff\xfe')
    with pytest.raises(SeenFilesError, match=r"bad\.seen is damaged .*delete it"):
        compact(folder)
    (tmp_path / "seen" / ("bad" + SUFFIX)).write_text('{"path": 1}\n')
    with pytest.raises(SeenFilesError, match="not a path"):
        read_seen(folder)


def test_skip_seen_files_drops_committed_paths_only(tmp_path):
    folder = str(tmp_path / "seen")
    write_part(folder, "w", ["/in/a.jsonl"])
    fn = SkipSeenFiles(folder)
    fn.setup()
    items = [("file", "/in/a.jsonl"), ("file", "/in/b.jsonl"), ("feed", "/in/a.jsonl")]
    assert [x for item in items for x in fn.process(item)] == items[1:]


def test_only_window_files_of_uncommitted_windows_are_set_aside(tmp_path):
    start = 1796621400.0
    done, lost = window_key(start, start + 60, "aaaaaaaa"), window_key(start + 60, start + 120, "bbbbbbbb")
    names = [
        f"articles-{done}-00000-of-00001.jsonl",
        f"articles-{lost}-00000-of-00001.jsonl",
        f"dead_letter-{lost}-00000-of-00001.jsonl.gz",
        "articles-2026-12-07T05:30:00-2026-12-07T05:31:00-00000-of-00001.jsonl",  # an older job's name: kept
        "articles-00000-of-00001.jsonl",  # a batch run's name: kept
    ]
    assert uncommitted_files(names, {done}) == names[1:3]
    out = tmp_path / "out"
    for name in names:
        kind = name.split("-", 1)[0]
        (out / kind).mkdir(parents=True, exist_ok=True)
        (out / kind / name).write_text("{}\n")
    moved = set_aside_uncommitted(str(out), {done})
    assert sorted(os.path.relpath(m, out) for m in moved) == [
        os.path.join("_streaming", "uncommitted", "articles", names[1] + ".uncommitted"),
        os.path.join("_streaming", "uncommitted", "dead_letter", names[2] + ".uncommitted"),
    ]
    assert sorted(os.listdir(out / "articles")) == sorted([names[0], names[3], names[4]])
    assert set_aside_uncommitted(str(out), {done}) == []
