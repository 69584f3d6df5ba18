"""The live poller stops when asked and never emits a file an earlier job committed."""

import threading
import time

from transforms.io.seen import write_part
from transforms.io.watch import FILE, LivePoller, poll_until_stopped


def test_poller_skips_committed_files_and_emits_the_rest(tmp_path):
    (tmp_path / "done.jsonl").write_text("{}\n")
    (tmp_path / "new.jsonl").write_text("{}\n")
    seen = str(tmp_path / "out" / "seen")
    write_part(seen, "w", [str(tmp_path / "done.jsonl")])
    poller = LivePoller([str(tmp_path / "*.jsonl")], [], 1, 10, settle_seconds=0, seen=seen)
    _, items = poller.poll_once()
    assert items == [(FILE, str(tmp_path / "new.jsonl"))]


def test_iteration_ends_when_stop_is_set_without_another_poll(tmp_path):
    stop = threading.Event()
    polls = []

    def poll_once():
        polls.append(time.monotonic())
        return time.time(), []

    events = poll_until_stopped(poll_once, 30.0, time.time, None, stop)
    next(events)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert list(events) == []  # the 30 s wait ended at the stop, and no poll followed
    assert time.monotonic() - started < 5 and len(polls) == 1


def test_a_stopped_poller_yields_nothing(tmp_path):
    stop = threading.Event()
    stop.set()
    (tmp_path / "a.jsonl").write_text("{}\n")
    poller = LivePoller([str(tmp_path / "*.jsonl")], [], 1, 10, settle_seconds=0, stop=stop)
    assert list(poller) == []
