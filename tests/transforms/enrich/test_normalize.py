"""transforms.enrich.normalize: URLs, domains, dates, ids, content keys, NormalizeArticles."""

from __future__ import annotations

import datetime as dt
import re

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.enrich.normalize import (
    MIN_LETTERS,
    NormalizeArticles,
    article_id,
    canonical_url,
    content_hash,
    date_and_reason,
    normalize_article,
    parse_date,
    source_domain,
    strip_bylines,
)
from transforms.common.records import RejectedInput, raw_article

NOW = dt.datetime(2025, 3, 20, 12, 0, tzinfo=dt.timezone.utc)

# ---------------------------------------------------------------------------
# canonical_url
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://example.com/a/b", "https://example.com/a/b"),
        ("  HTTPS://WWW.Example.COM/News/Story  ", "https://example.com/News/Story"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=abc&gclid=def&dclid=1&msclkid=2&yclid=3", "https://example.com/a"),
        ("https://example.com/a?mc_cid=1&mc_eid=2&igshid=3&ref_src=twsrc&_ga=4&spm=a.b.c", "https://example.com/a"),
        ("https://example.com/a?UTM_Campaign=x&page=2", "https://example.com/a?page=2"),
        ("https://example.com/a?b=2&a=1&c=3", "https://example.com/a?a=1&b=2&c=3"),
        ("https://example.com/a?tag=z&tag=a", "https://example.com/a?tag=z&tag=a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?x=1#frag", "https://example.com/a?x=1"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://user:secret@example.com/a", "https://example.com/a"),
        ("//cdn.example.org/x", "https://cdn.example.org/x"),
        ("https://example.com/a/", "https://example.com/a/"),
        ("https://example.com/2025/03/15/story.html", "https://example.com/2025/03/15/story.html"),
        ("https://example.com/a%2fb?q=%e2%82%ac", "https://example.com/a%2Fb?q=%E2%82%AC"),
        ("https://example.com/a?q=a b", "https://example.com/a?q=a%20b"),
        ("https://example.com/a?empty=", "https://example.com/a?empty="),
        ("https://news.example.co.uk/x", "https://news.example.co.uk/x"),
        ("http://[2001:db8::1]:80/x", "http://[2001:db8::1]/x"),
    ],
)
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://münchen.de/straße", "https://xn--mnchen-3ya.de/stra%C3%9Fe"),
        ("https://xn--mnchen-3ya.de/stra%C3%9Fe", "https://xn--mnchen-3ya.de/stra%C3%9Fe"),
        ("https://WWW.MÜNCHEN.DE/", "https://xn--mnchen-3ya.de/"),
        ("https://пример.рф/новости", "https://xn--e1afmkfd.xn--p1ai/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8"),
    ],
)
def test_idn_hosts_are_punycode_consistently(url, expected):
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [None, "", "   ", "not a url", "ftp://example.com/a", "mailto:a@example.com", "javascript:alert(1)",
     "http://", "http://exa mple.com/", "http://example.com:99999/", "http://a..b/", "/relative/path",
     "file:///etc/passwd", "http://nodot/"],
)
def test_invalid_urls_give_none(url):
    assert canonical_url(url) is None


def test_canonical_url_is_idempotent():
    for url in ("https://www.Example.com/a b?z=1&utm_x=2&a=%e2%82%ac#f", "https://münchen.de/ä?ö=ü"):
        once = canonical_url(url)
        assert canonical_url(once) == once


# ---------------------------------------------------------------------------
# source_domain
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, fallback, expected",
    [
        ("https://www.bbc.co.uk/news/world-1", None, "bbc.co.uk"),
        ("https://edition.cnn.com/2025/03/15/x", "CNN", "edition.cnn.com"),
        ("https://m.example.com/a", None, "example.com"),
        ("https://amp.example.com/a", None, "example.com"),
        (None, "www.Reuters.com", "reuters.com"),
        (None, "https://feeds.example.org/rss.xml", "feeds.example.org"),
        (None, "  Le Monde ", "Le Monde"),
        ("not a url", "Example Daily", "Example Daily"),
        (None, None, None),
        ("", "  ", None),
    ],
)
def test_source_domain(url, fallback, expected):
    assert source_domain(url, fallback) == expected


# ---------------------------------------------------------------------------
# parse_date
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Sat, 15 Mar 2025 14:30:00 GMT", "2025-03-15T14:30:00Z"),
        ("Sat, 15 Mar 2025 14:30:00 +0000", "2025-03-15T14:30:00Z"),
        ("Sat, 15 Mar 2025 14:30:00 +0100", "2025-03-15T13:30:00Z"),
        ("Sat, 15 Mar 2025 09:30:00 -0500", "2025-03-15T14:30:00Z"),
        ("Sat, 15 Mar 2025 09:30:00 EST", "2025-03-15T14:30:00Z"),
        ("Sat, 15 Mar 2025 07:30:00 PDT", "2025-03-15T14:30:00Z"),
        ("Sat, 15 Mar 2025 15:30:00 CET", "2025-03-15T14:30:00Z"),
        ("Sat, 15 Mar 2025 16:30:00 CEST", "2025-03-15T14:30:00Z"),
        ("15 Mar 2025 14:30:00 -0000", "2025-03-15T14:30:00Z"),
        ("Sat, 15 Mar 2025 14:30 Z", "2025-03-15T14:30:00Z"),
        ("2025-03-15T14:30:00Z", "2025-03-15T14:30:00Z"),
        ("2025-03-15T16:30:00+02:00", "2025-03-15T14:30:00Z"),
        ("2025-03-15T14:30:00.123456Z", "2025-03-15T14:30:00Z"),
        ("2025-03-15T14:30:00", "2025-03-15T14:30:00Z"),
        ("2025-03-15 14:30", "2025-03-15T14:30:00Z"),
        ("2025-03-15", "2025-03-15T00:00:00Z"),
        ("1742049000", "2025-03-15T14:30:00Z"),
        ("1742049000000", "2025-03-15T14:30:00Z"),
        ("March 15, 2025", "2025-03-15T00:00:00Z"),
        ("15 March 2025 9:30 AM EST", "2025-03-15T14:30:00Z"),
        ("15.03.2025 14:30", "2025-03-15T14:30:00Z"),
        ("05.03.2025", "2025-03-05T00:00:00Z"),
        ("2025/03/15", "2025-03-15T00:00:00Z"),
        ("Published: March 15, 2025", "2025-03-15T00:00:00Z"),
        ("  2025-03-15T14:30:00Z \n", "2025-03-15T14:30:00Z"),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "yesterday", "soon", "not a date at all", "Mon, 32 Mar 2025 00:00:00 GMT",
     "2025-13-45", "99999999999999"],
)
def test_unparseable_dates_give_none(value):
    assert parse_date(value, now=NOW) is None


@pytest.mark.parametrize("value", ["1970-01-01T00:00:00Z", "0", "1989-12-31", "Mon, 01 Jan 1900 00:00:00 GMT"])
def test_absurdly_old_dates_give_none(value):
    assert parse_date(value, now=NOW) is None


def test_dates_more_than_two_days_ahead_give_none():
    assert parse_date("2025-03-22T11:59:00Z", now=NOW) == "2025-03-22T11:59:00Z"
    assert parse_date("2025-03-22T12:01:00Z", now=NOW) is None
    assert parse_date("2030-01-01", now=NOW) is None


def test_naive_now_is_taken_as_utc():
    assert parse_date("2025-03-21", now=NOW.replace(tzinfo=None)) == "2025-03-21T00:00:00Z"


def test_default_now_is_the_current_time():
    assert parse_date("2999-01-01") is None
    assert parse_date("2001-09-09T01:46:40Z") == "2001-09-09T01:46:40Z"


# ---------------------------------------------------------------------------
# article_id / content_hash
# ---------------------------------------------------------------------------


def test_article_id_is_stable_and_short_hex():
    a = article_id("data/a.jsonl#line 1", "https://example.com/a", "Title", "Body text")
    assert a == article_id("data/a.jsonl#line 1", "https://example.com/a", "Title", "Body text")
    assert re.fullmatch(r"[0-9a-f]{20}", a)


def test_article_id_changes_with_one_character_of_text():
    # the literal values users store are pinned in tests/transforms/test_pinned_values.py
    assert article_id("o", None, "t", "x") != article_id("o", None, "t", "x ")


@pytest.mark.parametrize(
    "other",
    [
        ("data/b.jsonl#line 1", "https://example.com/a", "Title", "Body text"),
        ("data/a.jsonl#line 1", "https://example.com/b", "Title", "Body text"),
        ("data/a.jsonl#line 1", None, "Title", "Body text"),
        ("data/a.jsonl#line 1", "https://example.com/a", "Title 2", "Body text"),
        ("data/a.jsonl#line 1", "https://example.com/a", "Title", "Body text."),
        ("data/a.jsonl#line 1", "https://example.com/a", "TitleBody", " text"),
    ],
)
def test_article_ids_are_distinct(other):
    assert article_id("data/a.jsonl#line 1", "https://example.com/a", "Title", "Body text") != article_id(*other)


def test_feed_entry_keeps_its_id_when_it_moves_down_the_feed():
    url = "https://example.com/story"
    assert article_id("https://example.com/rss#entry 0", url, "T", "x") == article_id(
        "https://example.com/rss#entry 3", url, "T", "x"
    )
    assert article_id("https://example.com/rss#entry 0", None, "T", "x") != article_id(
        "https://example.com/rss#entry 3", None, "T", "x"
    )


BASE = "The Bank of England held interest rates at 4.5 per cent on Thursday.\nInflation remained above target."


@pytest.mark.parametrize(
    "variant",
    [
        BASE,
        "LONDON (Reuters) - " + BASE,
        "LONDON, March 20 (Reuters) — " + BASE,
        "By Jane Doe\n" + BASE,
        "By Jane Doe\nLONDON (AP) — " + BASE,
        "LONDON — " + BASE,
        BASE + "\n(Reporting by Jane Doe; Editing by John Roe)",
        BASE.upper(),
        "  " + BASE.replace(" ", "   ").replace("\n", "\n\n") + "  ",
        BASE.replace(".", "!").replace("4!5", "4.5"),
        BASE.replace("The Bank", "The\u00a0Bank"),
        "\u201c" + BASE + "\u201d",
    ],
)
def test_content_hash_matches_trivially_reformatted_copies(variant):
    assert content_hash("Rates on hold", variant) == content_hash("Rates on hold", BASE)


def test_content_hash_folds_title_case_and_punctuation():
    assert content_hash("Rates on hold!", BASE) == content_hash("RATES ON HOLD", BASE)


def test_content_hash_folds_non_ascii_punctuation_and_underscores():
    base = content_hash("", "Die Regierung sagt: Maßnahmen kommen " * 8)
    assert content_hash("", "«Die Regierung» sagt — Maßnahmen\u00a0kommen_ " * 8) == base
    assert content_hash("", "DIE REGIERUNG SAGT MASSNAHMEN KOMMEN " * 8) == base  # casefold: ß -> ss
    assert content_hash("", "Die Regierung sagt Maßnahmen kommen 2 " * 8) != base


def test_content_hash_fullwidth_and_compatibility_forms():
    assert content_hash("ＢｏＥ", "ﬁnal ruling " * 5) == content_hash("BoE", "final ruling " * 5)


@pytest.mark.parametrize(
    "title, text",
    [
        ("Rates on hold", BASE.replace("4.5", "4.75")),
        ("Rates cut", BASE),
        ("Rates on hold", BASE + "\nA third sentence."),
        ("Rates on hold", "The Bank of England raised interest rates."),
    ],
)
def test_content_hash_distinguishes_different_content(title, text):
    assert content_hash(title, text) != content_hash("Rates on hold", BASE)


def test_strip_bylines_leaves_ordinary_text():
    text = "Officials said the talks would resume next week in Geneva."
    assert strip_bylines(text) == text
    assert strip_bylines("KYIV, Ukraine (AP) — Drones hit the city.") == "Drones hit the city."


# ---------------------------------------------------------------------------
# normalize_article
# ---------------------------------------------------------------------------

TEXT = (
    "The finance ministers of twelve countries agreed on Tuesday to extend the freeze on central bank "
    "assets for another six months, officials said."
)


def raw(**fields):
    return raw_article(fields.pop("origin", "data/in.jsonl#line 1"), fields.pop("format", "jsonl"), **fields)


def test_normalize_plain_article():
    art = normalize_article(
        raw(
            title="  Ministers  extend CafÃ© freeze ",
            text="  " + TEXT + " &amp; more.\r\n\r\nSecond paragraph here. ",
            url="https://www.example.com/world/freeze?utm_source=rss#top",
            published="Sat, 15 Mar 2025 14:30:00 GMT",
            source="Example Daily",
            language="en-GB",
            external_id=42,
        ),
        now=NOW,
    )
    assert art == {
        "id": article_id("data/in.jsonl#line 1", "https://example.com/world/freeze", art["title"], art["text"]),
        "url": "https://example.com/world/freeze",
        "source": "example.com",
        "title": "Ministers extend Café freeze",
        "text": TEXT + " & more.\nSecond paragraph here.",
        "published_at": "2025-03-15T14:30:00Z",
        "language": "en",
        "origin": "data/in.jsonl#line 1",
        "external_id": "42",
        "content_hash": content_hash("Ministers extend Café freeze", TEXT + " & more.\nSecond paragraph here."),
    }


def test_normalize_html_page():
    page = (
        "<html><head><title>Freeze | Daily</title><meta property='og:title' content='Freeze extended'></head>"
        "<body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>Freeze extended</h1><p>{TEXT}</p><p>{TEXT.replace('six', 'nine')}</p></article>"
        "<footer>© Example Daily. All rights reserved.</footer></body></html>"
    )
    art = normalize_article(raw(format="html", html=page, source="Example Daily"), now=NOW)
    assert art["title"] == "Freeze extended"
    assert TEXT in art["text"] and "All rights reserved" not in art["text"]
    assert art["source"] == "Example Daily" and art["url"] is None and art["published_at"] is None


def test_given_title_beats_page_title():
    art = normalize_article(raw(title="Given", html=f"<html><head><title>Page</title></head><body><p>{TEXT}</p></body></html>"))
    assert art["title"] == "Given"


def test_text_that_is_really_html_is_extracted():
    art = normalize_article(raw(text=f"<p>{TEXT}</p><p>Second <b>bold</b> point.</p>"))
    assert art["text"] == TEXT + "\nSecond bold point."


def test_text_wins_over_html():
    art = normalize_article(raw(text=TEXT, html="<p>Something else entirely, which is long enough.</p>"))
    assert art["text"] == TEXT


def test_title_markup_is_removed():
    assert normalize_article(raw(title="<b>Big</b> news &amp; more", text=TEXT))["title"] == "Big news & more"


def test_missing_title_is_empty_string():
    assert normalize_article(raw(text=TEXT))["title"] == ""


def test_long_text_is_cut_at_a_word_boundary():
    art = normalize_article(raw(text=TEXT * 50), max_text_chars=1000)
    assert len(art["text"]) <= 1000 and TEXT.startswith(art["text"][:100])
    assert art["text"].split()[-1] in TEXT.split()


@pytest.mark.parametrize("language, expected", [("en", "en"), ("EN-us", "en"), ("pt_BR", "pt"), ("", None), ("english language", None), (None, None)])
def test_declared_language(language, expected):
    assert normalize_article(raw(text=TEXT, language=language))["language"] == expected


@pytest.mark.parametrize(
    "record, reason",
    [
        (raw(text="   "), "empty text"),
        (raw(), "empty text"),
        (raw(text="OK 1 2 3 4 5 6 7 8 9 10 !!!"), "too short"),
        (raw(html="<html><head><script>x()</script></head><body></body></html>"), "no main text in HTML"),
        (raw(text="\x00\x01\x02   \u200b"), "empty text"),
        ("not a dict", "not a RawArticle"),
    ],
)
def test_rejections_have_readable_reasons(record, reason):
    with pytest.raises(RejectedInput, match=reason):
        normalize_article(record)


def test_exactly_min_letters_is_enough():
    assert normalize_article(raw(text="a" * MIN_LETTERS))["text"] == "a" * MIN_LETTERS
    with pytest.raises(RejectedInput):
        normalize_article(raw(text="a" * (MIN_LETTERS - 1) + " 12345678901234567890"))


def test_same_input_same_output():
    record = raw(title="T", text=TEXT, url="https://example.com/a", published="2025-03-15")
    assert normalize_article(dict(record), now=NOW) == normalize_article(dict(record), now=NOW)


# ---------------------------------------------------------------------------
# NormalizeArticles
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_normalize_articles_composite():
    good = raw(origin="in.jsonl#line 1", title="Good", text=TEXT, url="https://www.example.com/a?fbclid=x")
    html = raw(origin="in.html", format="html", html=f"<html><body><article><p>{TEXT}</p></article></body></html>")
    short = raw(origin="in.jsonl#line 2", text="too short")
    script = raw(origin="in.jsonl#line 3", html="<script>only()</script>")
    expected_good = normalize_article(good, now=NOW)
    expected_html = normalize_article(html, now=NOW)

    with TestPipeline() as p:
        articles, dead = (
            p | "Create" >> beam.Create([good, html, short, script]) | "Normalize" >> NormalizeArticles(now=NOW)
        )
        assert_that(articles, equal_to([expected_good, expected_html]), label="CheckArticles")
        assert_that(
            dead | "Reasons" >> beam.Map(lambda d: (d["source"], d["stage"], d["error"].split(":")[0])),
            equal_to(
                [
                    ("in.jsonl#line 2", "normalize", "text too short"),
                    ("in.jsonl#line 3", "normalize", "no main text in HTML"),
                ]
            ),
            label="CheckDeadLetters",
        )


def test_content_hash_of_long_text_ignores_the_headline():
    long_text = "\n".join([BASE] * 4)
    assert content_hash("Rates on hold", long_text) == content_hash("BoE keeps rates steady", long_text)
    assert content_hash("Rates on hold", long_text) != content_hash("Rates on hold", long_text + " More.")


# --------------------------------------------------------------------------- odd dates


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2025-03-15T10:00:00+99:99", "'2025-03-15T10:00:00+99:99' has a UTC offset out of range"),
        ("-1", "'-1' is not a date (no year in it)"),
        ("1", "'1' is not a date (no year in it)"),
        ("March 15", "'March 15' is not a date (no year in it)"),
        ("garbage", "'garbage' is not a date"),
        ("99999-01-01", "'99999-01-01' is not a date"),
        ("0000-00-00", "'0000-00-00' is not a date"),
        ("1970-01-01T00:00:00Z", "'1970-01-01T00:00:00Z' is before 1990"),
        ("2999-01-01", "'2999-01-01' is more than 2 days in the future"),
        ("99999999999999", "'99999999999999' is not a date"),
        ("x" * 100, "'" + "x" * 40 + "…' is not a date"),
    ],
)
def test_odd_dates_are_null_with_a_reason(value: str, reason: str) -> None:
    assert date_and_reason(value, now=NOW) == (None, reason) or date_and_reason(value, now=NOW)[1].startswith(reason)
    assert parse_date(value, now=NOW) is None


def test_odd_date_keeps_the_article_and_says_why() -> None:
    art = normalize_article(raw(text=TEXT, published="+99:99"), now=NOW)
    assert art["published_at"] is None
    assert art["warnings"] == ["published_at: '+99:99' is not a date, left null"]
    art = normalize_article(raw(text=TEXT, published="2025-03-15T10:00:00+99:99"), now=NOW)
    assert art["warnings"] == ["published_at: '2025-03-15T10:00:00+99:99' has a UTC offset out of range, left null"]


def test_good_dates_have_no_reason() -> None:
    for value in ("2025-03-15", "15.03.25 14:30", "Sat, 15 Mar 2025 14:30:00 GMT", "20250311T093000Z", "1741000000"):
        published, reason = date_and_reason(value, now=NOW)
        assert published is not None and reason is None, value
    assert date_and_reason(None) == (None, None) and date_and_reason("  ") == (None, None)


def test_reader_warnings_come_before_the_date_warning() -> None:
    art = normalize_article(raw(text=TEXT, published="-1", warnings=["title: 1 invalid character(s)"]), now=NOW)
    assert art["warnings"] == ["title: 1 invalid character(s)", "published_at: '-1' is not a date (no year in it), left null"]
