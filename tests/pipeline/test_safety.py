"""Batch safety end to end, with real processes: a failed or killed run never harms the
previous outputs, overlapping runs are refused (or wait), damaged state stops a run
with one line, an output inside the inputs is refused, a full disk leaves nothing behind."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from pipeline import exitcodes
from pipeline.verify import verify
from tests.support import REPO
from tests.support.cli import read_jsonl, run_cli, run_main, wait_for
from tests.support.samples import TEXT_DE, TEXT_EN, TEXT_FR

pytestmark = pytest.mark.e2e  # every test here runs python -m pipeline in a child (some runs around it in this process)


def write_articles(path, count, start=0, pad=0):
    texts = (TEXT_EN, TEXT_FR, TEXT_DE)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(start, start + count):
            fh.write(json.dumps({"title": f"Item {i}", "text": f"{texts[i % 3]} Number {i}. " + "x" * pad}) + "\n")
        fh.write("{broken json\n")
    return path


def published(out):
    """Every published file's bytes (outside _staging), and the marker's run id."""
    files = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and "_staging" not in p.parts and p.name != "_LOCK"}
    return files


def popen_cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)


def test_a_killed_run_leaves_the_previous_outputs_and_the_next_run_cleans_up(tmp_path):
    small = write_articles(tmp_path / "small.jsonl", 3)
    big = write_articles(tmp_path / "big.jsonl", 800)
    out = tmp_path / "out"
    first = run_main("--input", str(small), "--output", str(out))  # the runs around the killed one: in this process
    assert first.returncode == 0, first.stderr
    before = published(out)
    marker = json.loads((out / "_SUCCESS").read_text())
    assert marker["counts"]["articles"] == 3 and json.loads((out / "summary.json").read_text())["run_id"] == marker[
        "run_id"]

    proc = popen_cli("--input", str(big), "--output", str(out))
    staged = wait_for(lambda: list((out / "_staging").glob("*/articles/*")), time.time() + 120)
    assert staged, "the second run never started writing"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert published(out) == before  # the killed run changed nothing that readers see
    assert any((out / "_staging").iterdir())

    third = run_main("--input", str(small), "--output", str(out))
    assert third.returncode == 0, third.stderr
    assert not (out / "_staging").exists()
    assert len(read_jsonl(out / "articles")) == 3
    report = verify(str(out), [str(small)])
    assert report.violations == [], report.violations


class HeldFeed:
    """A feed on 127.0.0.1 whose answer waits until :meth:`release`: a run polling it holds its
    lock for as long as the test needs, however loaded the machine (no race with its end)."""

    def __init__(self, server):
        self.requested, self.released = threading.Event(), threading.Event()
        self.url = server.url("/held.xml")
        server.route("/held.xml", self._handle)

    def _handle(self, req):
        from tests.support.feeds import rss
        from tests.support.httpserver import send

        self.requested.set()
        self.released.wait(600)
        send(req, 200, rss(1, summary=TEXT_EN), "application/rss+xml; charset=utf-8")

    def config(self, folder):
        """A job config whose fetch waits long enough for the held answer (the default cuts at 30 s)."""
        (folder / "feeds.yaml").write_text("version: 1\nfeeds: []\ntimeouts: {connect_seconds: 600, total_seconds: 900}\n")
        (folder / "job.yaml").write_text("version: 1\nfeeds: feeds.yaml\n")
        return str(folder / "job.yaml")

    def release(self):
        self.released.set()


def lines_of(stream):
    """Collect a child's output lines in a thread as they come (the list fills while it runs)."""
    lines = []
    thread = threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True)
    thread.start()
    return lines, thread


def test_overlapping_runs_one_fails_at_once_one_waits(tmp_path):
    from tests.support.httpserver import LocalHTTPServer

    small = write_articles(tmp_path / "small.jsonl", 3)
    out = tmp_path / "out"
    with LocalHTTPServer() as server:
        feed = HeldFeed(server)
        first = popen_cli("--feed", feed.url, "--allow-private-networks", "--config", feed.config(tmp_path),
                          "--output", str(out))
        waiting = None
        try:
            # the first run polls its feed inside the pipeline, after it took the lock: from the request
            # on it holds the lock until the test releases the feed
            assert wait_for(feed.requested.is_set, time.time() + 600), "the first run never polled its feed"
            assert json.loads((out / "_LOCK").read_text())["pid"] == first.pid
            started = time.monotonic()
            refused = run_cli("--input", str(small), "--output", str(out))
            assert refused.returncode == exitcodes.LOCKED, refused.stderr
            assert len(refused.stderr.strip().splitlines()) == 1 and "in use by another newsbeam run" in refused.stderr
            assert "--wait-for-lock" in refused.stderr and not (out / "articles").exists()
            assert time.monotonic() - started < 300
            waiting = popen_cli("--input", str(small), "--output", str(out), "--wait-for-lock", "600", "-v")
            lines, reader = lines_of(waiting.stderr)
            assert wait_for(lambda: any("waiting up to 600 s" in line for line in lines), time.time() + 600), lines
            assert waiting.poll() is None
            feed.release()
            assert first.wait(timeout=600) == 0, first.stderr.read()
            assert waiting.wait(timeout=600) == 0, "".join(lines)[-3000:]
            reader.join(10)
        finally:
            feed.release()
            for proc in (first, waiting):
                if proc is not None and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
    assert len(read_jsonl(out / "articles")) == 3  # the waiting run ran after the first and replaced it
    assert verify(str(out), [str(small)]).violations == []


def test_runs_sharing_a_state_do_not_overlap(tmp_path):
    from tests.pipeline.test_lock import start_holder

    src = write_articles(tmp_path / "a.jsonl", 2)
    state = tmp_path / "state"
    holder = start_holder(state)
    try:
        result = run_cli("--input", str(src), "--output", str(tmp_path / "o2"), "--state", str(state))
        assert result.returncode == exitcodes.LOCKED and "--state" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_damaged_state_stops_the_run_with_one_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_articles(src / "a.jsonl", 30)
    state, out = tmp_path / "state", tmp_path / "out"
    args = ("--input", str(src / "*.jsonl"), "--output", str(out), "--state", str(state))
    assert run_main(*args).returncode == 0  # the good run, in this process; the damaged ones in a child
    before = published(out)
    shard = next((state / "memory").glob("gen-*/memory-*"))
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])  # truncated
    result = run_cli(*args)
    assert result.returncode == exitcodes.USAGE
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(shard) in result.stderr and "damaged" in result.stderr and "CURRENT" in result.stderr
    assert published(out) == before

    shard.write_bytes(data)
    (state / "memory" / "CURRENT").write_text("garbage")
    result = run_main(*args)  # the second damage in this process: the same main(), the same message
    assert result.returncode == exitcodes.USAGE and "CURRENT is damaged" in result.stderr and "--state" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_damaged_manifest_stops_an_incremental_run_with_one_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_articles(src / "a.jsonl", 3)
    state, out = tmp_path / "state", tmp_path / "out"
    args = ("--input", str(src / "*.jsonl"), "--output", str(out), "--state", str(state), "--incremental")
    assert run_main(*args).returncode == 0  # the good run, in this process; the damaged ones in a child
    manifest = next((state / "manifest").glob("run-*.json"))
    record = json.loads(manifest.read_text())
    record["files"][0]["size"] += 1  # edited by hand: the checksum no longer matches
    manifest.write_text(json.dumps(record))
    result = run_cli(*args)
    assert result.returncode == exitcodes.USAGE
    assert len(result.stderr.strip().splitlines()) == 1 and str(manifest) in result.stderr
    assert "checksum" in result.stderr
    manifest.write_text("\x00garbage")
    result = run_main(*args)  # the second damage in this process: the same main(), the same message
    assert result.returncode == exitcodes.USAGE and "not JSON" in result.stderr


def test_orphan_generations_go_and_the_last_good_one_stays(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_articles(src / "a.jsonl", 3)
    state, out = tmp_path / "state", tmp_path / "out"
    args = ("--input", str(src / "*.jsonl"), "--output", str(out), "--state", str(state))
    assert run_main(*args).returncode == 0  # both runs in this process: the memory generations are tested
    orphan = state / "memory" / "gen-29990101T000000Z-crashed"  # newer than any: a crashed run's
    orphan.mkdir()
    with gzip.open(orphan / "memory-00000-of-00001.jsonl.gz", "wt") as fh:
        fh.write('{"half')
    first = json.loads((state / "memory" / "CURRENT").read_text())["generation"]
    assert run_main(*args).returncode == 0
    current = json.loads((state / "memory" / "CURRENT").read_text())
    assert current["previous"] == first
    assert sorted(p.name for p in (state / "memory").glob("gen-*")) == sorted([first, current["generation"]])


def test_output_inside_an_input_pattern_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_articles(data / "a.jsonl", 2)
    result = run_cli("--input", str(data / "**" / "*.jsonl"), "--output", str(data / "out"))
    assert result.returncode == exitcodes.USAGE
    assert "inside --input" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = run_main("--input", str(data), "--output", str(tmp_path / "o"), "--state", str(data / "state"))
    assert result.returncode == exitcodes.USAGE and "--state" in result.stderr
    assert run_main("--input", str(data / "*.jsonl"), "--output", str(data / "out")).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a real filesystem that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 and not os.environ.get("CI"):  # under CI it must run: the mount below fails loudly
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    assert done.returncode == 0, f"cannot mount a tmpfs: {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_leaves_no_temp_files(tmp_path, small_disk):
    small = write_articles(tmp_path / "small.jsonl", 3)
    big = write_articles(tmp_path / "big.jsonl", 400, pad=4000)  # ~1.7 MB of articles: more than the disk
    out = small_disk / "out"
    assert run_main("--input", str(small), "--output", str(out)).returncode == 0
    before = published(out)
    result = run_cli("--input", str(big), "--output", str(out))
    assert result.returncode == exitcodes.FAILED, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "no space left on device" in lines[-1]
    assert not any("Traceback" in line for line in lines), result.stderr[-2000:]
    assert published(out) == before
    left = sorted(str(p.relative_to(small_disk)) for p in small_disk.rglob("*") if p.is_file())
    assert left == sorted(f"out/{p}" for p in before), left
    shutil.rmtree(out)
