"""Item keys of feed entries and Pub/Sub messages, their place in the seen record, the ack ledger."""

from __future__ import annotations

import json
import os

import pytest

from transforms.io.items import AckLedger, feed_item_key
from transforms.io.seen import SeenFilesError, compact, read_items, read_record, write_part

FEED = "https://feeds.example/rss?api_key=***"


def _entry(i: int, **fields) -> dict:
    return {"origin": f"{FEED}#entry {i}", "title": "T", "text": "body", **fields}


def test_a_feed_entry_key_ignores_its_position_and_prefers_id_then_link_then_content():
    assert feed_item_key(_entry(0, external_id="urn:1")) == feed_item_key(_entry(7, external_id="urn:1"))
    assert feed_item_key(_entry(0, external_id="urn:1")) != feed_item_key(_entry(0, external_id="urn:2"))
    assert feed_item_key(_entry(0, url="http://a/1")) == feed_item_key(_entry(3, url="http://a/1", title="new title"))
    assert feed_item_key(_entry(0)) == feed_item_key(_entry(5)) != feed_item_key(_entry(0, text="other body"))
    other_feed = {**_entry(0, external_id="urn:1"), "origin": "https://other.example/rss#entry 0"}
    assert feed_item_key(other_feed) != feed_item_key(_entry(0, external_id="urn:1"))
    key = feed_item_key(_entry(0, external_id="urn:\ud800"))  # a lone surrogate does not crash it
    assert key.startswith("feed:") and len(key) == 37 and "feeds.example" not in key


def test_items_are_committed_with_their_window_and_kept_by_compaction(tmp_path):
    folder = str(tmp_path / "seen")
    write_part(folder, "w1", ["/in/a.jsonl"], ["k1"], ["feed:1", "pubsub://projects/p/subscriptions/s/messages/9"])
    write_part(folder, "w2", [], ["k2"], ["feed:2"])
    write_part(folder, "old", ["/in/b.jsonl"], ["k0"])  # a part of a job before items: read as before
    expected = {"feed:1", "feed:2", "pubsub://projects/p/subscriptions/s/messages/9"}
    assert read_items(folder) == expected
    assert compact(folder) == ({"/in/a.jsonl", "/in/b.jsonl"}, {"k0", "k1", "k2"})
    assert len(os.listdir(folder)) == 1 and read_items(folder) == expected
    assert read_record(folder) == ({"/in/a.jsonl", "/in/b.jsonl"}, {"k0", "k1", "k2"})
    with open(os.path.join(folder, "bad.seen"), "w") as fh:
        fh.write(json.dumps({"something": "else"}) + "\n")
    with pytest.raises(SeenFilesError, match="bad.seen is damaged"):
        read_items(folder)


def test_the_ledger_holds_pulled_messages_until_their_window_commits():
    now = [100.0]
    acked: list[tuple[str, list[str]]] = []
    ledger = AckLedger(clock=lambda: now[0])
    ledger.bind(lambda sub, ids: acked.append((sub, ids)))
    m1, m2 = "pubsub://projects/p/subscriptions/s/messages/1", "pubsub://projects/p/subscriptions/s/messages/2"
    assert ledger.add(m1, "projects/p/subscriptions/s", "ack-1") == "new"
    assert ledger.add(m2, "projects/p/subscriptions/s", "ack-2") == "new"
    assert ledger.due(20) == {}  # just pulled: renewed at the pull
    now[0] += 25
    assert ledger.add(m1, "projects/p/subscriptions/s", "ack-1b") == "pending"  # redelivered: not emitted again
    assert ledger.due(20) == {"projects/p/subscriptions/s": ["ack-2"]}  # m1 was renewed by its redelivery
    assert ledger.acknowledge([m1, "feed:abc"]) == 1 and acked == [("projects/p/subscriptions/s", ["ack-1b"])]
    assert ledger.add(m1, "projects/p/subscriptions/s", "ack-1c") == "done"  # committed: acknowledge, skip
    assert ledger.pending() == 1

    def failing(sub, ids):
        raise RuntimeError("deadline passed")

    ledger.bind(failing)
    assert ledger.acknowledge([m2]) == 0 and ledger.pending() == 0  # logged; the redelivery is skipped as done
    assert ledger.add(m2, "projects/p/subscriptions/s", "ack-2b") == "done"
    now[0] += 3601
    ledger.due(20)  # an hour later a committed message is forgotten (the seen record covers the next job)
    assert ledger.add(m2, "projects/p/subscriptions/s", "ack-2c") == "new"
