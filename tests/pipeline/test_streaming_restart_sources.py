"""Feeds and Pub/Sub across streaming restarts: nothing doubled, nothing lost.

A feed is served by a real HTTP server on 127.0.0.1 (no ETag, so every poll returns
the whole feed), its URL carries an API key and a token; a Pub/Sub subscription
lives on the Cloud SDK emulator. The jobs are ``python -m pipeline --streaming``
child processes, stopped by SIGTERM (drain) or SIGKILL.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.pipeline.test_pubsub import BALLOT, FLOOD, PROJECT, emulator  # noqa: F401 - the emulator fixture
from tests.pipeline.test_streaming import STORM, VOTE
from tests.pipeline.test_streaming_stop import PORT, QUAKE
from tests.support import REPO
from tests.support.cli import read_records, stop_process_group, wait_for
from tests.support.httpserver import LocalHTTPServer, send
from transforms.io.seen import read_items, seen_folder

TEXTS = {"storm": ("Storm", STORM), "vote": ("Vote", VOTE), "quake": ("Quake", QUAKE), "port": ("Port", PORT)}


def _rss(keys: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{TEXTS[k][0]}</title><link>http://news.example.org/{k}</link><guid>urn:item:{k}</guid>"
        f"<description>{TEXTS[k][1]}</description><pubDate>Mon, 03 Feb 2025 10:0{i}:00 GMT</pubDate></item>"
        for i, k in enumerate(keys)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Local News</title>'
        f"<link>http://news.example.org/</link>{items}</channel></rss>"
    ).encode()


def _config(tmp_path, small_taxonomy, extra: str = "") -> str:
    path = tmp_path / "streaming.yaml"
    path.write_text(
        f"version: 1\ntopics: {small_taxonomy}\nstreaming:\n  poll_seconds: 0.25\n  feed_poll_seconds: 1\n"
        f"  settle_seconds: 0.2\n  drain_seconds: 150\n{extra}"
    )
    return str(path)


def _start(args: list[str], out, config: str, log, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline", "--streaming", *args, "--output", str(out), "--window-seconds", "2",
           "--config", config]  # fmt: skip
    with open(log, "ab") as fh:  # a file, not a pipe: a chatty job must never block on a full pipe
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _drain(proc: subprocess.Popen, log) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        code = proc.wait(180)  # a job behind its polls drains its backlog first (a minute at load 12)
    except subprocess.TimeoutExpired:
        stop_process_group(proc)
        pytest.fail("the job did not drain within 180 s")
    assert code == 0, open(log, encoding="utf-8", errors="replace").read()[-2000:]


def _links(out) -> list[str]:
    return sorted(r["url"] for r in read_records(str(out), "articles"))


@pytest.mark.e2e
def test_a_repolled_or_restarted_feed_gives_each_entry_once_and_no_credential_is_written(tmp_path, small_taxonomy):
    served = ["storm", "vote"]
    out, log = tmp_path / "out", tmp_path / "job.log"
    config = _config(tmp_path, small_taxonomy)
    with LocalHTTPServer() as server:
        server.route("/feed.xml", lambda req: send(req, 200, _rss(served), "application/rss+xml"))
        feed = server.url("/feed.xml") + "?api_key=s3cr3t-pw&token=t0k3n-value"  # userinfo is refused by the fetcher
        args = ["--feed", feed, "--allow-private-networks"]
        proc = _start(args, out, config, log)
        try:
            assert wait_for(lambda: len(_links(out)) >= 2, time.time() + 90), "the job wrote no feed articles"
            polls = server.hits("/feed.xml")
            assert wait_for(lambda: server.hits("/feed.xml") >= polls + 2, time.time() + 30)  # polled again and again
            _drain(proc, log)  # writes every window, those of the last polls too (no waiting for them to close)
        finally:
            stop_process_group(proc)
        assert _links(out) == ["http://news.example.org/storm", "http://news.example.org/vote"]  # each once

        served.append("quake")  # while no job runs; the restarted job sees storm and vote again
        proc = _start(args, out, config, log)
        try:
            assert wait_for(lambda: len(_links(out)) >= 3, time.time() + 90), "the restarted job missed the new entry"
            polls = server.hits("/feed.xml")
            assert wait_for(lambda: server.hits("/feed.xml") >= polls + 2, time.time() + 30)
            served.append("port")
            assert wait_for(lambda: len(_links(out)) >= 4, time.time() + 60), "an entry added while running was missed"
            committed = lambda: len(read_items(seen_folder(str(out)))) == 4  # noqa: E731 - port's window too
            assert wait_for(committed, time.time() + 60), "the window of port was never committed"
            os.killpg(proc.pid, signal.SIGKILL)  # then killed: the next job skips what was committed
            proc.wait(10)
        finally:
            stop_process_group(proc)

        polls = server.hits("/feed.xml")
        proc = _start(args, out, config, log)
        try:
            assert wait_for(lambda: server.hits("/feed.xml") >= polls + 2, time.time() + 90), "the third job never polled"
            _drain(proc, log)
        finally:
            stop_process_group(proc)
    assert _links(out) == [f"http://news.example.org/{k}" for k in ("port", "quake", "storm", "vote")]
    for path in glob.glob(str(out / "**" / "*"), recursive=True) + [str(log)]:
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                data = fh.read()
            assert b"s3cr3t-pw" not in data and b"t0k3n-value" not in data, path


@pytest.mark.e2e
def test_a_pulled_message_is_acknowledged_only_once_its_window_is_committed(
    emulator, tmp_path, small_taxonomy, monkeypatch  # noqa: F811
):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator)  # the job and this test's clients
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic, sub = f"projects/{PROJECT}/topics/restart-in", f"projects/{PROJECT}/subscriptions/restart-in-sub"
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=10)
    env = dict(os.environ)
    out, log = tmp_path / "out", tmp_path / "job.log"
    config = _config(tmp_path, small_taxonomy, "  pubsub_ack_seconds: 10\n")

    def publish(title: str, text: str) -> str:
        return publisher.publish(topic, ('{"title": "%s", "text": "%s"}' % (title, text)).encode()).result(timeout=10)

    def messages() -> list[str]:
        return sorted(r["origin"].rsplit("/", 1)[1] for r in read_records(str(out), "articles"))

    first = publish("Flood", FLOOD)
    proc = _start(["--input", f"pubsub://{sub}"], out, config, log, env)
    try:
        assert wait_for(lambda: messages() == [first], time.time() + 90), "the job wrote nothing"
        second = publish("Ballot", BALLOT)
        time.sleep(0.8)  # pulled (every 0.25 s), its 2-s window not yet written and committed (~5 s here)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        stop_process_group(proc)
    assert messages() == [first], "the window was committed before the kill: the test did not test anything"

    proc = _start(["--input", f"pubsub://{sub}"], out, config, log, env)  # Pub/Sub redelivers after 10 s
    try:
        assert wait_for(lambda: messages() == sorted([first, second]), time.time() + 90), (
            f"the message pulled by the killed job was lost: {messages()}"
        )
        time.sleep(3)
        stopped = time.time()  # the job renews ack deadlines only while it polls: not after this
        _drain(proc, log)  # every window committed: every message acknowledged
    finally:
        stop_process_group(proc)
    assert messages() == sorted([first, second])  # each once: the first was not read again
    time.sleep(max(0.0, stopped + 10 + 2 - time.time()))  # past the ack deadline: an unacknowledged one is back
    left = subscriber.pull(subscription=sub, max_messages=10, return_immediately=True, timeout=10)
    assert [m.message.message_id for m in left.received_messages] == []
