"""normalize_article at its edges: where a long text is cut, which raw fields are ignored for their
type, the title an HTML text gives, the id and hash of empty parts. Written against the mutants
``make mutate MODULE=transforms/enrich/normalize.py`` left alive."""

import datetime as dt

import pytest

from transforms.enrich.normalize import (
    _truncate,
    article_id,
    canonical_url,
    content_hash,
    date_and_reason,
    normalize_article,
    source_domain,
)

TEXT = "Enough words here to be an article body for the test."


def test_truncate_cuts_at_the_last_line_or_word_break_past_half():
    assert _truncate("a" * 10 + "\n" + "b" * 20 + " " + "c" * 10 + "\n" + "d" * 30, 50) == (
        "a" * 10 + "\n" + "b" * 20 + " " + "c" * 10)
    assert _truncate("a" * 30 + "   " + "b" * 30, 50) == "a" * 30  # spaces before the cut dropped
    assert _truncate("a" * 10 + " " + "b" * 50, 50) == "a" * 10 + " " + "b" * 39  # break too early: hard cut
    assert len(_truncate("a" * 25 + " " + "b" * 50, 51)) == 51  # a break at exactly half is too early
    assert len(_truncate("a" * 20 + " " + "b" * 50, 51)) == 51
    assert _truncate("a b", 3) == "a b"  # at the limit: whole


def test_default_text_limit_is_200000_characters():
    text = normalize_article({"text": "ab " * 66666 + "abc"})["text"]  # 200,001 characters
    assert len(text) <= 200_000 and text.endswith("ab")


def test_fields_of_the_wrong_type_are_ignored():
    article = normalize_article({"text": TEXT, "title": 5, "url": 7, "source": 9, "origin": None})
    assert (article["title"], article["url"], article["source"], article["origin"], article["external_id"]) == (
        "", None, None, "", None)


def test_html_text_gives_its_title_and_keeps_a_given_one():
    html = "<html><head><title>Page T</title></head><body><article><p>" + TEXT * 3 + "</p></article></body></html>"
    assert normalize_article({"text": html, "url": "https://x.example/a"})["title"] == "Page T"
    assert normalize_article({"text": html, "title": "Given"})["title"] == "Given"
    assert normalize_article({"html": html})["title"] == "Page T"


def test_a_short_text_hashes_with_its_title():
    one, two = (normalize_article({"text": TEXT, "title": t})["content_hash"] for t in ("One", "Two"))
    assert one != two


def test_empty_parts_have_pinned_ids_and_hashes():
    assert article_id("", None, "", "x") == "f4f10c6cf7afbca2160c"
    assert article_id("o", None, None, None) == "4bcd334e09acd3d1b0dd"
    assert content_hash(None, "x y z") == content_hash("", "x y z") == "8462a11ea90a6ef26b18"


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1990-01-01T00:00:00Z", ("1990-01-01T00:00:00Z", None)),  # the first year accepted
        ("1989-12-31T23:59:59Z", (None, "'1989-12-31T23:59:59Z' is before 1990")),
        ("2026-01-03T00:00:00Z", ("2026-01-03T00:00:00Z", None)),  # exactly two days ahead: accepted
        ("2025-03-15T10:00:00+99:99", (None, "'2025-03-15T10:00:00+99:99' has a UTC offset out of range")),
        ("banana", (None, "'banana' is not a date")),
        (12, (None, "'12' is not a date (no year in it)")),
        (None, (None, None)),
        ("", (None, None)),
    ],
)
def test_date_and_reason(value, expected):
    assert date_and_reason(value, now=NOW) == expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("//example.com/a", "https://example.com/a"),
        ("http://LOCALHOST/x", "http://localhost/x"),
        ("http://[::1]/x", "http://[::1]/x"),
        ("http://example.com/?b=1&a=x y~", "http://example.com/?a=x%20y~&b=1"),
        (None, None),
        (5, None),
    ],
)
def test_canonical_url_edges(url, expected):
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url, fallback, expected",
    [
        (None, "Example.com", "example.com"),
        (None, "BBC News", "BBC News"),  # a name, not a host: kept as written
        (None, "www.bbc.co.uk/news", "bbc.co.uk"),
        ("http://www.x.example/a", None, "x.example"),
        (None, "  ", None),
    ],
)
def test_source_domain_edges(url, fallback, expected):
    assert source_domain(url, fallback) == expected


def test_epoch_seconds_and_partial_dates_do_not_depend_on_the_machine(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")  # local time 9 h ahead of UTC
    time.tzset()
    try:
        assert date_and_reason("1700000000", now=NOW) == ("2023-11-14T22:13:20Z", None)
        assert date_and_reason("March 2025", now=NOW) == ("2025-03-01T00:00:00Z", None)  # not today's day
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_future_limit_is_relative_to_the_given_now():
    article = normalize_article({"text": TEXT, "published": "2026-01-05T00:00:00Z"}, now=NOW)
    assert article["published_at"] is None
    assert article["warnings"] == ["published_at: '2026-01-05T00:00:00Z' is more than 2 days in the future, left null"]
