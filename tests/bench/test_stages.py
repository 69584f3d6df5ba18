"""The benchmark's runner-stage timing (bench/stages.py)."""

import json
import os
import subprocess
import sys

import pytest

from bench.stages import breakdown, idle_worker_seconds, stage_label
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
    record = json.loads(out.read_text())
    assert {s["stage"] for s in record["setups"]} >= {"language", "topics", "entities"}  # NEWSBEAM_SETUP_LOG
    rows = breakdown(record, record["marks"]["main_end"])
    assert rows[0][0] == "python start and imports" and any(what.startswith("model loads") for what, _, _ in rows)
    total = record["marks"]["main_end"] - record["marks"]["process"]
    assert abs(sum(seconds for _, seconds, _ in rows) - total) < 0.02 * total + 0.05  # the rows add up to the run


def test_the_breakdown_splits_the_biggest_stage_into_model_loads_and_work():
    """A run's wall time in rows that add up: start-up phases, the small stages before the
    models load, the loads (setups in the worker processes), the biggest stage's own work, the
    other stages and the gaps between them (issue 22)."""
    marks = {"process": 0.0, "imported": 1.0, "build_start": 2.0, "build_end": 3.0, "runner_end": 14.0,
             "publish_start": 14.5, "publish_end": 15.0, "main_end": 15.5}
    stages = [
        {"stage": "Read", "started": 3.5, "seconds": 0.5, "launcher_cpu": 0.1, "worker_cpu": {"7": 0.4, "8": 0.3}},
        {"stage": "Enrich", "started": 4.0, "seconds": 7.0, "launcher_cpu": 0.2, "worker_cpu": {"7": 6.0, "8": 5.0}},
        {"stage": "Stories", "started": 11.5, "seconds": 2.0, "launcher_cpu": 0.1, "worker_cpu": {"7": 1.0, "8": 0.0}},
    ]
    setups = [{"pid": 7, "stage": "language", "started": 4.5, "seconds": 1.0, "cpu": 0.9},
              {"pid": 8, "stage": "language", "started": 4.6, "seconds": 1.5, "cpu": 1.2}]
    record = {"marks": marks, "cpu_marks": {"process": 0.0, "imported": 0.9}, "stages": stages, "setups": setups,
              "launcher_pid": 1}
    rows = {what.split(" (")[0].split(":")[0]: (seconds, cpu) for what, seconds, cpu in breakdown(record, 16.0)}
    assert rows["python start and imports"] == (1.0, 0.9)
    assert rows["first 1 small stages, 2 worker processes start"][0] == 1.0
    assert rows["model loads"] == (pytest.approx(1.6), pytest.approx(2.1))
    assert rows["work of the biggest stage"] == (pytest.approx(4.9), pytest.approx(11.2 - 2.1))
    assert rows["other runner stages"] == (2.0, pytest.approx(1.1))
    assert rows["runner bookkeeping between those stages"][0] == pytest.approx(0.5)
    assert rows["publish"][0] == 0.5 and rows["process exit"][0] == 0.5
    assert sum(seconds for seconds, _ in rows.values()) == pytest.approx(16.0)
    assert idle_worker_seconds(record) == (pytest.approx(0.3 + 3.0 + 3.0), pytest.approx(19.0))


def test_workers_are_the_processes_that_work_not_their_shell_wrappers():
    """Beam's local runner starts each worker through ``/bin/sh -c``: counting the wrapper as a
    worker doubled the worker-seconds (and made half of them look idle)."""
    import subprocess
    import sys
    import time

    from bench.stages import _Workers

    code = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    wrapper = subprocess.Popen(["/bin/sh", "-c", f'"{sys.executable}" -c "{code}"; true'])
    try:
        workers = _Workers()
        deadline = time.time() + 20
        found = workers.cpu()
        while time.time() < deadline and not any(cpu >= 0.2 for cpu in found.values()):
            time.sleep(0.1)
            found = workers.cpu()
        assert wrapper.pid not in found  # the shell only waits
        # the python process it started (other children of this test process, left by earlier tests
        # in the same xdist worker, may be counted too: they are not this test's business)
        started = [c.pid for c in __import__("psutil").Process(wrapper.pid).children()]
        assert len(started) == 1 and found.get(started[0], 0.0) >= 0.2
    finally:
        for child in __import__("psutil").Process(wrapper.pid).children(recursive=True):
            child.kill()
        wrapper.kill()
        wrapper.wait()
