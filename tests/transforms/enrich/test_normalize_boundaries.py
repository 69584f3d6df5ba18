"""Edges of normalization that ``make mutate`` found untested: each test pins one boundary or one
branch whose change would alter what users store or read (dates, ids, content keys, domains)."""

import datetime as dt

from tests.support.samples import TEXT_EN
from transforms.enrich import normalize
from transforms.enrich.normalize import (
    canonical_url,
    content_hash,
    date_and_reason,
    normalize_article,
    parse_date,
    source_domain,
    strip_bylines,
)

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def test_feed_dates_dateutil_cannot_read_go_through_the_rfc822_parser():
    # a zone name after the numeric offset, and dots in the time: email.utils reads both, dateutil neither
    assert parse_date("Sat, 15 Mar 2025 14:30:00 +0100 CET", now=NOW) == "2025-03-15T13:30:00Z"
    assert parse_date("Sat, 15 Mar 2025 14.30.00 GMT", now=NOW) == "2025-03-15T14:30:00Z"


def test_reasons_for_dates_out_of_range_and_offsets_out_of_range():
    assert date_and_reason("0001-01-01T00:00:00+01:00", now=NOW) == (
        None, "'0001-01-01T00:00:00+01:00' is not a date (out of range)")
    assert date_and_reason("31 Dec 9999 23:00 -1000", now=NOW) == (None, "'31 Dec 9999 23:00 -1000' is not a date (out of range)")
    assert date_and_reason("2025-03-15T10:00:00+25:00", now=NOW) == (
        None, "'2025-03-15T10:00:00+25:00' has a UTC offset out of range")


def test_a_value_of_exactly_forty_characters_is_quoted_whole():
    forty, longer = "x" * 39 + "1", "x" * 41
    assert date_and_reason(forty, now=NOW) == (None, f"'{forty}' is not a date")
    assert date_and_reason(longer, now=NOW) == (None, f"'{'x' * 40}…' is not a date")


def test_a_two_digit_year_counts_with_three_numbers_and_a_bare_time_is_no_date():
    assert parse_date("03/15/25", now=NOW) == "2025-03-15T00:00:00Z"
    assert parse_date("10:30:45", now=NOW) is None  # dateutil would fill in 2000-01-01


def test_source_domain_skips_a_url_that_is_not_a_string_and_keeps_a_one_label_host():
    assert source_domain(5, "bbc.co.uk") == "bbc.co.uk"
    assert source_domain("https://m.example/x") == "m.example"  # stripping "m." would leave no dot


def test_a_url_field_that_is_not_a_string_is_no_url():
    article = normalize_article({"text": TEXT_EN, "url": 5})
    assert article["url"] is None and article["source"] is None


def test_a_slash_in_a_query_value_is_escaped():
    assert canonical_url("https://a.example/p?b=x/y") == "https://a.example/p?b=x%2Fy"


def test_content_hash_ignores_the_title_from_exactly_title_free_chars_on():
    at, under = "w" * normalize.TITLE_FREE_CHARS, "w" * (normalize.TITLE_FREE_CHARS - 1)
    assert content_hash("A", at) == content_hash("B", at)
    assert content_hash("A", under) != content_hash("B", under)
    assert content_hash("T", None) == content_hash("T", " ")  # no text: no placeholder text


def test_content_hash_of_a_text_with_a_lone_surrogate():
    assert content_hash("t", "a \ud800 b") == "7504bfeab4c1713197d0"  # no UnicodeError: a crash would lose the record


def test_at_most_two_leading_bylines_are_stripped():
    assert strip_bylines("By Ann Lee\nBy Bob Dee\nBy Cy Fox\nThe text.") == "By Cy Fox\nThe text."


def test_markup_counts_only_when_a_tag_is_complete_in_the_first_5000_characters():
    assert not normalize._looks_like_html("a" * 4998 + "<p>x")
    assert normalize._looks_like_html("a" * 4997 + "<p>x")


def test_a_text_of_exactly_the_limit_is_not_cut():
    assert normalize._truncate("abcd ef", 7) == "abcd ef"
    assert normalize._truncate("abcd efg", 7) == "abcd"


def test_a_feed_date_with_am_pm_keeps_its_afternoon():
    # RFC 822 has no AM/PM; email.utils read "2:30:00 PM" as 02:30 (a bug make mutate led to)
    assert parse_date("Sat, 15 Mar 2025 2:30:00 PM GMT", now=NOW) == "2025-03-15T14:30:00Z"
    assert parse_date("Sat, 15 Mar 2025 2:30 pm EST", now=NOW) == "2025-03-15T19:30:00Z"
    assert parse_date("Sat, 15 Mar 2025 11:30:00 AM +0100", now=NOW) == "2025-03-15T10:30:00Z"
