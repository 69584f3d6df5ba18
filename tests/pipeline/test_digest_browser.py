"""The digest page in a real headless Chromium: a real run on the seed articles with ``--digest``,
and a 5,000-article digest for size and render time. Screenshots go to the tests' artifacts
folder (``$NEWSBEAM_TEST_ARTIFACTS``, default ``test-artifacts/``)."""

import datetime as dt
import shutil

import pytest

from pipeline.digest import write_digest
from tests.support.chromium import Chromium, artifact
from tests.support.cli import read_jsonl, run_cli
from tests.support.tables import many_articles, write_tables

pytestmark = pytest.mark.e2e  # starts Chromium (and the pipeline)


def _external(urls):
    return [u for u in urls if not u.startswith(("file:", "data:", "about:"))]


def test_seed_story_is_under_sanctions_in_the_browser(tmp_path, shared_data):
    seeds = sorted((shared_data / "seeds").glob("*.txt"))
    assert len(seeds) == 2
    inputs = tmp_path / "in"
    inputs.mkdir()
    for seed in seeds:
        shutil.copy(seed, inputs / seed.name)
    out = tmp_path / "out"
    result = run_cli("--input", str(inputs / "*.txt"), "--output", str(out), "--digest")
    assert result.returncode == 0, result.stderr
    assert "digest:" in result.stdout
    articles = read_jsonl(out / "articles")
    story_ids = {a["story_id"] for a in articles}
    assert len(articles) == 2 and len(story_ids) == 1, "the seeds are one story"
    story_id = story_ids.pop()
    page = out / "digest" / "index.html"
    assert (out / "digest" / "digest.md").exists() and (out / "digest" / "digest.csv").exists()

    with Chromium() as browser:
        browser.open(page.as_uri())
        assert browser.console_errors() == []
        assert _external(browser.requests()) == []
        assert browser.evaluate(
            f"!!document.querySelector('#topic-sanctions li.story[data-story-id=\"{story_id}\"]')"
        ), "the seed story is listed under sanctions"
        text = browser.evaluate("document.querySelector('#topic-sanctions').innerText")
        assert "Starmer" in text and "Languages" in text
        assert browser.evaluate("document.querySelectorAll('svg[role=img] > title').length") >= 2
        browser.screenshot(artifact("digest-seeds-desktop.png"))

        browser.phone()
        browser.open(page.as_uri())
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling"
        browser.screenshot(artifact("digest-seeds-phone.png"))
        assert browser.console_errors() == [] and _external(browser.requests()) == []


def test_a_5000_article_digest_is_light_and_renders_fast(tmp_path):
    until = dt.date(2026, 3, 15)
    write_tables(tmp_path, many_articles(5000, until, days=14),
                 [{"source": f"f#line {i}", "stage": "read", "error": f"line {i} is not JSON", "excerpt": "{"}
                  for i in range(40)])
    result = write_digest(str(tmp_path), days=7, until=until)
    page = tmp_path / "digest" / "index.html"
    size = page.stat().st_size
    assert result["articles"] > 2000 and size < 2_000_000, size

    with Chromium() as browser:
        browser.open("about:blank")
        load_ms = min(browser.open(page.as_uri()) for _ in range(2))  # the first open also warms the browser
        assert load_ms < 2000, load_ms
        assert browser.console_errors() == [] and _external(browser.requests()) == []
        assert browser.evaluate("document.querySelectorAll('section.topic').length") == 8
        browser.screenshot(artifact("digest-5000-desktop.png"))
    print(f"5,000-article digest: {size / 1024:.0f} KiB, loaded in {load_ms:.0f} ms")
