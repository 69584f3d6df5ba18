"""``python -m pipeline.verify``: says OK on a good output folder and names each
violation on deliberately broken copies of it."""

import json
import shutil
import subprocess
import sys

import pytest

from pipeline.verify import Expected, Report, check_markers, check_records, verify
from tests.support import REPO
from tests.support.cli import run_main
from tests.support.samples import TEXT_DE, TEXT_EN, TEXT_FR


# ------------------------------------------------------------------ pure checks


def test_records_conservation_counts_lost_doubled_and_duplicate_ids():
    expected = Expected(articles=["f#line 1", "f#line 2", "f#line 3"], files=1)
    expected.rejected["f#line 4"] += 1
    good = Report()
    check_records(expected, [{"id": "a", "origin": "f#line 1"}, {"id": "b", "origin": "f#line 2"}],
                  [{"source": "f#line 3"}, {"source": "f#line 4"}], good)
    assert good.violations == []
    bad = Report()
    check_records(expected, [{"id": "a", "origin": "f#line 1"}, {"id": "a", "origin": "f#line 1"}],
                  [{"source": "f#line 2"}, {"source": "f#line 2"}], bad)
    text = " | ".join(bad.violations)
    assert "1 article ids appear more than once: a" in text
    assert "neither in articles/ nor in dead_letter/: f#line 3" in text
    assert "more than once: f#line 1, f#line 2" in text
    assert "rejected input parts have no dead letter: f#line 4" in text


def test_markers_need_success_listing_every_file_and_matching_summary():
    files = ["_SUCCESS", "summary.json", "articles/articles-00000-of-00001.jsonl",
             "articles/run=r1/articles-00000-of-00001.jsonl", "runs/run=r1/_SUCCESS",
             "articles/articles-2026-01-01T00-00-00Z-2026-01-01T00-01-00Z-00000-of-00001.jsonl"]
    markers = {"_SUCCESS": {"run_id": "p", "files": ["articles/articles-00000-of-00001.jsonl"]},
               "runs/run=r1/_SUCCESS": {"run_id": "r1", "files": ["articles/run=r1/articles-00000-of-00001.jsonl"]}}
    ok = Report()
    check_markers(files, markers, {"run_id": "p"}, ok)
    assert ok.violations == []
    bad = Report()
    check_markers(files + ["articles/articles-00000-of-00002.jsonl", "_staging/x/articles/a.jsonl"],
                  {**markers, "_SUCCESS": {"run_id": "p", "files": ["articles/gone.jsonl"]}}, {"run_id": "q"}, bad)
    text = " | ".join(bad.violations)
    assert "leftover staging folders under _staging/" in text
    assert "no completion marker lists" in text and "articles-00000-of-00002.jsonl" in text
    assert "listed by a completion marker are missing: articles/gone.jsonl" in text
    assert "summary.json names run q, _SUCCESS run p" in text


# ------------------------------------------------------------------ real outputs


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    src = root / "in"
    src.mkdir()
    lines = [json.dumps({"title": f"T{i}", "text": f"{t} ({i})"}) for i, t in enumerate((TEXT_EN, TEXT_FR, TEXT_DE) * 3)]
    lines.insert(4, "{broken json")
    (src / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (src / "b.txt").write_text(TEXT_EN, encoding="utf-8")
    (src / "empty.txt").write_text("", encoding="utf-8")
    out = root / "out"
    patterns = [str(src / "*.jsonl"), str(src / "*.txt")]
    # in this process (run_main): the tests read its outputs; the verify command runs in a child
    result = run_main(*[a for p in patterns for a in ("--input", p)], "--output", str(out))
    assert result.returncode == 0, result.stderr
    return out, patterns


def broken_copy(good_run, tmp_path):
    out, patterns = good_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return copy, patterns


@pytest.mark.e2e
def test_a_good_output_passes(good_run):
    out, patterns = good_run
    report = verify(str(out), patterns)
    assert report.violations == []
    assert "inputs: 3 files, 10 articles, 2 rejected parts" in report.lines
    done = subprocess.run([sys.executable, "-m", "pipeline.verify", "--output", str(out),
                           *[a for p in patterns for a in ("--input", p)]], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith("OK: markers, no leftovers, unique ids, conservation")


@pytest.mark.e2e
def test_a_lost_article_is_found(good_run, tmp_path):
    out, patterns = broken_copy(good_run, tmp_path)
    shard = next((out / "articles").glob("*.jsonl"))
    lines = shard.read_text().splitlines(keepends=True)
    shard.write_text("".join(lines[1:]))
    report = verify(str(out), patterns)
    assert any("neither in articles/ nor in dead_letter/" in v for v in report.violations)
    done = subprocess.run([sys.executable, "-m", "pipeline.verify", "--output", str(out),
                           *[a for p in patterns for a in ("--input", p)]], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1 and "VIOLATION" in done.stdout


@pytest.mark.slow
def test_a_doubled_file_and_a_lost_dead_letter_are_found(good_run, tmp_path):
    out, patterns = broken_copy(good_run, tmp_path)
    shard = next((out / "articles").glob("*.jsonl"))
    shutil.copy(shard, out / "articles" / "articles-00000-of-00009.jsonl")
    for dead in (out / "dead_letter").glob("*.jsonl"):
        dead.write_text("")
    text = " | ".join(verify(str(out), patterns).violations)
    assert "article ids appear more than once" in text and "more than once" in text
    assert "no completion marker lists" in text  # the extra file was not published by a run
    assert "rejected input parts have no dead letter" in text


@pytest.mark.slow
def test_missing_markers_and_leftover_staging_are_found(good_run, tmp_path):
    out, patterns = broken_copy(good_run, tmp_path)
    (out / "_SUCCESS").unlink()
    (out / "_staging" / "20260101T000000Z-dead" / "articles").mkdir(parents=True)
    (out / "_staging" / "20260101T000000Z-dead" / "articles" / "articles-00000-of-00001.jsonl").write_text("{}\n")
    text = " | ".join(verify(str(out), patterns).violations)
    assert "leftover staging" in text and "summary.json without _SUCCESS" in text
    assert "no completion marker lists" in text


@pytest.mark.slow
def test_incremental_runs_pass(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_text(json.dumps({"title": "A", "text": TEXT_EN}) + "\n{bad\n", encoding="utf-8")
    out, state = tmp_path / "out", tmp_path / "state"
    args = ("--input", str(src / "*.jsonl"), "--output", str(out), "--state", str(state), "--incremental")
    assert run_main(*args).returncode == 0  # both runs in this process: their outputs are verified
    (src / "b.jsonl").write_text(json.dumps({"title": "B", "text": TEXT_FR}) + "\n", encoding="utf-8")
    assert run_main(*args).returncode == 0
    report = verify(str(out), [str(src / "*.jsonl")])
    assert report.violations == [], report.violations
    assert any("2 scheduled runs with a marker" in line for line in report.lines)
