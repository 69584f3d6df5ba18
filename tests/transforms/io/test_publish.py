"""Atomic outputs: a staged run is published whole, with its markers; an interrupted
publication is finished by the next run; a failed run's staging is removed."""

import json
import os

import pytest

from transforms.io import publish
from transforms.io.publish import JOURNAL_FILE, SUCCESS_FILE


def stage(out, run_id, files):
    root = out / "_staging" / run_id
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def tree(out):
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


FIRST = {
    "articles/articles-00000-of-00002.jsonl": "a1\n",
    "articles/articles-00001-of-00002.jsonl": "a2\n",
    "stories/stories-00000-of-00001.jsonl": "s1\n",
    "dead_letter/dead_letter-00000-of-00001.jsonl": "d1\n",
    "summary.json": "{}",
    "articles/.temp-beam-x/leftover": "temp",
}
SECOND = {
    "articles/articles-00000-of-00001.jsonl": "b1\n",
    "stories/stories-00000-of-00001.jsonl": "t1\n",
    "dead_letter/dead_letter-00000-of-00001.jsonl": "",
    "summary.json": "{}",
}


def test_publish_replaces_the_previous_run_and_writes_markers(tmp_path):
    out = tmp_path / "out"
    stage(out, "r1", FIRST)
    marker = publish.publish(str(out), "r1", {"articles": 2, "inputs": 3, "stories": 1, "dead_letters": 1})
    assert marker["run_id"] == "r1" and marker["counts"]["articles"] == 2
    assert tree(out) == ["_SUCCESS", "articles/articles-00000-of-00002.jsonl", "articles/articles-00001-of-00002.jsonl",
                         "dead_letter/dead_letter-00000-of-00001.jsonl", "stories/stories-00000-of-00001.jsonl",
                         "summary.json"]
    assert json.loads((out / "summary.json").read_text())["run_id"] == "r1"
    assert json.loads((out / SUCCESS_FILE).read_text())["files"] == marker["files"]

    stage(out, "r2", SECOND)
    # while r2 is staged, r1's outputs are as they were
    assert (out / "articles/articles-00001-of-00002.jsonl").read_text() == "a2\n"
    publish.publish(str(out), "r2", {"articles": 1})
    assert tree(out) == ["_SUCCESS", "articles/articles-00000-of-00001.jsonl",
                         "dead_letter/dead_letter-00000-of-00001.jsonl", "stories/stories-00000-of-00001.jsonl",
                         "summary.json"]
    assert (out / "stories/stories-00000-of-00001.jsonl").read_text() == "t1\n"
    assert json.loads((out / SUCCESS_FILE).read_text())["run_id"] == "r2"


def test_publish_removes_files_of_the_older_layout(tmp_path):
    out = tmp_path / "out"
    (out / "articles").mkdir(parents=True)
    (out / "articles" / "articles-00000-of-00003.jsonl").write_text("old\n")
    (out / "summary.json").write_text("{}")
    (out / "notes.txt").write_text("a user's file")
    stage(out, "r1", SECOND)
    publish.publish(str(out), "r1", {})
    assert "articles/articles-00000-of-00003.jsonl" not in tree(out)
    assert (out / "notes.txt").exists()  # not ours: never touched


def test_recover_finishes_an_interrupted_publication(tmp_path):
    out = tmp_path / "out"
    stage(out, "r1", FIRST)
    publish.publish(str(out), "r1", {"articles": 2})
    staging = stage(out, "r2", SECOND)
    # what a run killed in the middle of publishing leaves: the journal, markers gone, some files moved
    journal = {"run_id": "r2", "files": sorted(f for f in SECOND if f != "summary.json"),
               "remove": ["articles/articles-00000-of-00002.jsonl", "articles/articles-00001-of-00002.jsonl"],
               "summary": {"articles": 1, "run_id": "r2"}}
    (staging / JOURNAL_FILE).write_text(json.dumps(journal))
    os.remove(out / SUCCESS_FILE)
    os.replace(staging / "articles/articles-00000-of-00001.jsonl", out / "articles/articles-00000-of-00001.jsonl")
    assert publish.recover(str(out)) == ["r2"]
    assert json.loads((out / SUCCESS_FILE).read_text())["run_id"] == "r2"
    assert tree(out) == ["_SUCCESS", "articles/articles-00000-of-00001.jsonl",
                         "dead_letter/dead_letter-00000-of-00001.jsonl", "stories/stories-00000-of-00001.jsonl",
                         "summary.json"]


def test_recover_removes_the_staging_of_failed_runs_and_keeps_the_published_outputs(tmp_path):
    out = tmp_path / "out"
    stage(out, "r1", FIRST)
    publish.publish(str(out), "r1", {"articles": 2})
    before = {p: (out / p).read_bytes() for p in tree(out)}
    stage(out, "r2", {"articles/articles-00000-of-00001.jsonl": '{"half'})  # killed while writing
    (out / "_staging" / "r3").mkdir()  # failed before writing anything
    assert publish.recover(str(out), keep=["r3"]) == ["r2"]
    assert publish.recover(str(out)) == ["r3"]
    assert not (out / "_staging").exists()
    assert {p: (out / p).read_bytes() for p in tree(out)} == before


def test_run_ids_sort_by_time():
    import datetime as dt

    early = publish.new_run_id(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    late = publish.new_run_id(dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    assert early < late and early.startswith("20260101T000000Z-")


@pytest.mark.e2e
def test_publish_and_recover_on_gcs(gcs_emulator):
    bucket = gcs_emulator.bucket("news-publish")
    out = "gs://news-publish/out"
    for rel, text in FIRST.items():
        bucket.blob(f"out/_staging/r1/{rel}").upload_from_string(text)
    publish.publish(out, "r1", {"articles": 2})
    for rel, text in SECOND.items():
        bucket.blob(f"out/_staging/r2/{rel}").upload_from_string(text)
    bucket.blob("out/_staging/r3/articles/articles-00000-of-00001.jsonl").upload_from_string('{"half')
    assert bucket.blob("out/articles/articles-00001-of-00002.jsonl").download_as_text() == "a2\n"
    publish.publish(out, "r2", {"articles": 1})
    assert publish.recover(out) == ["r3"]
    names = sorted(b.name for b in gcs_emulator.client().list_blobs("news-publish"))
    assert names == ["out/_SUCCESS", "out/articles/articles-00000-of-00001.jsonl",
                     "out/dead_letter/dead_letter-00000-of-00001.jsonl", "out/stories/stories-00000-of-00001.jsonl",
                     "out/summary.json"]
    assert json.loads(bucket.blob("out/_SUCCESS").download_as_text())["run_id"] == "r2"
