"""The entry point: the same job on another runner (Dataflow, translated offline with --dry_run;
the Dask runner has its own tests in tests/pipeline/test_dask_runner.py), and the config reaching
what the run resolves at launch."""

import dataclasses

import pytest

from pipeline.config import load_config
from pipeline.main import run, with_memory
from tests.support import REPO

STABLE_STEPS = {
    "ReadArticles", "ReadArticles/MatchPatterns", "ReadArticles/ReadFiles", "NormalizeArticles", "DetectLanguage",
    "TagTopics", "FindNearDuplicates", "ResolveArticles", "ResolveArticles/FindDuplicates",
    "ResolveArticles/FindStories", "ResolveArticles/MarkAndAssign", "BuildStories", "FlattenDeadLetters",
    "WriteOutputs", "WriteOutputs/WriteArticles", "WriteOutputs/WriteStories", "WriteOutputs/WriteDeadLetter",
    "WriteOutputs/WriteSummary",
}


@pytest.mark.e2e  # Beam stages the job: python setup.py sdist and pip freeze in child processes
def test_dataflow_dry_run_translates_the_job_offline(tmp_path):
    summary = run([
        "--runner", "DataflowRunner", "--dry_run=True", "--project", "newsbeam-test", "--region", "europe-west1",
        "--temp_location", "gs://newsbeam-test/tmp", "--setup_file", "./setup.py",
        "--input", "gs://newsbeam-test/in/*.jsonl", "--output", "gs://newsbeam-test/out",
    ])
    assert summary["dry_run"] is True
    assert STABLE_STEPS <= set(summary["transforms"])


def test_printed_summary_groups_dead_letters_with_a_real_example_and_says_what_ran():
    from pipeline.main import format_summary

    summary = {
        "inputs": 5, "articles": 2, "stories": 2, "multi_article_stories": 0, "dead_letters": 3,
        "dedup": {"unique": 2}, "languages": {"en": 2}, "topics": {},
        "dead_letter_reasons": {"read: line N: invalid JSON": 2, "read: empty file": 1},
        "dead_letter_examples": {
            "read: line N: invalid JSON": {"source": "in/a.jsonl#line 2", "error": "line 2: invalid JSON"},
            "read: empty file": {"source": "in/empty.txt", "error": "empty file"},
        },
        "run": {"runner": "FnApiRunner", "newsbeam_version": "0.1.0", "beam_version": "2.77.0", "inputs": ["in/*.jsonl"],
                "feeds": [], "output": "out", "started_at": "2026-12-07T05:00:00Z", "finished_at": "2026-12-07T05:00:09Z"},
    }
    text = format_summary(summary, 9.0)
    assert "3 dead letters in 9.0 s on FnApiRunner" in text
    assert "        2  read: line 2: invalid JSON\n           e.g. in/a.jsonl#line 2" in text
    assert "        1  read: empty file\n           at in/empty.txt" in text
    assert "  inputs:     in/*.jsonl" in text and "  outputs:    out (" in text
    assert "FnApiRunner (newsbeam 0.1.0, Beam 2.77.0), 2026-12-07T05:00:00Z -> 2026-12-07T05:00:09Z" in text


def test_the_configured_retention_reaches_the_memory_plan(tmp_path):
    # dedup.retention_days is only useful if with_memory hands it to the --state generations
    config_file = tmp_path / "job.yaml"
    config_file.write_text(f"topics: {REPO / 'configs' / 'topics.yaml'}\ndedup:\n  retention_days: 2.5\n", encoding="utf-8")
    config = dataclasses.replace(load_config(str(config_file)), state=str(tmp_path / "state"))
    plan = with_memory(config).memory
    assert plan.retention_days == 2.5
    assert plan.state == str(tmp_path / "state") and plan.previous is None
