"""One writer at a time: the lease lock on local disk (in this process and across real
processes) and on Cloud Storage (gcp-storage-emulator)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pipeline import exitcodes
from pipeline.lock import LOCK_FILE, Holder, Lease, LockBusy, is_stale, process_alive, process_start
from tests.support import REPO


def holder(**changes):
    base = Holder("r1", "me", "host-a", 4242, "99", 1000.0, 1060.0, "tok")
    return Holder(**{**base.__dict__, **changes})


# ------------------------------------------------------------------ pure


def test_holder_round_trips_and_describes_itself():
    h = holder()
    assert Holder.from_bytes(h.to_bytes()) == h
    assert "run r1" in h.describe() and "pid 4242 on host-a" in h.describe()
    with pytest.raises(ValueError):
        Holder.from_bytes(b'{"run_id": "x"}')
    with pytest.raises(ValueError):
        Holder.from_bytes(b"[1]")


def test_stale_when_expired_or_when_its_process_on_this_host_is_gone():
    alive = lambda pid, start: True  # noqa: E731
    dead = lambda pid, start: False  # noqa: E731
    assert not is_stale(holder(), now=1030.0, host="host-a", alive=alive)
    assert is_stale(holder(), now=1061.0, host="host-a", alive=alive)  # lease expired
    assert is_stale(holder(), now=1030.0, host="host-a", alive=dead)  # same host, process gone
    assert not is_stale(holder(), now=1030.0, host="host-b", alive=dead)  # another host: only the lease counts


def test_process_identity_includes_its_start_time():
    me = os.getpid()
    assert process_alive(me, process_start(me))
    assert not process_alive(me, "1")  # same pid, another process (pid reused)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive(child.pid, None)


# ------------------------------------------------------------------ local disk, one process


def test_second_lease_on_a_folder_is_refused_until_the_first_is_released(tmp_path):
    first = Lease(str(tmp_path), "--output", "run-1")
    first.acquire()
    try:
        content = json.loads((tmp_path / LOCK_FILE).read_text())
        assert content["run_id"] == "run-1" and content["pid"] == os.getpid() and content["host"] == socket.gethostname()
        second = Lease(str(tmp_path), "--output", "run-2")
        with pytest.raises(LockBusy, match=r"--output .* is in use by another newsbeam run run-1"):
            second.acquire()
        started = time.monotonic()
        with pytest.raises(LockBusy, match="waited 0.3 s"):
            second.acquire(wait=0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        first.release()
    assert not (tmp_path / LOCK_FILE).exists()
    second.acquire()
    second.release()


def test_the_lease_is_renewed_while_held(tmp_path):
    lease = Lease(str(tmp_path), "--state", "run-1", lease_seconds=0.4)
    lease.acquire()
    try:
        first = json.loads((tmp_path / LOCK_FILE).read_text())["expires"]
        time.sleep(0.35)
        assert json.loads((tmp_path / LOCK_FILE).read_text())["expires"] > first
        lease.check()
    finally:
        lease.release()


# ------------------------------------------------------------------ local disk, real processes


def start_holder(folder, seconds=3600, lease=60, env=None):
    """A process holding newsbeam's lock on ``folder`` until ``seconds`` pass or the test kills it. The
    default outlasts any run a test makes under load (it was 60 s: a loaded run reached its lock check
    after the holder had let go, and was not refused); the lease is renewed while it holds."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.lock_holder", str(folder), str(seconds), str(lease)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked", proc.stderr.read()
    return proc


@pytest.mark.e2e
def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    proc = start_holder(tmp_path)
    try:
        with pytest.raises(LockBusy, match="run holder"):
            Lease(str(tmp_path), "--output", "mine").acquire()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (tmp_path / LOCK_FILE).exists()  # the dead run's file is still there ...
    lease = Lease(str(tmp_path), "--output", "mine")
    lease.acquire()  # ... and its lock is free: the kernel dropped it with the process
    assert json.loads((tmp_path / LOCK_FILE).read_text())["run_id"] == "mine"
    lease.release()


@pytest.mark.e2e
def test_a_waiting_lease_gets_the_lock_when_the_holder_ends(tmp_path):
    proc = start_holder(tmp_path, seconds=1.5)
    lease = Lease(str(tmp_path), "--output", "mine")
    started = time.monotonic()
    lease.acquire(wait=30)
    waited = time.monotonic() - started
    proc.wait(timeout=30)
    assert 0.5 < waited < 20
    lease.release()


# ------------------------------------------------------------------ Cloud Storage


@pytest.mark.e2e
def test_gcs_lease_excludes_a_second_holder_and_takes_over_an_expired_one(gcs_emulator):
    gcs_emulator.bucket("news-locks")
    folder = "gs://news-locks/out"
    first = Lease(folder, "--output", "run-1", lease_seconds=60)
    first.acquire()
    blob = gcs_emulator.client().bucket("news-locks").get_blob(f"out/{LOCK_FILE}")
    assert json.loads(blob.download_as_text())["run_id"] == "run-1"
    with pytest.raises(LockBusy, match="run run-1"):
        Lease(folder, "--output", "run-2").acquire()
    first.release()
    assert gcs_emulator.client().bucket("news-locks").get_blob(f"out/{LOCK_FILE}") is None

    # a holder on another host whose lease ran out (it died, or hangs): taken over, and it notices
    stale = Lease(folder, "--output", "run-3", lease_seconds=0.5)
    stale.acquire()
    stale._stop.set()  # it stops renewing, as a hung or dead process would
    stale._thread.join()
    time.sleep(0.8)
    taker = Lease(folder, "--output", "run-4", lease_seconds=60)
    taker.acquire()
    assert json.loads(gcs_emulator.client().bucket("news-locks").get_blob(f"out/{LOCK_FILE}").download_as_text())[
        "run_id"] == "run-4"
    assert not stale._backend.renew(stale._holder)  # the old holder finds its lock gone at its next renewal
    taker.release()


@pytest.mark.e2e
def test_gcs_lock_of_a_killed_process_on_this_host_is_taken_over_at_once(gcs_emulator):
    gcs_emulator.bucket("news-locks-kill")
    folder = "gs://news-locks-kill/state"
    proc = start_holder(folder, env=gcs_emulator.env)
    try:
        with pytest.raises(LockBusy, match="run holder"):
            Lease(folder, "--state", "mine").acquire()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    lease = Lease(folder, "--state", "mine")
    lease.acquire()  # its lease (60 s) has not expired, but its process is gone
    lease.release()


@pytest.mark.e2e
def test_a_run_on_a_locked_gcs_output_fails_with_the_locked_status(gcs_emulator, tmp_path):
    from tests.support.cli import run_cli

    gcs_emulator.bucket("news-locks-cli")
    (tmp_path / "a.jsonl").write_text('{"title": "t", "text": "some words here"}\n', encoding="utf-8")
    proc = start_holder("gs://news-locks-cli/out", env=gcs_emulator.env)
    try:
        result = run_cli("--input", str(tmp_path / "a.jsonl"), "--output", "gs://news-locks-cli/out",
                         env=gcs_emulator.env)
        assert result.returncode == exitcodes.LOCKED, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "run holder" in result.stderr
        names = [b.name for b in gcs_emulator.client().list_blobs("news-locks-cli")]
        assert names == ["out/_LOCK"]
    finally:
        proc.kill()
        proc.wait()
