"""--streaming: cross-window duplicate memory, state expiry, late data, and a live run.

TestStream tests drive event time explicitly (watermarks, not sleeps); the
end-to-end test runs ``python -m pipeline --streaming`` as a subprocess, drops
files into the watched folder, reads the windowed outputs and stops the job.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import subprocess
import sys
import time

import pytest
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that
from apache_beam.transforms.window import TimestampedValue

from pipeline.config import StreamingConfig, parse_config
from pipeline.streaming import build_streaming_stages
from transforms.dedup.exact import EXACT, NEAR, UNIQUE
from transforms.dedup.minhash import Sketcher, choose_bands
from transforms.dedup.streaming import (
    EXACT_KIND,
    NEAR_KIND,
    Entry,
    copy_keys,
    expire,
    is_too_late,
    remember,
    resolve,
    window_end,
)
from transforms.io.watch import ELEMENT_CODER, FILE, Listing, LivePoller, ready_files
from tests.support import REPO
from tests.support.cli import read_records, stop_process_group, wait_for
from tests.support.streaming import streaming_pipeline


STORM = (
    "A powerful storm struck the northern coast early on Monday, flooding coastal roads, tearing roofs off "
    "warehouses and cutting electricity to about forty thousand homes. Regional officials said rescue teams "
    "worked through the night to reach villages cut off by the water, and that schools in three districts "
    "would stay closed until Wednesday while engineers inspect the bridges along the river valley."
)
# the same report lightly edited by another outlet: a near-duplicate, not an exact copy
STORM_EDITED = STORM.replace("early on Monday", "on Monday morning").replace("forty thousand", "40,000")
VOTE = (
    "Voters in the capital queued for hours on Sunday to choose a new city council, with turnout reported "
    "well above the previous election. Counting began after polls closed at eight in the evening and the "
    "electoral commission expects to publish preliminary results before noon on Monday, officials said."
)


# ----------------------------------------------------------------------------- pure functions


def entry(article_id: str, at: float, sig: bytes | None = None, published: str = "2024-01-01T00:00:00Z") -> Entry:
    return Entry((published, article_id), "s-" + article_id, sig, at)


def test_exact_key_remembers_the_first_article_and_names_it_for_later_copies():
    verdict, memory = remember([], entry("a", 10), EXACT_KIND)
    assert verdict.original is None and [e.node[1] for e in memory] == ["a"]
    verdict, memory2 = remember(memory, entry("b", 50), EXACT_KIND)
    assert verdict.original.node[1] == "a" and memory2 == memory


def test_redelivered_article_gets_the_same_verdict_and_does_not_become_its_own_original():
    _, memory = remember([], entry("a", 10), EXACT_KIND)
    verdict, memory = remember(memory, entry("a", 10), EXACT_KIND)
    assert verdict.original is None and len(memory) == 1
    _, memory = remember(memory, entry("b", 20), EXACT_KIND)
    verdict, _ = remember(memory, entry("b", 20), EXACT_KIND)
    assert verdict.original.node[1] == "a"


def test_band_key_verifies_signatures_and_keeps_unmatched_articles():
    sketch = Sketcher()
    storm, edited, vote = (bytes(sketch(t).astype("<u4").tobytes()) for t in (STORM, STORM_EDITED, VOTE))
    _, memory = remember([], entry("a", 10, storm), NEAR_KIND, threshold=0.5)
    verdict, memory = remember(memory, entry("b", 20, edited), NEAR_KIND, threshold=0.5)
    assert verdict.original.node[1] == "a" and 0.5 <= verdict.similarity < 1.0
    verdict, memory = remember(memory, entry("c", 30, vote), NEAR_KIND, threshold=0.5)
    assert verdict.original is None and [e.node[1] for e in memory] == ["a", "c"]


def test_expire_keeps_only_entries_inside_the_retention():
    memory = [entry("a", 10), entry("b", 100)]
    assert [e.node[1] for e in expire(memory, now=105, retention_seconds=60)] == ["b"]
    assert expire(memory, now=200, retention_seconds=60) == []


def test_resolve_prefers_exact_over_near_and_carries_the_original_story():
    article = {"id": "c", "title": "t"}
    exact = resolve(article, [(v := remember([entry("a", 1)], entry("c", 5), EXACT_KIND)[0])])
    assert exact["dedup"] == {"status": EXACT, "duplicate_of": "a"} and exact["story_id"] == "s-a"
    assert v.article_id == "c"
    near_only = resolve(article, [remember([entry("b", 1, b"\0" * 512)], entry("c", 5, b"\0" * 512), NEAR_KIND)[0]])
    assert near_only["dedup"]["status"] == NEAR and near_only["dedup"]["duplicate_of"] == "b"
    alone = resolve(article, [])
    assert alone["dedup"] == {"status": UNIQUE, "duplicate_of": None} and alone["story_id"] == "s-c"


def test_copy_keys_cover_url_content_and_one_key_per_band():
    bands, rows = choose_bands(0.5, 128)
    keys = copy_keys(
        {"url": "https://x.example/a", "content_hash": "h1", "text": STORM},
        sketcher=Sketcher(),
        bands=bands,
        rows=rows,
    )
    kinds = [k[1] for k in keys]
    assert keys[0][0] == "url:https://x.example/a" and keys[1][0] == "content:h1"
    assert kinds.count(NEAR_KIND) == bands and kinds.count(EXACT_KIND) == 2
    short = copy_keys({"text": "too short"}, sketcher=Sketcher(), bands=bands, rows=rows)
    assert short == []


def test_lateness_is_measured_from_the_window_end_plus_allowed_lateness():
    assert window_end(11.5, 2) == 12
    assert not is_too_late(11.5, 2, 0, watermark_at_least=11.9)
    assert is_too_late(11.5, 2, 0, watermark_at_least=12)
    assert not is_too_late(11.5, 2, 5, watermark_at_least=16)
    assert is_too_late(11.5, 2, 5, watermark_at_least=17)


def test_ready_files_waits_until_a_file_stops_changing(tmp_path):
    growing = {"/in/a.jsonl": Listing(10, 100.0)}
    assert ready_files(growing, {}, set(), now=100.2, settle_seconds=1) == []
    assert ready_files(growing, growing, set(), now=100.7, settle_seconds=1) == ["/in/a.jsonl"]
    assert ready_files(growing, {}, set(), now=102, settle_seconds=1) == ["/in/a.jsonl"]
    assert ready_files(growing, growing, {"/in/a.jsonl"}, now=102, settle_seconds=1) == []


def test_live_poller_emits_each_new_file_once_and_reports_a_bad_pattern_once(tmp_path):
    clock = [time.time() + 1]
    poller = LivePoller(
        [str(tmp_path / "*.jsonl"), "nosuchscheme://bucket/*.jsonl"],
        ["https://feed.example/rss"],
        poll_seconds=1,
        feed_poll_seconds=10,
        settle_seconds=0,
        clock=lambda: clock[0],
    )
    (tmp_path / "a.jsonl").write_text("{}\n")
    _, first = poller.poll_once()
    kinds = sorted(k for k, _ in first)
    assert (FILE, str(tmp_path / "a.jsonl")) in first and ("feed", "https://feed.example/rss") in first
    assert kinds.count("error") == 1
    clock[0] += 1
    (tmp_path / "b.jsonl").write_text("{}\n")
    _, second = poller.poll_once()
    assert second == [(FILE, str(tmp_path / "b.jsonl"))]  # no repeat of a, no error again, feed not due
    clock[0] += 10
    _, third = poller.poll_once()
    assert third == [("feed", "https://feed.example/rss")]


# ----------------------------------------------------------------------------- TestStream




def _config(topics: str, retention_seconds: float = 3600.0, lateness: float = 0.0):
    config = parse_config({"topics": topics})
    return dataclasses.replace(
        config,
        output="",
        window_seconds=2,
        streaming=True,
        streaming_options=StreamingConfig(
            allowed_lateness_seconds=lateness, retention_hours=retention_seconds / 3600.0
        ),
    )


def _write(tmp_path, name: str, rows: list[dict]) -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _by_file(records: list[dict]) -> dict[str, dict]:
    return {os.path.basename(r["origin"].split("#")[0]): r for r in records}


def test_the_streaming_graph_keys_every_state_with_a_deterministic_coder(small_taxonomy, caplog):
    """Beam takes a stateful step's key coder from its input's type and warns at start-up, per step,
    when it falls back to the pickling coder (state could be keyed wrongly): a live run prints none."""
    with caplog.at_level("WARNING"):
        build_streaming_stages(streaming_pipeline() | TestStream(coder=ELEMENT_CODER), _config(small_taxonomy))
    assert [r.getMessage() for r in caplog.records if "deterministic" in r.getMessage()] == []


@pytest.mark.slow
def test_copies_arriving_two_windows_later_are_marked_with_the_earlier_id(tmp_path, small_taxonomy):
    first = _write(tmp_path, "first.jsonl", [{"title": "Storm", "text": STORM, "url": "https://a.example/storm"}])
    exact = _write(tmp_path, "exact.jsonl", [{"title": "Storm", "text": STORM, "url": "https://b.example/copy"}])
    near = _write(tmp_path, "near.jsonl", [{"title": "Storm", "text": STORM_EDITED, "url": "https://c.example/x"}])
    other = _write(tmp_path, "other.jsonl", [{"title": "Vote", "text": VOTE, "url": "https://a.example/vote"}])
    stream = (
        TestStream(coder=ELEMENT_CODER)
        .advance_watermark_to(10)
        .add_elements([TimestampedValue((FILE, first), 10.5)])
        .advance_watermark_to(13)  # window [10, 12) closes
        .advance_watermark_to(14.5)
        .add_elements([TimestampedValue((FILE, exact), 14.5), TimestampedValue((FILE, other), 14.6)])
        .advance_watermark_to(17)
        .add_elements([TimestampedValue((FILE, near), 17.5)])
        .advance_watermark_to_infinity()
    )

    def check(articles):
        got = _by_file(articles)
        assert sorted(got) == ["exact.jsonl", "first.jsonl", "near.jsonl", "other.jsonl"], sorted(got)
        original = got["first.jsonl"]
        assert original["dedup"] == {"status": UNIQUE, "duplicate_of": None}
        assert got["exact.jsonl"]["dedup"] == {"status": EXACT, "duplicate_of": original["id"]}
        assert got["near.jsonl"]["dedup"]["status"] == NEAR
        assert got["near.jsonl"]["dedup"]["duplicate_of"] == original["id"]
        assert got["other.jsonl"]["dedup"]["status"] == UNIQUE
        story = original["story_id"]
        assert {got[f]["story_id"] for f in ("first.jsonl", "exact.jsonl", "near.jsonl")} == {story}
        assert got["other.jsonl"]["story_id"] != story

    with streaming_pipeline() as p:
        out = build_streaming_stages(p | stream, _config(small_taxonomy))
        assert_that(out["articles"], check, label="CheckArticles")
        assert_that(out["dead_letter"], lambda dl: dl == [] or pytest.fail(f"dead letters: {dl}"), label="NoDead")


@pytest.mark.slow
def test_after_the_retention_a_copy_is_unique_again(tmp_path, small_taxonomy):
    first = _write(tmp_path, "first.jsonl", [{"title": "Storm", "text": STORM, "url": "https://a.example/storm"}])
    within = _write(tmp_path, "within.jsonl", [{"title": "Storm", "text": STORM, "url": "https://a.example/storm"}])
    after = _write(tmp_path, "after.jsonl", [{"title": "Storm", "text": STORM, "url": "https://a.example/storm"}])
    stream = (
        TestStream(coder=ELEMENT_CODER)
        .advance_watermark_to(10)
        .add_elements([TimestampedValue((FILE, first), 10.5)])
        .advance_watermark_to(16)
        .add_elements([TimestampedValue((FILE, within), 16.5)])  # 6 s later: still remembered
        .advance_watermark_to(40)  # retention 20 s from 10.5: the expiry timer has fired
        .add_elements([TimestampedValue((FILE, after), 40.5)])
        .advance_watermark_to_infinity()
    )

    def check(articles):
        got = _by_file(articles)
        assert got["within.jsonl"]["dedup"] == {"status": EXACT, "duplicate_of": got["first.jsonl"]["id"]}
        assert got["after.jsonl"]["dedup"] == {"status": UNIQUE, "duplicate_of": None}
        # the story memory (dedup.retention_days, 7 days) outlives the copy memory: same story
        assert got["after.jsonl"]["story_id"] == got["first.jsonl"]["story_id"]

    with streaming_pipeline() as p:
        out = build_streaming_stages(p | stream, _config(small_taxonomy, retention_seconds=20))
        assert_that(out["articles"], check)


@pytest.mark.slow
def test_an_element_behind_the_watermark_is_a_dead_letter_not_lost(tmp_path, small_taxonomy):
    on_time = _write(tmp_path, "on_time.jsonl", [{"title": "Vote", "text": VOTE}])
    late = _write(tmp_path, "late.jsonl", [{"title": "Storm", "text": STORM}])
    slightly_late = _write(tmp_path, "slightly.jsonl", [{"title": "Storm", "text": STORM_EDITED}])
    stream = (
        TestStream(coder=ELEMENT_CODER)
        .advance_watermark_to(10)
        .add_elements([TimestampedValue((FILE, on_time), 10.5)])
        .advance_watermark_to(20)  # window [10, 12) is long closed; allowed lateness is 3 s
        .add_elements([TimestampedValue((FILE, late), 11.0)])  # deadline 12 + 3 = 15 < 20: too late
        .add_elements([TimestampedValue((FILE, slightly_late), 18.5)])  # window [18, 20), deadline 23: accepted
        .advance_watermark_to_infinity()
    )

    def check_articles(articles):
        assert sorted(_by_file(articles)) == ["on_time.jsonl", "slightly.jsonl"]

    def check_dead(dead):
        assert len(dead) == 1, dead
        assert dead[0]["stage"] == "streaming" and "late" in dead[0]["error"]
        assert dead[0]["source"].startswith(late)

    with streaming_pipeline() as p:
        out = build_streaming_stages(p | stream, _config(small_taxonomy, lateness=3))
        assert_that(out["articles"], check_articles, label="CheckArticles")
        assert_that(out["dead_letter"], check_dead, label="CheckDeadLetters")


# ----------------------------------------------------------------------------- live run


@pytest.mark.e2e
def test_live_streaming_run_watches_a_folder_and_writes_each_window(tmp_path, small_taxonomy):
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    config = tmp_path / "streaming.yaml"
    config.write_text(
        f"version: 1\ntopics: {small_taxonomy}\n"
        "streaming:\n  poll_seconds: 0.25\n  settle_seconds: 0.2\n"
    )
    cmd = [
        sys.executable, "-m", "pipeline", "--streaming",
        "--input", str(watched / "*.jsonl"), "--output", str(out),
        "--window-seconds", "2", "--config", str(config),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    latencies = []
    try:
        # A first file to know the job is up (start-up is not part of the latency).
        warm = tmp_path / "warm.tmp"
        warm.write_text(json.dumps({"title": "Vote", "text": VOTE, "url": "https://a.example/vote"}) + "\n")
        os.rename(warm, watched / "warm.jsonl")
        assert wait_for(lambda: read_records(str(out), "articles"), time.time() + 40), "the job wrote nothing"

        for name, row in (
            ("first.jsonl", {"title": "Storm", "text": STORM, "url": "https://a.example/storm"}),
            ("copy.jsonl", {"title": "Storm", "text": STORM, "url": "https://b.example/storm-copy"}),
        ):
            staged = tmp_path / (name + ".tmp")
            staged.write_text(json.dumps(row) + "\n" + ("{broken json\n" if name == "copy.jsonl" else ""))
            dropped = time.time()
            os.rename(staged, watched / name)  # appears whole, as a producer should deliver files

            def arrived(name=name):
                return [r for r in read_records(str(out), "articles") if r.get("origin", "").startswith(str(watched / name))]

            assert wait_for(arrived, time.time() + 20), f"{name} never appeared in articles/"
            latencies.append(time.time() - dropped)
            time.sleep(2.2)  # the copy arrives at least one window later than the original

        articles = {os.path.basename(r["origin"].split("#")[0]): r for r in read_records(str(out), "articles")}
        assert articles["copy.jsonl"]["dedup"] == {"status": EXACT, "duplicate_of": articles["first.jsonl"]["id"]}
        assert articles["copy.jsonl"]["story_id"] == articles["first.jsonl"]["story_id"]
        dead = wait_for(lambda: read_records(str(out), "dead_letter"), time.time() + 10)
        assert dead and dead[0]["source"].endswith("copy.jsonl#line 2")
        windows = glob.glob(str(out / "articles" / "articles-*.jsonl"))
        assert len(windows) >= 2  # one file set per window that had articles
        print(f"\nfile drop -> article in articles/: {', '.join(f'{s:.2f} s' for s in latencies)} (window 2 s)")
    finally:
        stop_process_group(proc)
