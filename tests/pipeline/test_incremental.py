"""Scheduled batch runs (--incremental): only new files, idempotent re-runs, nothing partial
visible after a crash; the manifest logic as plain functions; the deploy examples parse."""

import ast
import dataclasses
import json
import os
import pathlib
import shutil

import pytest

from tests.support import REPO
from tests.support.cli import read_jsonl, run_cli, run_main
from tests.support.samples import TEXT_DE, TEXT_EN, TEXT_FR
from transforms.state import manifest
from transforms.state.manifest import InputFile, run_id_for, select_new


def write_jsonl(path, *records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")


def scheduled(src, out, state, *extra):
    """An --incremental run in this process (``run_main``): these tests are about the manifest and the
    files a run publishes, not the process; ``test_incremental_needs_state`` and the runs of
    ``test_exit_status.py`` / ``test_safety.py`` check the exit statuses of a real child."""
    return run_main("--input", str(src / "*.jsonl"), "--output", str(out), "--state", str(state), "--incremental", *extra)


def visible_files(out):
    """What a reader of the contract layout sees: files under articles/ stories/ dead_letter/."""
    return sorted(str(p.relative_to(out)) for d in ("articles", "stories", "dead_letter") for p in (out / d).rglob("*")
                  if p.is_file())


# -- pure logic --------------------------------------------------------------------------


def test_select_new_skips_committed_versions_only():
    a1, b1 = InputFile("gs://b/a.jsonl", 10, 100.0), InputFile("gs://b/b.jsonl", 20, 100.0)
    a2 = InputFile("gs://b/a.jsonl", 12, 200.0)  # rewritten in place
    assert select_new([a1, b1], done=[a1]) == [b1]
    assert select_new([a2, b1], done=[a1, b1]) == [a2]
    assert select_new([b1, b1], done=[]) == [b1]
    assert select_new([a1], done=[a1]) == []


def test_run_id_is_stable_and_order_free():
    files = [InputFile("x/a.jsonl", 1, 5.0), InputFile("x/b.jsonl", 2, 6.0)]
    assert run_id_for(files) == run_id_for(list(reversed(files)))
    assert run_id_for(files) != run_id_for(files[:1])
    assert run_id_for([InputFile("x/a.jsonl", 1, 5.0)]) != run_id_for([InputFile("x/a.jsonl", 1, 7.0)])


def test_final_name_keeps_the_contract_folders():
    staged = "gs://b/out/_staging/abc/articles/articles-00000-of-00001.jsonl"
    assert manifest.final_name("gs://b/out", "articles", "abc", staged) == \
        "gs://b/out/articles/run=abc/articles-00000-of-00001.jsonl"


def test_an_incremental_run_is_refused_without_state_or_inputs():
    from pipeline import incremental
    from pipeline.config import ConfigError, parse_config

    config = dataclasses.replace(parse_config({}), inputs=("in/*.jsonl",), output="out", state="state")
    incremental.check(config)  # both given: fine
    with pytest.raises(ConfigError) as info:
        incremental.check(dataclasses.replace(config, state=""))
    assert str(info.value) == "--incremental needs --state DIR_OR_GS_PREFIX (where the manifest of processed files lives)"
    with pytest.raises(ConfigError) as info:
        incremental.check(dataclasses.replace(config, inputs=()))
    assert str(info.value) == "--incremental needs --input PATTERN (feeds are polled by every run anyway)"


def test_a_run_with_nothing_new_plans_nothing_and_sums_up_zeros(tmp_path):
    from pipeline import incremental
    from pipeline.config import parse_config

    src, state = tmp_path / "in", tmp_path / "state"
    src.mkdir()
    config = dataclasses.replace(parse_config({}), inputs=(str(src / "*.jsonl"),), output=str(tmp_path / "o"), state=str(state))
    assert incremental.plan(config) is None  # no file matched yet
    assert incremental.nothing_new_summary() == {
        "inputs": 0, "articles": 0, "stories": 0, "multi_article_stories": 0, "dead_letters": 0, "dedup": {},
        "languages": {}, "topics": {}, "dead_letter_reasons": {}, "run_id": None, "new_files": 0,
    }  # fmt: skip


def test_a_plan_stages_the_new_files_only(tmp_path):
    from pipeline import incremental
    from pipeline.config import parse_config

    src, out, state = tmp_path / "in", tmp_path / "o", tmp_path / "state"
    src.mkdir()
    write_jsonl(src / "b.jsonl", {"title": "B", "text": TEXT_EN})
    write_jsonl(src / "a.jsonl", {"title": "A", "text": TEXT_DE})
    config = dataclasses.replace(parse_config({}), inputs=(str(src / "*.jsonl"),), output=str(out), state=str(state))
    run = incremental.plan(config)
    names = [os.path.basename(f.path) for f in run.files]
    assert sorted(names) == ["a.jsonl", "b.jsonl"] and run.run_id == run_id_for(list(run.files))
    assert (run.output, run.state) == (str(out), str(state))
    assert run.config.output == manifest.staging_dir(str(out), run.run_id) != str(out)
    assert sorted(run.config.inputs) == sorted(f.path for f in run.files) and run.config.state == str(state)


# -- end to end --------------------------------------------------------------------------


@pytest.mark.slow
def test_second_run_takes_only_new_files_and_reruns_are_idempotent(tmp_path):
    src, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    src.mkdir()
    write_jsonl(src / "day1.jsonl", {"title": "EU sanctions", "text": TEXT_EN, "published_at": "2025-03-15T10:00:00Z"},
                {"title": "Cessez-le-feu", "text": TEXT_FR})

    first = scheduled(src, out, state)
    assert first.returncode == 0, first.stderr
    assert len(read_jsonl(out / "articles")) == 2
    manifests = list((state / "manifest").glob("run-*.json"))
    assert len(manifests) == 1
    committed = json.loads(manifests[0].read_text())
    assert [os.path.basename(f["path"]) for f in committed["files"]] == ["day1.jsonl"]
    assert committed["summary"]["articles"] == 2 and committed["summary"]["languages"] == {"en": 1, "fr": 1}  # the run's summary

    nothing = scheduled(src, out, state)
    assert nothing.returncode == 0 and "nothing to do" in nothing.stdout
    assert len(read_jsonl(out / "articles")) == 2

    write_jsonl(src / "day2.jsonl", {"title": "Erdbeben", "text": TEXT_DE})
    second = scheduled(src, out, state)
    assert second.returncode == 0, second.stderr
    articles = read_jsonl(out / "articles")
    assert sorted(a["title"] for a in articles) == ["Cessez-le-feu", "EU sanctions", "Erdbeben"]
    assert len({a["id"] for a in articles}) == 3
    runs = sorted(p.name for p in (out / "articles").iterdir())
    assert len(runs) == 2 and all(r.startswith("run=") for r in runs)
    second_run = json.loads(next(p for p in (state / "manifest").glob("run-*.json") if p != manifests[0]).read_text())
    assert [os.path.basename(f["path"]) for f in second_run["files"]] == ["day2.jsonl"]
    assert not (out / "_staging").exists() or not any((out / "_staging").iterdir())

    # the same run again, as after a crash in the middle of its commit (manifest not written yet, a stale
    # shard of another shard count published): same run id, same files, no record twice
    before = {p: (out / p).read_bytes() for p in visible_files(out)}
    os.remove(state / "manifest" / f"run-{second_run['run_id']}.json")
    run_dir = out / "articles" / f"run={second_run['run_id']}"
    shutil.copy(next(run_dir.glob("*.jsonl")), run_dir / "articles-00000-of-00002.jsonl")
    again = scheduled(src, out, state)
    assert again.returncode == 0, again.stderr
    assert f"run:        {second_run['run_id']}" in again.stdout
    after = {p: (out / p).read_bytes() for p in visible_files(out)}
    assert sorted(after) == sorted(before)
    articles_after = sorted(json.dumps(a, sort_keys=True) for a in read_jsonl(out / "articles"))
    assert articles_after == sorted(json.dumps(a, sort_keys=True) for a in articles)


@pytest.mark.slow
def test_crash_before_commit_leaves_nothing_visible_and_next_run_recovers(tmp_path):
    src, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    src.mkdir()
    write_jsonl(src / "a.jsonl", {"title": "EU sanctions", "text": TEXT_EN})
    files = manifest.match_inputs([str(src / "*.jsonl")])
    run_id = run_id_for(files)
    # what a run killed mid-write leaves: a half-written shard in its staging folder
    crashed = out / "_staging" / run_id / "articles"
    crashed.mkdir(parents=True)
    (crashed / "articles-00000-of-00001.jsonl").write_text('{"id": "half', encoding="utf-8")
    assert visible_files(out) == []

    result = scheduled(src, out, state)
    assert result.returncode == 0, result.stderr
    articles = read_jsonl(out / "articles")
    assert [a["title"] for a in articles] == ["EU sanctions"]
    assert not (out / "_staging" / run_id).exists()
    assert (state / "manifest" / f"run-{run_id}.json").exists()


@pytest.mark.e2e
def test_incremental_needs_state(tmp_path):
    result = run_cli("--input", "x/*.jsonl", "--output", str(tmp_path / "o"), "--incremental")
    assert result.returncode == 2 and "--state" in result.stderr


# -- the scheduling examples --------------------------------------------------------------


def test_airflow_dag_and_cron_examples_are_well_formed():
    dag = REPO / "deploy" / "airflow_dag.py"
    tree = ast.parse(dag.read_text(encoding="utf-8"))  # syntax-checked without Airflow installed
    source = dag.read_text(encoding="utf-8")
    assert "--incremental" in source and "--state" in source
    assert any(isinstance(n, ast.ImportFrom) and (n.module or "").startswith("airflow") for n in ast.walk(tree))
    cron = [line for line in (REPO / "deploy" / "crontab.example").read_text().splitlines()
            if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert cron, "no cron entry"
    for line in cron:
        fields = line.split()
        assert len(fields) > 5 and "--incremental" in line and "-m pipeline" in line
    metadata = json.loads((REPO / "deploy" / "metadata.json").read_text())
    names = {p["name"] for p in metadata["parameters"]}
    assert {"input", "output", "state", "incremental"} <= names
    assert pathlib.Path(REPO / "deploy" / "Dockerfile").read_text().count("FLEX_TEMPLATE_PYTHON_PY_FILE") >= 1


@pytest.mark.slow
def test_a_commit_killed_after_its_journal_is_finished_even_when_new_files_arrived(tmp_path):
    from pipeline.verify import verify

    src, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    src.mkdir()
    write_jsonl(src / "a.jsonl", {"title": "EU sanctions", "text": TEXT_EN})
    assert scheduled(src, out, state).returncode == 0
    # run {a, b} elsewhere, then lay its files out as a run killed in the middle of its commit leaves them
    write_jsonl(src / "b.jsonl", {"title": "Cessez-le-feu", "text": TEXT_FR})
    scratch_out, scratch_state = tmp_path / "scratch_out", tmp_path / "scratch_state"
    shutil.copytree(state, scratch_state)
    assert scheduled(src, scratch_out, scratch_state).returncode == 0
    record = json.loads(next(p for p in (scratch_state / "manifest").glob("run-*.json")
                             if not (state / "manifest" / p.name).exists()).read_text())
    run_id = record["run_id"]
    staging = out / "_staging" / run_id
    staged = []
    for kind in ("articles", "stories", "dead_letter"):
        for path in (scratch_out / kind / f"run={run_id}").glob("*"):
            (staging / kind).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, staging / kind / path.name)
            staged.append(f"{kind}/{path.name}")
    journal = {"run_id": run_id, "state": str(state), "files": sorted(staged), "manifest": record}
    (staging / manifest.COMMIT_JOURNAL).write_text(json.dumps(journal))
    first = sorted(staged)[0]  # one file was already published when the run died
    (out / first.split("/")[0] / f"run={run_id}").mkdir(parents=True)
    shutil.move(staging / first, out / first.split("/")[0] / f"run={run_id}" / first.split("/")[1])

    write_jsonl(src / "c.jsonl", {"title": "Erdbeben", "text": TEXT_DE})  # arrives before the next run
    result = scheduled(src, out, state)
    assert result.returncode == 0, result.stderr
    assert (state / "manifest" / f"run-{run_id}.json").exists()
    assert sorted(a["title"] for a in read_jsonl(out / "articles")) == ["Cessez-le-feu", "EU sanctions", "Erdbeben"]
    report = verify(str(out), [str(src / "*.jsonl")])
    assert report.violations == [], report.violations
