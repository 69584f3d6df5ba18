"""The seen-files record: parts written whole, read back, compacted; damage named, never guessed."""

import os

import pytest

from transforms.io.seen import SUFFIX, SeenFilesError, SkipSeenFiles, compact, read_seen, seen_folder, write_part


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
        write_part(folder, f"w{i}", [f"/in/{i}.jsonl"])
    assert compact(folder) == {f"/in/{i}.jsonl" for i in range(5)}
    assert len(os.listdir(folder)) == 1
    assert read_seen(folder) == {f"/in/{i}.jsonl" for i in range(5)}
    assert compact(folder) == read_seen(folder) and len(os.listdir(folder)) == 1


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
