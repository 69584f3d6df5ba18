"""html_metadata: what a page says about itself (JSON-LD, meta tags, <time>, <title>)."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from tests.support import REPO
from transforms.enrich.normalize import normalize_article
from transforms.io.fileformats import read_file
from transforms.io.htmlmeta import html_metadata, json_ld_article, strip_site_name

PAGE = (REPO / "tests" / "data" / "inputs" / "jsonld.html").read_text(encoding="utf-8")


def test_json_ld_page_gives_title_url_source_and_date() -> None:
    meta = html_metadata(PAGE)
    assert meta == {
        "url": "https://www.example-times.com/uk/2025/03/13/floods-evacuations",
        "title": "Floods force evacuations in river towns",
        "published": "2025-03-13T07:40:00+01:00",
        "source": "Example Times",
        "language": "en-GB",
    }


def test_the_page_read_and_normalized_has_every_field_set() -> None:
    [raw] = list(read_file("jsonld.html", io.BytesIO(PAGE.encode())))
    art = normalize_article(raw, now=dt.datetime(2025, 3, 20, tzinfo=dt.timezone.utc))
    assert art["url"] == "https://example-times.com/uk/2025/03/13/floods-evacuations"
    assert art["source"] == "example-times.com"
    assert art["published_at"] == "2025-03-13T06:40:00Z"
    assert art["title"] == "Floods force evacuations in river towns"
    assert "Hundreds of residents" in art["text"] and "All rights reserved" not in art["text"]


def _page(head: str, body: str = "<p>x</p>") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def test_meta_tags_without_json_ld() -> None:
    meta = html_metadata(
        _page(
            "<title>Port reopens - Harbour Herald</title>"
            "<meta property='og:url' content='https://harbour-herald.example/port'>"
            "<meta property='og:site_name' content='Harbour Herald'>"
            "<meta property='article:published_time' content='2025-03-11T10:00:00Z'>"
        )
    )
    assert meta["title"] == "Port reopens"
    assert meta["url"] == "https://harbour-herald.example/port" and meta["source"] == "Harbour Herald"
    assert meta["published"] == "2025-03-11T10:00:00Z"


def test_time_element_gives_the_date_the_pubdate_one_first() -> None:
    body = "<time datetime='2025-03-01'>updated</time><p>text</p><time pubdate datetime='2025-02-27T08:00:00Z'>x</time>"
    assert html_metadata(_page("<title>A page</title>", body))["published"] == "2025-02-27T08:00:00Z"
    assert html_metadata(_page("<title>A page</title>", "<time datetime='2025-03-01'>x</time>"))["published"] == "2025-03-01"


def test_htmldate_finds_a_date_in_the_url_when_the_markup_has_none() -> None:
    page = _page("<title>Story</title><link rel='canonical' href='https://news.example/2025/03/09/story'>")
    assert html_metadata(page)["published"] == "2025-03-09"


@pytest.mark.parametrize(
    ("title", "sites", "url", "loose", "expected"),
    [
        ("Storm closes airports | Example Times", ("Example Times",), None, False, "Storm closes airports"),
        ("Storm closes airports - EXAMPLE TIMES", (), "https://www.example-times.com/a", False, "Storm closes airports"),
        ("Example Times: Storm closes airports", ("Example Times",), None, False, "Storm closes airports"),
        ("Storm closes airports | Weather | ET", (), None, True, "Storm closes airports | Weather"),
        ("Storm closes airports | Weather", (), None, False, "Storm closes airports | Weather"),
        ("Talks: what we know - so far", (), None, True, "Talks: what we know - so far"),
        ("Plain title", ("Example Times",), None, True, "Plain title"),
    ],
)
def test_strip_site_name(title, sites, url, loose, expected) -> None:
    assert strip_site_name(title, sites, url, loose=loose) == expected


def test_broken_or_hostile_json_ld_is_skipped() -> None:
    page = (
        "<script type='application/ld+json'>{broken</script>"
        "<script type='application/ld+json'>" + "[" * 50_000 + "</script>"
        "<script type=\"application/ld+json\">{\"@type\": [\"NewsArticle\"], \"headline\": \"Found\"}</script>"
    )
    assert json_ld_article(page) == {"@type": ["NewsArticle"], "headline": "Found"}
