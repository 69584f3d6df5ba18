"""--streaming stories: a story grows across windows, late articles join it, old ones expire,
one summary per window (TestStream, explicit watermarks); and a live run fed by file drops."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import pytest
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that
from apache_beam.transforms.window import TimestampedValue

from pipeline.config import DedupConfig, StreamingConfig, parse_config
from pipeline.streaming import build_streaming_stages
from transforms.io.watch import ELEMENT_CODER, FILE
from tests.support import REPO
from tests.support.cli import read_records, stop_process_group, wait_for
from tests.support.story_cases import QUAKE_PE_EN, QUAKE_TR_DE, QUAKE_TR_EN, QUAKE_TR_FR
from tests.support.streaming import streaming_pipeline


def _row(article: dict, url: str) -> dict:
    return {"title": article["title"], "text": article["text"], "published_at": article["published_at"],
            "url": url, "language": article["language"]}


def _config(topics: str, story_retention_seconds: float = 86400.0, lateness: float = 0.0):
    config = parse_config({"topics": topics})
    return dataclasses.replace(
        config,
        output="",
        window_seconds=2,
        streaming=True,
        dedup=DedupConfig(retention_days=story_retention_seconds / 86400.0),
        streaming_options=StreamingConfig(allowed_lateness_seconds=lateness),
    )


def _file(tmp_path, name: str, article: dict) -> str:
    path = tmp_path / f"{name}.jsonl"
    path.write_text(json.dumps(_row(article, f"https://{name}.example/a")) + "\n")
    return str(path)


def _stories_by_file(articles: list[dict]) -> dict[str, str]:
    return {os.path.basename(a["origin"].split("#")[0]).split(".")[0]: a["story_id"] for a in articles}


@pytest.mark.slow
def test_a_story_grows_over_three_windows_and_each_window_has_a_summary(tmp_path, small_taxonomy):
    files = {name: _file(tmp_path, name, a) for name, a in
             (("en", QUAKE_TR_EN), ("fr", QUAKE_TR_FR), ("de", QUAKE_TR_DE), ("pe", QUAKE_PE_EN))}
    stream = (
        TestStream(coder=ELEMENT_CODER)
        .advance_watermark_to(10)
        .add_elements([TimestampedValue((FILE, files["en"]), 10.5)])
        .advance_watermark_to(13)
        .add_elements([TimestampedValue((FILE, files["fr"]), 14.5)])
        .advance_watermark_to(17)
        .add_elements([TimestampedValue((FILE, files["de"]), 18.2), TimestampedValue((FILE, files["pe"]), 18.4)])
        .advance_watermark_to_infinity()
    )

    def check_articles(articles):
        got = _stories_by_file(articles)
        assert sorted(got) == ["de", "en", "fr", "pe"], got
        first = [a for a in articles if a["origin"].startswith(files["en"])][0]
        assert got["en"] == got["fr"] == got["de"] == "s-" + first["id"], got
        assert got["pe"] != got["en"]

    def check_summaries(summaries):
        assert sorted(s["articles"] for s in summaries) == [1, 1, 2], summaries
        assert sorted(s["stories"] for s in summaries) == [1, 1, 2], summaries

    with streaming_pipeline() as p:
        out = build_streaming_stages(p | stream, _config(small_taxonomy))
        assert_that(out["articles"], check_articles, label="CheckArticles")
        assert_that(out["summary"], check_summaries, label="CheckSummaries")


@pytest.mark.slow
def test_a_late_article_within_the_allowed_lateness_joins_its_story(tmp_path, small_taxonomy):
    en, fr = _file(tmp_path, "en", QUAKE_TR_EN), _file(tmp_path, "fr", QUAKE_TR_FR)
    stream = (
        TestStream(coder=ELEMENT_CODER)
        .advance_watermark_to(10)
        .add_elements([TimestampedValue((FILE, en), 10.5)])
        .advance_watermark_to(13.5)  # window [10, 12) has fired; its deadline is 12 + 3 = 15
        .add_elements([TimestampedValue((FILE, fr), 11.5)])  # late, within the allowed lateness
        .advance_watermark_to_infinity()
    )

    def check(articles):
        got = _stories_by_file(articles)
        assert sorted(got) == ["en", "fr"], got
        assert got["fr"] == got["en"], got

    with streaming_pipeline() as p:
        out = build_streaming_stages(p | stream, _config(small_taxonomy, lateness=3))
        assert_that(out["articles"], check)


@pytest.mark.slow
def test_after_the_story_retention_a_write_up_starts_a_new_story(tmp_path, small_taxonomy):
    en, fr, de = (_file(tmp_path, n, a) for n, a in (("en", QUAKE_TR_EN), ("fr", QUAKE_TR_FR), ("de", QUAKE_TR_DE)))
    stream = (
        TestStream(coder=ELEMENT_CODER)
        .advance_watermark_to(10)
        .add_elements([TimestampedValue((FILE, en), 10.5)])
        .advance_watermark_to(14)
        .add_elements([TimestampedValue((FILE, fr), 14.5)])  # 4 s later: remembered
        .advance_watermark_to(60)  # retention 20 s: every story memory has expired
        .add_elements([TimestampedValue((FILE, de), 60.5)])
        .advance_watermark_to_infinity()
    )

    def check(articles):
        got = _stories_by_file(articles)
        assert got["fr"] == got["en"], got
        de_article = [a for a in articles if a["origin"].startswith(de)][0]
        assert got["de"] == "s-" + de_article["id"], got

    with streaming_pipeline() as p:
        out = build_streaming_stages(p | stream, _config(small_taxonomy, story_retention_seconds=20))
        assert_that(out["articles"], check)


# ----------------------------------------------------------------------------- live run


@pytest.mark.e2e
def test_live_run_fed_by_file_drops_grows_a_story_and_writes_window_summaries(tmp_path, small_taxonomy):
    watched, out = tmp_path / "in", tmp_path / "out"
    watched.mkdir()
    config = tmp_path / "streaming.yaml"
    config.write_text(f"version: 1\ntopics: {small_taxonomy}\nstreaming:\n  poll_seconds: 0.25\n  settle_seconds: 0.2\n")
    cmd = [sys.executable, "-m", "pipeline", "--streaming", "--input", str(watched / "*.jsonl"), "--output", str(out),
           "--window-seconds", "2", "--config", str(config)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        for name, article in (("en", QUAKE_TR_EN), ("fr", QUAKE_TR_FR), ("de", QUAKE_TR_DE)):
            staged = tmp_path / f"{name}.tmp"
            staged.write_text(json.dumps(_row(article, f"https://{name}.example/a")) + "\n")
            os.rename(staged, watched / f"{name}.jsonl")

            def arrived(name=name):
                return [r for r in read_records(str(out), "articles") if r["origin"].startswith(str(watched / name))]

            assert wait_for(arrived, time.time() + 60), f"{name} never appeared in articles/"
            time.sleep(2.2)  # the next file lands in a later window
        articles = read_records(str(out), "articles")
        stories = {os.path.basename(a["origin"]).split(".")[0]: a["story_id"] for a in articles}
        first = [a for a in articles if a["origin"].startswith(str(watched / "en"))][0]
        assert stories == {"en": "s-" + first["id"], "fr": "s-" + first["id"], "de": "s-" + first["id"]}
        summaries = wait_for(lambda: read_records(str(out), "summary"), time.time() + 10)
        assert summaries and sum(s["articles"] for s in summaries) >= 3
        names = os.listdir(out / "summary") + os.listdir(out / "articles") + os.listdir(out / "stories")
        assert names and not [n for n in names if ":" in n]
    finally:
        stop_process_group(proc)


@pytest.mark.slow
def test_a_stream_continues_the_stories_of_a_batch_run_state(tmp_path, small_taxonomy):
    from pipeline.main import run
    from transforms.dedup.minhash import DEFAULT_SEED
    from transforms.state import memory

    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    (inbox / "en.jsonl").write_text(json.dumps(_row(QUAKE_TR_EN, "https://en.example/a")) + "\n")
    config_file = tmp_path / "batch.yaml"
    config_file.write_text(f"version: 1\ntopics: {small_taxonomy}\n")
    run(["--input", str(inbox / "*.jsonl"), "--output", str(tmp_path / "batch"), "--state", str(state),
         "--config", str(config_file)])
    batch_story = read_records(str(tmp_path / "batch"), "articles")[0]["story_id"]
    before = memory.read_pointer(str(state))

    config = _config(small_taxonomy)
    near = config.dedup.near
    plan = memory.plan_run(str(state), sketch=memory.sketch_id(near.num_perm, DEFAULT_SEED, near.shingle_k,
                                                               near.min_shingles))
    config = dataclasses.replace(config, state=str(state), memory=plan)
    fr = _file(tmp_path, "fr", QUAKE_TR_FR)
    stream = (
        TestStream(coder=ELEMENT_CODER)
        .advance_watermark_to(10)
        .add_elements([TimestampedValue((FILE, fr), 10.5)])
        .advance_watermark_to_infinity()
    )

    def check(articles):
        assert [a["story_id"] for a in articles] == [batch_story], (articles, batch_story)

    with streaming_pipeline() as p:
        from pipeline.streaming import ReadMemory

        prior = p | "ReadMemory" >> ReadMemory(plan)
        out = build_streaming_stages(p | stream, config, prior=prior)
        assert_that(out["articles"], check)
    assert memory.read_pointer(str(state)) == before  # a stream never commits a generation
