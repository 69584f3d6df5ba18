"""The incremental manifest in this process, on real local files: what a commit publishes and where,
what the manifest says, what a re-run selects. (The CLI runs are tests/pipeline/test_incremental.py;
these are the fast checks ``make mutate`` runs against transforms/state/manifest.py.)"""

import json
import os

import pytest

from transforms.state import manifest
from transforms.state.integrity import StateError
from transforms.state.manifest import InputFile


def put(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_input_file_json_round_trip_rounds_mtime_to_milliseconds():
    f = InputFile("/in/a.jsonl", 12, 1700000000.123456)
    assert f.to_json() == {"path": "/in/a.jsonl", "size": 12, "mtime": 1700000000.123}
    assert f.fingerprint == ("/in/a.jsonl", 12, 1700000000.123)
    back = InputFile.from_json({"path": "/in/a.jsonl", "size": "12", "mtime": "1700000000.123"})
    assert back == InputFile("/in/a.jsonl", 12, 1700000000.123)


def test_run_id_is_pinned_and_order_free():
    files = [InputFile("/in/b.jsonl", 5, 2.0), InputFile("/in/a.jsonl", 3, 1.0004)]
    assert manifest.run_id_for(files) == manifest.run_id_for(files[::-1]) == "e9d18bed9b9cb0ec"  # sha256 of "path\0size\0mtime\n", sorted
    assert manifest.run_id_for(files[:1]) != manifest.run_id_for(files)


def test_select_new_drops_committed_versions_and_repeats():
    a1, a2, b = InputFile("/a", 1, 1.0), InputFile("/a", 2, 1.0), InputFile("/b", 1, 1.0)
    assert manifest.select_new([b, a2, a1, b], [a1]) == [a2, b]


def test_paths(tmp_path):
    out = str(tmp_path / "out") + "/"
    assert manifest.staging_dir(out, "r1") == str(tmp_path / "out" / "_staging" / "r1")
    assert manifest.manifest_path(str(tmp_path), "r1") == str(tmp_path / "manifest" / "run-r1.json")
    staged = str(tmp_path / "out" / "_staging" / "r1" / "articles" / "part" / "a.jsonl")
    assert manifest.final_name(out, "articles", "r1", staged) == str(tmp_path / "out" / "articles" / "run=r1" / "part" / "a.jsonl")


def test_match_inputs_lists_every_file_once_with_size_and_mtime(tmp_path):
    put(tmp_path / "a.jsonl", "abc")
    put(tmp_path / "b.jsonl", "abcdef")
    os.utime(tmp_path / "a.jsonl", (1700000000.5, 1700000000.5))
    pattern = str(tmp_path / "*.jsonl")
    found = manifest.match_inputs([pattern, pattern])
    assert [(os.path.basename(f.path), f.size) for f in found] == [("a.jsonl", 3), ("b.jsonl", 6)]
    assert found[0].mtime == 1700000000.5


def test_commit_publishes_staged_outputs_and_writes_the_manifest_last(tmp_path):
    out, state, run = str(tmp_path / "out"), str(tmp_path / "state"), "r1"
    staging = tmp_path / "out" / "_staging" / run
    put(staging / "articles" / "articles-00000.jsonl", "A")
    put(staging / "dead_letter" / "sub" / "dl-00000.jsonl", "D")
    put(staging / "summary.json", "{}")
    put(staging / "other" / "ignored.txt", "I")  # not a committed kind
    put(tmp_path / "out" / "articles" / f"run={run}" / "stale.jsonl", "old")  # an interrupted earlier commit
    files = [InputFile("/in/b", 2, 2.0), InputFile("/in/a", 1, 1.0)]

    record = manifest.commit(out, state, run, files, {"articles": 1})

    assert (tmp_path / "out" / "articles" / "run=r1" / "articles-00000.jsonl").read_text() == "A"
    assert (tmp_path / "out" / "dead_letter" / "run=r1" / "sub" / "dl-00000.jsonl").read_text() == "D"
    assert (tmp_path / "out" / "runs" / "run=r1" / "summary.json").read_text() == "{}"
    assert not (tmp_path / "out" / "articles" / "run=r1" / "stale.jsonl").exists()
    assert not staging.exists()  # staging cleared after the commit point
    assert record["run_id"] == run and record["summary"] == {"articles": 1}
    assert record["files"] == [{"path": "/in/a", "size": 1, "mtime": 1.0}, {"path": "/in/b", "size": 2, "mtime": 2.0}]
    assert record["committed_at"].endswith("Z") and len(record["committed_at"]) == 20
    written = json.loads((tmp_path / "state" / "manifest" / "run-r1.json").read_text(encoding="utf-8"))
    assert written == record
    assert not (tmp_path / "state" / "manifest" / "run-r1.json.tmp").exists()
    assert sorted(manifest.committed_files(state)) == sorted(files)

    # the same run again (a retry): no summary this time, the manifest is replaced, not duplicated
    put(staging / "articles" / "articles-00000.jsonl", "B")
    again = manifest.commit(out, state, run, files, None)
    assert again["summary"] == {}
    assert (tmp_path / "out" / "articles" / "run=r1" / "articles-00000.jsonl").read_text() == "B"
    assert len(manifest.committed_files(state)) == 2


def test_committed_files_of_an_empty_state_is_empty(tmp_path):
    assert manifest.committed_files(str(tmp_path / "nothing")) == []


def test_clear_staging_removes_an_earlier_attempt(tmp_path):
    put(tmp_path / "out" / "_staging" / "r1" / "articles" / "x.jsonl")
    put(tmp_path / "out" / "_staging" / "r2" / "articles" / "y.jsonl")
    manifest.clear_staging(str(tmp_path / "out"), "r1")
    assert not (tmp_path / "out" / "_staging" / "r1").exists()
    assert (tmp_path / "out" / "_staging" / "r2" / "articles" / "y.jsonl").exists()


def test_manifest_file_is_indented_utf8_json(tmp_path):
    files = [InputFile("/in/café.jsonl", 1, 1.0)]
    record = manifest.commit(str(tmp_path / "out"), str(tmp_path / "state"), "r1", files, None)
    raw = (tmp_path / "state" / "manifest" / "run-r1.json").read_bytes()
    assert raw == json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
    assert "café".encode("utf-8") in raw


def test_commit_leaves_other_runs_alone(tmp_path):
    put(tmp_path / "out" / "articles" / "run=r0" / "a.jsonl", "earlier run")
    put(tmp_path / "out" / "_staging" / "r1" / "articles" / "a.jsonl", "this run")
    manifest.commit(str(tmp_path / "out"), str(tmp_path / "state"), "r1", [], None)
    assert (tmp_path / "out" / "articles" / "run=r0" / "a.jsonl").read_text() == "earlier run"
    assert (tmp_path / "out" / "articles" / "run=r1" / "a.jsonl").read_text() == "this run"


def test_clear_staging_of_a_run_never_staged_is_quiet(tmp_path):
    manifest.clear_staging(str(tmp_path / "out"), "never")
    assert not (tmp_path / "out" / "_staging" / "never").exists()


def test_a_manifest_without_files_is_damage_named_with_its_recovery(tmp_path):
    # never read as "nothing committed": its input files would be read (and published) a second time
    put(tmp_path / "manifest" / "run-x.json", json.dumps({"run_id": "x"}))
    with pytest.raises(StateError, match=r"run-x\.json is damaged \(no valid list of files\); restore it"):
        manifest.committed_files(str(tmp_path))


def test_final_name_keeps_a_later_staging_like_part_of_the_path(tmp_path):
    out = str(tmp_path / "out")
    staged = f"{out}/_staging/r1/articles/a/_staging/r1/articles/b.jsonl"
    assert manifest.final_name(out, "articles", "r1", staged) == f"{out}/articles/run=r1/a/_staging/r1/articles/b.jsonl"


def test_commit_logs_what_it_published_and_stamps_utc(tmp_path, monkeypatch, caplog):
    import datetime as dt
    import logging
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")  # local time 9 h ahead: the stamp must still be UTC
    time.tzset()
    try:
        put(tmp_path / "out" / "_staging" / "r1" / "articles" / "a.jsonl")
        with caplog.at_level(logging.INFO, logger="transforms.state.manifest"):
            record = manifest.commit(str(tmp_path / "out"), str(tmp_path / "state"), "r1",
                                     [InputFile("/a", 1, 1.0), InputFile("/b", 1, 1.0)], None)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert [r.getMessage() for r in caplog.records if r.name == "transforms.state.manifest"] == [
        "run r1 committed: 2 input files, 1 output files"]
    stamped = dt.datetime.strptime(record["committed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - stamped).total_seconds()) < 600
