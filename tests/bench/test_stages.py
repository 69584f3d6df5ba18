"""The benchmark's runner-stage timing (bench/stages.py)."""

import json
import os
import subprocess
import sys

import pytest

from bench.stages import stage_label
from tests.support import REPO


def test_stage_labels_name_the_user_steps_of_a_fused_stage():
    fused = (
        "(((ReadArticles/Reshuffle/ReshufflePerKey/GroupByKey/Read)"
        "+(ref_AppliedPTransform_ReadArticles-Reshuffle-ReshufflePerKey-FlatMap-restore_metadata_default_window_23))"
        "+(ref_AppliedPTransform_NormalizeArticles-Normalize-ParDo-GuardedMap-_30))"
        "+(ref_AppliedPTransform_DetectLanguage-Detect-ParDo-GuardedMap-_33)"
        "+(ref_AppliedPTransform_TagTopics-TagEachArticle-ParDo-GuardedMap-_36)"
        "+(ref_AppliedPTransform_ResolveArticles-StoryFeatures_78)"
    )
    assert stage_label(fused) == (
        "ReadArticles/Reshuffle/ReshufflePerKey/GroupByKey (shuffle) + NormalizeArticles/Normalize/ParDo/GuardedMap"
        " + DetectLanguage/Detect/ParDo/GuardedMap (+2 more)"
    )
    materialized = "((ref_PCollection_PCollection_53/Read)+(ref_AppliedPTransform_ResolveArticles-FindStories-VectorizeAndBlock_94))"
    assert stage_label(materialized) == "ResolveArticles/FindStories/VectorizeAndBlock"
    multi_output = (
        "(((ref_PCollection_PCollection_8/Read)+(ref_AppliedPTransform_FindStories-VectorizeAndBlock-ParDo-"
        "_VectorizeAndBlock-_35))+(FindStories/GroupBlocks/Write))+(ref_PCollection_PCollection_22/Write)"
    )
    assert stage_label(multi_output) == "FindStories/VectorizeAndBlock/ParDo/_VectorizeAndBlock"


@pytest.mark.e2e
def test_bench_stages_runs_the_pipeline_and_times_every_runner_stage(tmp_path):
    out = tmp_path / "stages.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.stages", "--stages-out", str(out),
         "--input", os.path.join(REPO, "data", "sample", "*.jsonl"), "--output", str(tmp_path / "run")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    stages = json.loads(out.read_text())["stages"]
    assert len(stages) > 10 and all(st["seconds"] >= 0 for st in stages)
    assert any("NormalizeArticles" in st["stage"] for st in stages)
    assert (tmp_path / "run" / "summary.json").exists()
