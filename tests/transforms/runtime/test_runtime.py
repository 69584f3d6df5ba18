"""transforms.runtime: the speed-up switches (resolution per runner, carried to workers),
the heap helpers they switch, and the run with every switch off."""

import gc
import json
import os
import subprocess
import sys
import threading

import pytest

from transforms import runtime
from transforms.runtime import PLAIN, Tuning, TuningConfig, resolve
from tests.support import REPO
from tests.support.cli import read_jsonl, run_cli
from transforms.runtime.heap import (
    GC_THRESHOLDS, MALLOC_ARENAS, limit_malloc_arenas, settle_heap, start_heap_trimmer,
)


def test_settle_heap_freezes_the_loaded_heap_and_collects_young_objects_less_often():
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        settle_heap()  # idempotent
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_launcher_that_runs_the_steps_collects_less_often_from_the_start_and_freezes_once(monkeypatch):
    from transforms.runtime import heap

    before = gc.get_threshold()
    monkeypatch.setattr(heap, "_settled_once", False)
    monkeypatch.setattr(heap, "start_heap_trimmer", lambda: True)  # no thread left behind by this test
    monkeypatch.setattr(heap, "limit_malloc_arenas", lambda: True)
    try:
        gc.set_threshold(700, 10, 10)
        runtime.apply_in_launcher(Tuning(heap=True, launcher_is_worker=True))
        assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() == 0  # nothing frozen at launch
        gc.set_threshold(700, 10, 10)
        runtime.apply_in_launcher(Tuning(heap=True))  # a batch launcher: its collector as Beam leaves it
        assert gc.get_threshold() == (700, 10, 10)
        worker = Tuning(heap=True, launcher_is_worker=True)
        runtime.settle_worker(worker)
        frozen = gc.get_freeze_count()
        assert frozen > 0 and gc.get_threshold() == GC_THRESHOLDS
        held = [[n] for n in range(1000)]  # what a later bundle holds: not frozen by its DoFn's set-up
        runtime.settle_worker(worker)
        assert gc.get_freeze_count() == frozen and held
    finally:
        runtime.activate(Tuning())
        gc.unfreeze()
        gc.set_threshold(*before)


_TRIM_CHECK = """
import json, os
from transforms.runtime.heap import trim_heap

def resident_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

buffers = [bytes(4096) + bytes([i % 251]) for i in range(60_000)]  # ~240 MB of malloc'd buffers
survivors = buffers[::32]  # one in 32 stays: the freed ones leave holes glibc keeps
del buffers
before = resident_mb()
trimmed = trim_heap()
print(json.dumps({"trimmed": trimmed, "before": before, "after": resident_mb(), "kept": len(survivors)}))
"""


@pytest.mark.e2e
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_trim_heap_returns_the_holes_that_freed_buffers_leave_to_the_system():
    # A fresh interpreter: in the test process another test's heap trimmer thread may
    # already have handed the holes back before `before` is read (CI saw before == after).
    done = subprocess.run([sys.executable, "-c", _TRIM_CHECK], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    seen = json.loads(done.stdout)
    assert seen["trimmed"] is True and seen["kept"] == 1875
    assert seen["before"] - seen["after"] > 100, seen


def test_the_heap_trimmer_runs_once_per_process():
    assert start_heap_trimmer() and start_heap_trimmer()
    assert [t.name for t in threading.enumerate()].count("newsbeam-heap-trimmer") == 1


def test_malloc_arenas_are_capped_for_the_launcher_and_its_workers(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True  # glibc here: mallopt accepted the cap
    assert os.environ["MALLOC_ARENA_MAX"] == str(MALLOC_ARENAS)  # inherited by worker processes
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is True and os.environ["MALLOC_ARENA_MAX"] == "4"  # the user's choice wins


# --- resolving the switches for a runner ---------------------------------------------------------

def test_auto_switches_are_on_only_on_the_local_runners_they_were_measured_on():
    auto = TuningConfig()
    local = resolve(auto, "DirectRunner", streaming=False, beam_version=runtime.TESTED_BEAM[0])
    assert local.local_runner_patches and local.regex_cache and local.run_length == 1024
    assert local.heap == sys.platform.startswith("linux")
    assert resolve(auto, None, streaming=False, beam_version=runtime.TESTED_BEAM[0]) == local  # the default runner
    assert not local.launcher_is_worker
    for runner, streaming in (("DataflowRunner", False), ("DaskRunner", False), ("PrismRunner", False), ("DirectRunner", True)):
        other = resolve(auto, runner, streaming=streaming, beam_version=runtime.TESTED_BEAM[0])
        assert not other.regex_cache, runner
        in_launcher = runner == "DirectRunner"  # streaming DirectRunner: its own patches, and the launcher runs the steps
        assert other.heap == (in_launcher and sys.platform.startswith("linux")), runner
        assert other.launcher_is_worker == in_launcher and other.local_runner_patches == in_launcher, runner
        assert other.run_length == 1024  # plain Beam: it stays
    assert not resolve(auto, "DataflowRunner", streaming=True, beam_version=runtime.TESTED_BEAM[0]).launcher_is_worker


def test_local_runner_patches_stay_off_on_an_untested_beam_version_even_when_asked():
    forced = TuningConfig(local_runner_patches="on", heap="off", regex_cache="off")
    assert not resolve(forced, "DirectRunner", streaming=False, beam_version="2.99.0").local_runner_patches
    assert resolve(forced, "DirectRunner", streaming=False, beam_version=runtime.TESTED_BEAM[0]).local_runner_patches


def test_switches_asked_for_by_name_apply_on_any_runner():
    asked = TuningConfig(run_length=7, heap="on", regex_cache="on")
    tuning = resolve(asked, "DataflowRunner", streaming=False, beam_version=runtime.TESTED_BEAM[0])
    assert tuning == Tuning(run_length=7, local_runner_patches=False, heap=True, regex_cache=True)


def test_a_guarded_stage_carries_the_launchers_switches_to_its_worker():
    from transforms.common.stage import GuardedMap

    before = runtime.active()
    try:
        runtime.activate(PLAIN)
        dofn = GuardedMap("x", fn=str)  # built in the launcher, under PLAIN
        runtime.activate(Tuning())  # a worker process starts with the defaults
        dofn.setup()
        assert runtime.active() == PLAIN
    finally:
        runtime.activate(before)


def test_the_regex_cache_is_bypassed_when_switched_off(tmp_path, monkeypatch):
    from transforms.runtime import regexcache

    monkeypatch.setenv(regexcache.ENV, str(tmp_path))
    before = runtime.active()
    try:
        runtime.activate(PLAIN)
        assert regexcache.cache_dir() is None
        regexcache.compile_cached(r"\bsanctions?\b")
        assert list(tmp_path.iterdir()) == []
        runtime.activate(Tuning(regex_cache=True))
        regexcache.compile_cached(r"\bsanctions?\b")
        assert len(list(tmp_path.glob("*.sre"))) == 1
    finally:
        runtime.activate(before)


def test_a_regex_cache_entry_is_plain_data_not_a_pickle(tmp_path, monkeypatch):
    from transforms.runtime import regexcache

    monkeypatch.setenv(regexcache.ENV, str(tmp_path))
    regexcache.compile_cached(r"(?P<word>emb[ae]rgo)\s+(\d+)")
    (entry,) = tmp_path.glob("*.sre")
    blob = entry.read_bytes()
    assert blob.startswith(b"newsbeam-sre 2\n") and b"\x80\x04" not in blob[:20]  # no pickle protocol header
    header = blob[len(b"newsbeam-sre 2\n") + 16 :].split(b"\n", 1)[0]
    assert b'"groupindex": {"word": 1}' in header


# --- the whole run with every switch off ------------------------------------------------------------

def _sorted_lines(folder):
    return sorted(json.dumps(r, sort_keys=True) for r in read_jsonl(folder))


@pytest.mark.e2e
def test_every_switch_off_gives_the_same_outputs(tmp_path):
    from bench.generate import write as generate

    # 150 articles (400 before): well under every size the switches act on (run_length 1024, the local
    # runner's 10 MB chunks), so the same paths run; a worker process, since the switches also act in
    # workers (one: a second cost 14 s more CPU over the two runs and tested nothing more)
    generate(150, str(tmp_path / "in"), shards=2, seed=11)
    flags = ["--input", str(tmp_path / "in" / "*.jsonl"), "--direct_num_workers=1", "--direct_running_mode=multi_processing"]
    tuned = run_cli(*flags, "--output", str(tmp_path / "tuned"))
    plain = run_cli(*flags, "--output", str(tmp_path / "plain"), "--no-tuning")
    assert tuned.returncode == 0 and plain.returncode == 0, (tuned.stderr[-2000:], plain.stderr[-2000:])
    for kind in ("articles", "stories", "dead_letter"):
        assert _sorted_lines(tmp_path / "tuned" / kind) == _sorted_lines(tmp_path / "plain" / kind), kind
    assert len(read_jsonl(tmp_path / "tuned" / "articles")) == 150
