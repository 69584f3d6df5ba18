"""The same job on another runner: Dataflow, translated offline with --dry_run. (The Dask
runner has its own tests beside its module: tests/pipeline/test_dask_runner.py.)"""

import pytest

from pipeline.main import run

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
