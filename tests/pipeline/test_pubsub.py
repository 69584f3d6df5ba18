"""Pub/Sub in and out for --streaming, against the Cloud SDK's Pub/Sub emulator.

The pure parts (``--input pubsub://`` parsing, message decoding) are tested
directly. The live test starts ``gcloud beta emulators pubsub start`` on a free
localhost port, runs ``python -m pipeline --streaming --input pubsub://...
--output-topic ...`` as a subprocess against it (PUBSUB_EMULATOR_HOST), publishes
articles, an exact copy and bad messages, and reads the windowed files and the
output topic's subscription.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from pipeline.config import ConfigError
from pipeline.streaming import (
    PUBSUB,
    LivePubSubPoller,
    article_from_message,
    check_topic,
    decode_message,
    encode_message,
    message_origin,
    split_pubsub_inputs,
)
from transforms.common.records import RejectedInput
from transforms.io.watch import ERROR, FILE, LivePoller
from tests.support import REPO
from tests.support.cli import read_records, stop_process_group, wait_for
from tests.support.samples import SMALL_TAXONOMY

PROJECT = "newsbeam-test"
SUB = f"projects/{PROJECT}/subscriptions/articles-in-sub"

FLOOD = (
    "Heavy rain after a slow-moving storm flooded the lower town on Tuesday night. Firefighters pumped water "
    "out of cellars until dawn, the railway line to the coast was closed between two stations, and the mayor "
    "asked residents to avoid the riverside paths until the level drops, officials said on Wednesday."
)
BALLOT = (
    "Voters in two rural districts will return to the polls next month after a court annulled the first "
    "round because of missing ballot papers. The electoral board said it would print extra papers and keep "
    "polling stations open two hours longer than usual so that workers on late shifts can take part."
)


# ----------------------------------------------------------------------------- pure functions


def test_pubsub_inputs_are_split_from_file_patterns_and_checked():
    patterns, subs = split_pubsub_inputs(["data/*.jsonl", f"pubsub://{SUB}", "gs://b/x/*.txt", f"pubsub://{SUB}"])
    assert patterns == ("data/*.jsonl", "gs://b/x/*.txt")
    assert subs == (SUB,)
    for bad in ("pubsub://projects/p/topics/t", "pubsub://my-sub", "pubsub://projects/p/subscriptions/"):
        with pytest.raises(ConfigError, match="expected pubsub://projects/PROJECT/subscriptions/SUBSCRIPTION"):
            split_pubsub_inputs([bad])
    with pytest.raises(ConfigError, match="invalid project id 'p'"):
        split_pubsub_inputs(["pubsub://projects/p/subscriptions/s"])
    assert check_topic("projects/my-project/topics/out") == "projects/my-project/topics/out"
    for bad in ("out", "projects/my-project/subscriptions/s", "projects/X/topics/out"):
        with pytest.raises(ConfigError, match="--output-topic"):
            check_topic(bad)


def test_a_message_is_one_jsonl_article_and_bad_ones_are_rejected_with_a_reason():
    origin = message_origin(SUB, "17")
    assert origin == f"pubsub://{SUB}/messages/17"
    body = {
        "title": "Flood",
        "body": FLOOD,
        "url": "https://a.example/f",
        "published_at": "2024-03-05T10:00:00Z",
        "source": "a.example",
        "language": "en",
        "id": "ext-1",
        "unknown": [1, 2],
    }
    raw = article_from_message(json.dumps(body).encode(), origin)
    assert raw["origin"] == origin and raw["format"] == "pubsub"
    assert (raw["title"], raw["text"], raw["url"], raw["published"]) == (
        "Flood",
        FLOOD,
        body["url"],
        body["published_at"],
    )
    assert (raw["source"], raw["language"], raw["external_id"]) == ("a.example", "en", "ext-1")
    for data, reason in (
        (b"", "empty message"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "not an object"),
        (b'{"title": "no text"}', "no text"),
        (b'{"text": "   "}', "is empty"),
    ):
        with pytest.raises(RejectedInput, match=reason):
            article_from_message(data, origin)


class _Received:  # the shape of a pulled message: .message.data, .message.message_id
    def __init__(self, message_id: str, data: bytes):
        self.message = type("Message", (), {"message_id": message_id, "data": data})()


def test_live_poller_pulls_each_subscription_with_the_files_and_reports_a_failing_pull_once(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    queued = {SUB: [[_Received("1", b"\xff raw bytes"), _Received("2", b"{}")], []]}

    def pull(sub):
        if sub not in queued:
            raise RuntimeError("404 Subscription does not exist")
        return queued[sub].pop(0) if queued[sub] else []

    start = int(time.time()) + 10  # after the file's mtime
    clock = iter(range(start, start + 100)).__next__
    files = LivePoller([str(tmp_path / "*.jsonl")], [], 1.0, 300.0, settle_seconds=0.0, clock=clock)
    missing = "projects/newsbeam-test/subscriptions/missing"
    poller = LivePubSubPoller([SUB, missing], files, 1.0, pull=pull, clock=clock)
    now, items = poller.poll_once()
    assert now == start + 1  # stamped after the pulls: no pulled message is behind the watermark
    assert items[0] == (FILE, str(tmp_path / "a.jsonl"))
    assert [kind for kind, _ in items[1:]] == [PUBSUB, PUBSUB, ERROR]
    assert decode_message(items[1][1]) == {"origin": message_origin(SUB, "1"), "data": b"\xff raw bytes",
                                           "text": b"\xff raw bytes"}  # fmt: skip
    assert items[3][1].startswith(f"cannot pull '{missing}': RuntimeError: 404")
    assert poller.poll_once()[1] == []  # nothing new; the same failure is not reported again
    assert decode_message(encode_message(message_origin(SUB, "9"), b"")) == {
        "origin": message_origin(SUB, "9"),
        "data": b"",
        "text": b"",
    }


# ----------------------------------------------------------------------------- the emulator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _emulator_missing() -> str | None:
    """Why the Pub/Sub emulator cannot start here, or None when gcloud, its component and Java are present."""
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return "gcloud (the Cloud SDK) is not installed"
    info = subprocess.run([gcloud, "info", "--format=value(installation.sdk_root)"], capture_output=True, text=True,
                          timeout=120)
    root = info.stdout.strip()
    if not root or not os.path.isdir(os.path.join(root, "platform", "pubsub-emulator")):
        return f"the Cloud SDK at {root or '(unknown)'} has no pubsub-emulator component"
    if not shutil.which("java"):
        return "Java, which the emulator runs on, is not installed"
    return None


@pytest.fixture(scope="module")
def emulator():
    """``host:port`` of a running Pub/Sub emulator, stopped after the module."""
    missing = _emulator_missing()
    if missing and (os.geteuid() == 0 or os.environ.get("CI")):  # make install installs it there: not optional
        pytest.fail(f"the Pub/Sub emulator is missing: {missing}; `make pubsub-emulator` installs it (apt-get)")
    if missing:  # not root: make install could not install it; say why the test is not run
        pytest.skip(f"live Pub/Sub test not run: {missing}; `make pubsub-emulator` installs it with apt-get "
                    "(root, Google's Cloud SDK apt repository)")
    gcloud = shutil.which("gcloud")
    host = f"127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port={host}", f"--project={PROJECT}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 45
        while not _answers(host):
            assert proc.poll() is None, f"the emulator exited: {proc.stderr.read().decode(errors='replace')[-800:]}"
            assert time.time() < deadline, "the Pub/Sub emulator did not answer within 45 s"
            time.sleep(0.2)
        yield host
    finally:
        stop_process_group(proc)


@pytest.mark.e2e
def test_streaming_job_reads_articles_from_pubsub_and_publishes_the_enrichedread_records(emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator)
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    in_topic, out_topic = f"projects/{PROJECT}/topics/articles-in", f"projects/{PROJECT}/topics/articles-out"
    out_sub = f"projects/{PROJECT}/subscriptions/articles-out-sub"
    for topic, sub in ((in_topic, SUB), (out_topic, out_sub)):
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=sub, topic=topic)

    out, watched = tmp_path / "out", tmp_path / "in"
    watched.mkdir()
    config = tmp_path / "streaming.yaml"
    (tmp_path / "topics.yaml").write_text(json.dumps(SMALL_TAXONOMY))  # JSON is YAML
    config.write_text(f"version: 1\ntopics: {tmp_path / 'topics.yaml'}\nstreaming:\n  poll_seconds: 0.25\n")
    cmd = [
        sys.executable, "-m", "pipeline", "--streaming", "--input", f"pubsub://{SUB}",
        "--input", str(watched / "*.jsonl"), "--output", str(out),
        "--window-seconds", "2", "--config", str(config), "--output-topic", out_topic,
    ]  # fmt: skip
    env = {**os.environ, "PUBSUB_EMULATOR_HOST": emulator}
    log = tmp_path / "job.log"
    with open(log, "wb") as fh:  # a file, not a pipe: a chatty job must never block on a full pipe
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)

    def publish(data: bytes) -> str:
        return publisher.publish(in_topic, data).result(timeout=10)

    def by_message(kind: str) -> dict[str, dict]:
        key = "origin" if kind == "articles" else "source"
        return {r[key].rsplit("/", 1)[1]: r for r in read_records(str(out), kind) if r[key].startswith("pubsub://")}

    try:
        flood = {"title": "Flood", "text": FLOOD, "url": "https://a.example/flood?utm_source=x", "source": "a.example",
                 "published_at": "2024-03-05T10:00:00+01:00"}  # fmt: skip
        flood_id = publish(json.dumps(flood).encode())  # published before the job is up: the subscription keeps it
        ballot_id = publish(json.dumps({"content": BALLOT, "title": "Rerun", "language": "en"}).encode())
        not_json_id = publish(b"<html>not an article</html>")
        no_text_id = publish(json.dumps({"title": "headline only"}).encode())
        got = wait_for(
            lambda: proc.poll() is not None or {flood_id, ballot_id} <= by_message("articles").keys(), time.time() + 60
        )
        assert got and proc.poll() is None, (
            f"the job wrote no articles; its log ends: {log.read_text(errors='replace')[-1500:]}"
        )

        # an exact copy, published after the original's window was written
        copied = time.time()
        copy_id = publish(json.dumps({**flood, "url": "https://b.example/flood-copy"}).encode())
        assert wait_for(lambda: copy_id in by_message("articles"), time.time() + 30), "the copy never arrived"
        copy_latency = time.time() - copied

        # a file dropped into the watched folder is read by the same job (one live poller for both)
        staged = tmp_path / "ballot.tmp"
        staged.write_text(json.dumps({"title": "Rerun", "text": BALLOT, "url": "https://c.example/rerun"}) + "\n")
        os.rename(staged, watched / "ballot.jsonl")
        from_file = wait_for(
            lambda: [r for r in read_records(str(out), "articles") if r["origin"].startswith(str(watched))],
            time.time() + 30,
        )
        ballot_article_id = by_message("articles")[ballot_id]["id"]
        assert from_file and from_file[0]["dedup"] == {"status": "exact_duplicate", "duplicate_of": ballot_article_id}

        articles = by_message("articles")
        assert set(articles) == {flood_id, ballot_id, copy_id}
        original, ballot, copy = articles[flood_id], articles[ballot_id], articles[copy_id]
        assert original["origin"] == f"pubsub://{SUB}/messages/{flood_id}"
        assert (original["title"], original["text"], original["url"]) == ("Flood", FLOOD, "https://a.example/flood")
        assert original["published_at"] == "2024-03-05T09:00:00Z" and original["language"] == "en"
        assert [t["name"] for t in original["topics"]] == ["natural_disaster"]
        assert [t["name"] for t in ballot["topics"]] == ["elections"] and ballot["text"] == BALLOT
        assert original["dedup"]["status"] == "unique" and ballot["dedup"]["status"] == "unique"
        assert copy["dedup"] == {"status": "exact_duplicate", "duplicate_of": original["id"]}
        assert copy["story_id"] == original["story_id"] != ballot["story_id"]

        dead = wait_for(lambda: by_message("dead_letter") if len(by_message("dead_letter")) == 2 else None,
                         time.time() + 10)  # fmt: skip
        assert dead and set(dead) == {not_json_id, no_text_id}
        assert dead[not_json_id]["stage"] == "read" and "not JSON" in dead[not_json_id]["error"]
        assert dead[not_json_id]["excerpt"].startswith("<html>not an article")
        assert dead[no_text_id]["error"] == "no text (fields text, content, body, maintext, text_content, article_text or description)"

        published: dict[str, dict] = {}
        deadline = time.time() + 20
        while len(published) < 4 and time.time() < deadline:
            response = subscriber.pull(subscription=out_sub, max_messages=10, timeout=5)
            for received in response.received_messages:
                record = json.loads(received.message.data)
                published[record["id"]] = record
            if response.received_messages:
                subscriber.acknowledge(subscription=out_sub, ack_ids=[m.ack_id for m in response.received_messages])
        everything = {a["id"]: a for a in read_records(str(out), "articles")}
        assert len(everything) == 4 and published == everything  # the same records as in articles/
        print(f"\nPub/Sub publish -> article in articles/: {copy_latency:.2f} s (window 2 s)")
    finally:
        stop_process_group(proc)


@pytest.mark.e2e
def test_a_malformed_pubsub_input_is_a_clear_command_line_error(tmp_path):
    cmd = [sys.executable, "-m", "pipeline", "--streaming", "--input", "pubsub://projects/p/topics/t",
           "--output", str(tmp_path / "out")]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "expected pubsub://projects/PROJECT/subscriptions/SUBSCRIPTION" in done.stderr.strip().splitlines()[-1]


class _Pulled(_Received):  # with the ack id a real pull returns
    def __init__(self, message_id: str, data: bytes, ack_id: str):
        super().__init__(message_id, data)
        self.ack_id = ack_id


def test_live_poller_acknowledges_a_message_only_when_its_window_is_committed(tmp_path):
    from transforms.io.items import AckLedger
    from transforms.io.seen import write_part

    seen = str(tmp_path / "seen")
    write_part(seen, "earlier", [], ["w0"], [message_origin(SUB, "0")])  # committed by an earlier job
    queued = [[_Pulled("0", b"{}", "a0"), _Pulled("1", b"{}", "a1")], [_Pulled("1", b"{}", "a1b")], [], []]
    acks, extensions = [], []
    clock = [1000.0]
    ledger = AckLedger(clock=lambda: clock[0])
    files = LivePoller([], [], 1.0, 300.0, settle_seconds=0.0)
    poller = LivePubSubPoller(
        [SUB], files, 1.0, pull=lambda sub: queued.pop(0), seen=seen, ledger=ledger, lease_seconds=30,
        ack=lambda sub, ids: acks.append(ids), extend=lambda sub, ids, s: extensions.append((ids, s)),
    )  # fmt: skip
    assert [decode_message(v)["origin"] for _, v in poller.poll_once()[1]] == [message_origin(SUB, "1")]
    assert acks == [["a0"]]  # committed earlier: acknowledged, not emitted; "1" is not acknowledged ...
    assert extensions == [(["a1"], 30)]  # ... but its deadline is renewed
    assert poller.poll_once()[1] == []  # redelivered while its window is open: not emitted twice
    assert ledger.pending() == 1 and extensions[-1] == (["a1b"], 30)
    clock[0] += 11  # a third of the lease later: renewed again
    poller.poll_once()
    assert extensions[-1] == (["a1b"], 30)
    assert ledger.acknowledge([message_origin(SUB, "1")]) == 1  # the window committed (RecordSeenFiles)
    assert acks[-1] == ["a1b"] and ledger.pending() == 0

    plain = LivePubSubPoller([SUB], LivePoller([], [], 1.0, 300.0), 1.0, pull=lambda sub: [_Pulled("5", b"{}", "a5")],
                             ack=lambda sub, ids: acks.append(ids), ledger=AckLedger(), ack_on_commit=False)  # fmt: skip
    assert len(plain.poll_once()[1]) == 1 and acks[-1] == ["a5"]  # no --output: nothing commits, acknowledged at once
