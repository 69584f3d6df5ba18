"""``python -m pipeline.verify`` on a streaming job's output: window files need their
window's commit in ``_streaming/seen/``, nothing may be left under ``.tmp/``, and the
entries a feed served (``--feed-entries``) are each in ``articles/`` exactly once."""

import json
import subprocess
import sys

import pytest

from pipeline.verify import Report, check_feed_entries, check_markers, check_windows, read_expected, verify
from tests.support import REPO
from transforms.io.seen import seen_folder, write_part

KEY = "2026-12-07T09-30-20Z-2026-12-07T09-30-40Z-97865a49"
OTHER = "2026-12-07T09-30-40Z-2026-12-07T09-31-00Z-97865a49"
FEED = "http://127.0.0.1:9/feed.xml"


def window_file(kind: str, key: str = KEY) -> str:
    return f"{kind}/{kind}-{key}-00000-of-00001.jsonl"


# ------------------------------------------------------------------ pure checks


def test_window_files_need_their_window_committed():
    files = [window_file("articles"), window_file("dead_letter"), window_file("summary"), window_file("articles", OTHER)]
    ok = Report()
    check_windows(files, {KEY, OTHER}, ok)
    assert ok.violations == [] and "2 streaming windows committed" in ok.lines
    missing = Report()
    check_windows(files, {KEY}, missing)  # OTHER's commit (its marker) is missing
    assert missing.violations == [
        "1 streaming window files of windows that were never committed (a job stopped without draining; the next job "
        f"sets them aside and reads their inputs again): articles-{OTHER}-00000-of-00001.jsonl"
    ]
    aside = Report()
    check_windows([window_file("articles"), f"_streaming/uncommitted/articles/articles-{OTHER}-00000-of-00001.jsonl"
                   ".uncommitted"], {KEY}, aside)  # fmt: skip
    assert aside.violations == [] and any("1 uncommitted window files set aside" in line for line in aside.lines)


def test_markers_report_uncommitted_windows_and_half_written_temp_files():
    files = [window_file("articles"), window_file("stories", OTHER), ".tmp/abc/articles-x.jsonl"]
    report = Report()
    check_markers(files, {}, None, report, windows={KEY})
    text = " | ".join(report.violations)
    assert "1 half-written window files under .tmp/" in text and ".tmp/abc/articles-x.jsonl" in text
    assert "never committed" in text and f"stories-{OTHER}" in text
    clean = Report()
    check_markers(files[:2], {}, None, clean, windows={KEY, OTHER})
    assert clean.violations == []


def test_feed_entries_each_once_and_nothing_else_from_the_feed():
    entries = [{"feed": FEED, "link": f"https://x.example/{i}"} for i in range(3)]
    articles = [{"origin": f"{FEED}#entry {i + 5}", "url": f"https://x.example/{i}"} for i in range(3)]
    articles.append({"origin": "in/a.jsonl#line 1", "url": "https://x.example/9"})  # not the feed's
    ok = Report()
    check_feed_entries(entries, articles, ok)
    assert ok.violations == [] and "feed entries: 3 from 1 feeds, 3 feed articles" in ok.lines
    bad = Report()
    check_feed_entries(entries, articles[1:] + [articles[1], {"origin": f"{FEED}#entry 1", "url": "https://x.example/7"}],
                       bad)  # fmt: skip
    assert bad.violations == [
        "1 feed entries are not in articles/: https://x.example/0",
        "1 feed entries are in articles/ more than once: https://x.example/1",
        "1 feed articles come from no listed entry: https://x.example/7",
    ]


# ------------------------------------------------------------------ a streaming-like folder


@pytest.fixture
def stream_out(tmp_path):
    """A folder laid out as a streaming job leaves it: one committed window with the
    articles and dead letters of ``in/a.jsonl`` and two feed entries."""
    src = tmp_path / "in"
    src.mkdir()
    lines = [json.dumps({"title": f"T{i}", "text": f"Some text number {i} for the window."}) for i in range(3)]
    (src / "a.jsonl").write_text("\n".join(lines[:2] + ["{broken"] + lines[2:]) + "\n", encoding="utf-8")
    pattern = str(src / "*.jsonl")
    expected = read_expected([pattern])
    assert len(expected.articles) == 3 and sum(expected.rejected.values()) == 1
    out = tmp_path / "out"
    for kind in ("articles", "dead_letter"):
        (out / kind).mkdir(parents=True)
    records = [{"id": f"a{i}", "origin": origin, "url": None} for i, origin in enumerate(expected.articles)]
    records += [{"id": f"f{i}", "origin": f"{FEED}#entry {i}", "url": f"https://x.example/{i}"} for i in range(2)]
    (out / window_file("articles")).write_text("".join(json.dumps(r) + "\n" for r in records))
    (out / window_file("dead_letter")).write_text("".join(json.dumps({"source": s}) + "\n" for s in expected.rejected))
    write_part(seen_folder(str(out)), f"{KEY}-0000beef", [str(src / "a.jsonl")], [KEY])
    entries = tmp_path / "entries.jsonl"
    entries.write_text("".join(json.dumps({"feed": FEED, "link": f"https://x.example/{i}"}) + "\n" for i in range(2)))
    return out, pattern, str(entries)


def test_a_streaming_folder_with_its_feed_entries_passes(stream_out):
    out, pattern, entries = stream_out
    report = verify(str(out), [pattern], feed_entries=[entries])
    assert report.violations == []
    assert "feed entries: 2 from 1 feeds, 2 feed articles" in report.lines and "1 streaming windows committed" in report.lines


def test_a_streaming_folder_without_its_commit_a_lost_line_and_a_doubled_entry_fails(stream_out):
    out, pattern, entries = stream_out
    for part in (out / "_streaming" / "seen").iterdir():
        part.unlink()  # the window's marker is gone
    shard = out / window_file("articles")
    lines = shard.read_text().splitlines(keepends=True)
    shard.write_text("".join(lines[1:] + lines[-1:]))  # an input line lost, a feed entry doubled
    (out / ".tmp" / "f00d").mkdir(parents=True)
    (out / ".tmp" / "f00d" / "articles-half.jsonl").write_text("{}\n")
    text = " | ".join(verify(str(out), [pattern], feed_entries=[entries]).violations)
    assert "2 streaming window files of windows that were never committed" in text  # articles and dead letters
    assert "1 input articles are neither in articles/ nor in dead_letter/" in text
    assert "1 feed entries are in articles/ more than once: https://x.example/1" in text
    assert "half-written window files under .tmp/" in text


@pytest.mark.e2e
def test_the_command_checks_feed_entries_and_refuses_a_bad_entries_file(stream_out, tmp_path):
    out, pattern, entries = stream_out

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "pipeline.verify", "--output", str(out), "--input", pattern, *extra],
                              cwd=REPO, capture_output=True, text=True)  # fmt: skip

    done = run("--feed-entries", entries)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("OK: markers, no leftovers, unique ids, conservation, feed entries")
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"feed": FEED, "link": "https://x.example/never-written"}) + "\n")
    lost = run("--feed-entries", entries, "--feed-entries", str(extra))
    assert lost.returncode == 1 and "VIOLATION: 1 feed entries are not in articles/" in lost.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"link": "https://x.example/0"}\n')
    refused = run("--feed-entries", str(bad))
    assert refused.returncode == 2 and "bad.jsonl line 1" in refused.stderr
