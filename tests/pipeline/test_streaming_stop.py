"""Stopping and restarting ``--streaming``: drain on SIGTERM/SIGINT, force on a second
signal, restart keeps earlier windows and reads the files a stopped job did not commit
(setting aside the files of windows written but never committed).

The e2e tests run ``python -m pipeline --streaming`` as child processes on a watched
folder (files dropped by atomic rename, as a producer should deliver them).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

from pipeline.config import StreamingConfig, parse_config
from pipeline.streaming import build_streaming_stages
from transforms.io.seen import read_record, read_seen, seen_folder
from transforms.io.watch import ELEMENT_CODER, FILE
from tests.pipeline.test_streaming import STORM, VOTE
from tests.support.streaming import streaming_pipeline
from tests.support import REPO
from tests.support.cli import read_records, stop_process_group, wait_for

QUAKE = (
    "A strong earthquake shook the mountain region before dawn on Tuesday, damaging old stone houses and "
    "blocking two highways with landslides. Emergency services said hundreds of people spent the day in "
    "tents outside their homes while inspectors checked schools and the regional hospital for cracks."
)
PORT = (
    "Dock workers at the country's largest port walked out on Thursday over pay and shift rules, leaving "
    "dozens of container ships waiting offshore. The union said the strike would last three days unless the "
    "operator returned to talks, and exporters warned of spoiled fruit and missed delivery dates abroad."
)


# ----------------------------------------------------------------------------- in process


@pytest.mark.slow
def test_each_window_commits_its_files_after_writing_them_under_names_without_colons(tmp_path, small_taxonomy):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps({"title": "Storm", "text": STORM}) + "\n")
    b.write_text(json.dumps({"title": "Vote", "text": VOTE}) + "\n{broken\n")
    out = tmp_path / "out"
    config = dataclasses.replace(
        parse_config({"topics": small_taxonomy}),
        output=str(out),
        window_seconds=2,
        streaming=True,
        streaming_options=StreamingConfig(),
    )
    stream = (
        TestStream(coder=ELEMENT_CODER)
        .advance_watermark_to(10)
        .add_elements([TimestampedValue((FILE, str(a)), 10.5)])
        .advance_watermark_to(13)
        .add_elements([TimestampedValue((FILE, str(b)), 14.5)])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        build_streaming_stages(p | stream, config)
    paths, windows = read_record(seen_folder(str(out)))
    assert paths == {str(a), str(b)} and len(windows) == 2
    parts = sorted(os.listdir(seen_folder(str(out))))
    assert sorted(w[:41] for w in windows) == [p[:41] for p in parts]
    assert [p[:41] for p in parts] == ["1970-01-01T00-00-10Z-1970-01-01T00-00-12Z", "1970-01-01T00-00-14Z-1970-01-01T00-00-16Z"]
    names = sorted(os.path.basename(f) for f in glob.glob(str(out / "*" / "*.jsonl")))
    assert names and all(":" not in n for n in names), names
    assert any(n.startswith("dead_letter-1970-01-01T00-00-14Z-1970-01-01T00-00-16Z-") for n in names), names
    for part in parts:  # a window's part is written after every file of that window
        window_files = [f for kind in ("articles", "stories", "dead_letter")  # the records (summary/ is not committed)
                        for f in glob.glob(str(out / kind / f"*-{part[:41]}-*.jsonl"))]
        assert len(window_files) == (3 if part.startswith("1970-01-01T00-00-14Z") else 2), window_files
        committed_at = os.stat(os.path.join(seen_folder(str(out)), part)).st_mtime_ns
        assert all(os.stat(f).st_mtime_ns <= committed_at for f in window_files)


# ----------------------------------------------------------------------------- child processes


def _config(tmp_path, small_taxonomy, drain_seconds: float = 30) -> str:
    path = tmp_path / "streaming.yaml"
    path.write_text(
        f"version: 1\ntopics: {small_taxonomy}\n"
        f"streaming:\n  poll_seconds: 0.25\n  settle_seconds: 0.2\n  drain_seconds: {drain_seconds}\n"
    )
    return str(path)


def _start(watched, out, config: str, window: int = 6) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "pipeline", "--streaming", "--input", str(watched / "*.jsonl"),
        "--output", str(out), "--window-seconds", str(window), "--config", config,
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _drop(watched, name: str, *lines: str) -> str:
    staged = watched.parent / (name + ".part")
    staged.write_text("".join(line + "\n" for line in lines))
    os.rename(staged, watched / name)  # appears whole
    return str(watched / name)


def _article(title: str, text: str) -> str:
    return json.dumps({"title": title, "text": text})


def _origins(out, kind: str = "articles") -> list[str]:
    key = "origin" if kind == "articles" else "source"
    return [r[key] for r in read_records(str(out), kind)]


def _wait_for_article(out, path: str, seconds: float = 60) -> bool:
    return bool(wait_for(lambda: any(o.startswith(path + "#") for o in _origins(out)), time.time() + seconds))


def _stop(proc: subprocess.Popen, signum: int, within: float = 40) -> tuple[int, str, float]:
    started = time.time()
    os.killpg(proc.pid, signum)
    try:
        _, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        stop_process_group(proc)
        pytest.fail(f"the job did not end within {within} s of {signal.Signals(signum).name}")
    return proc.returncode, err, time.time() - started


def _window_files(out) -> set[str]:
    return {os.path.relpath(p, out) for p in glob.glob(str(out / "*" / "*.jsonl"))}


@pytest.mark.e2e
def test_sigterm_drains_and_a_restart_keeps_windows_and_reads_only_new_files(tmp_path, small_taxonomy):
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    config = _config(tmp_path, small_taxonomy)
    proc = _start(watched, out, config)
    try:
        warm = _drop(watched, "warm.jsonl", _article("Vote", VOTE))
        assert _wait_for_article(out, warm), "the first job wrote nothing"
        dropped = _drop(watched, "a.jsonl", _article("Storm", STORM), "{broken json")
        time.sleep(1.5)
        code, err, took = _stop(proc, signal.SIGTERM)
    finally:
        stop_process_group(proc)
    assert code == 0, err
    assert "Traceback" not in err and "draining" in err
    print(f"\nSIGTERM 1.5 s after a drop: drained and exited in {took:.1f} s")
    assert sorted(_origins(out)) == [dropped + "#line 1", warm + "#line 1"]
    assert _origins(out, "dead_letter") == [dropped + "#line 2"]
    assert read_seen(seen_folder(str(out))) == {warm, dropped}
    first_windows = _window_files(out)
    assert first_windows and not any(":" in f for f in first_windows)

    later = _drop(watched, "b.jsonl", _article("Quake", QUAKE))  # while no job runs
    proc = _start(watched, out, config)
    try:
        assert _wait_for_article(out, later), "the restarted job did not read the new file"
        code, err, took = _stop(proc, signal.SIGINT)
    finally:
        stop_process_group(proc)
    assert code == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    print(f"SIGINT: drained and exited in {took:.1f} s")
    assert first_windows <= _window_files(out)  # the earlier job's windows are all still there
    assert sorted(_origins(out)) == [dropped + "#line 1", later + "#line 1", warm + "#line 1"]  # each once
    assert read_seen(seen_folder(str(out))) == {warm, dropped, later}


@pytest.mark.e2e
def test_a_second_signal_forces_and_the_next_job_reads_what_was_not_committed(tmp_path, small_taxonomy):
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    config = _config(tmp_path, small_taxonomy)
    proc = _start(watched, out, config, window=10)
    try:
        warm = _drop(watched, "warm.jsonl", _article("Vote", VOTE))
        assert _wait_for_article(out, warm), "the first job wrote nothing"  # up, and early in a 10 s window
        unfinished = _drop(watched, "c.jsonl", _article("Port", PORT))
        time.sleep(1.5)
        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(0.05)
        code, err, took = _stop(proc, signal.SIGTERM, within=10)
    finally:
        stop_process_group(proc)
    assert code == 143, err
    assert took < 5 and "second SIGTERM" in err and "Traceback" not in err
    assert _origins(out) == [warm + "#line 1"]  # stopped before the drain wrote c's window ...
    assert read_seen(seen_folder(str(out))) == {warm}  # ... so c was not committed; warm's window was
    # As if the job had died between writing warm's window and committing it: drop the commit.
    warm_files = _window_files(out)
    for part in os.listdir(seen_folder(str(out))):
        os.remove(os.path.join(seen_folder(str(out)), part))

    proc = _start(watched, out, config, window=2)
    try:
        assert _wait_for_article(out, unfinished), "the next job did not read the uncommitted file"
        assert _wait_for_article(out, warm), "the next job did not read the file of the uncommitted window"
        code, err, _ = _stop(proc, signal.SIGTERM)
    finally:
        stop_process_group(proc)
    assert code == 0, err
    origins = _origins(out)
    assert sorted(origins) == [unfinished + "#line 1", warm + "#line 1"]  # each once, read by the next job
    aside = out / "_streaming" / "uncommitted"
    set_aside = {os.path.relpath(p, aside).removesuffix(".uncommitted") for p in glob.glob(str(aside / "*" / "*"))}
    assert set_aside == warm_files and not warm_files & _window_files(out)  # kept, out of the readers' way
