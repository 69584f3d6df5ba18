"""The digest page, Markdown and CSV as text: escaping, links, structure, accessibility."""

import csv
import datetime as dt
import html.parser
import io

from transforms.report.digest import build_digest
from transforms.report.html import render_html, safe_url
from transforms.report.svg import bar_chart
from transforms.report.text import CSV_COLUMNS, render_csv, render_markdown

UNTIL = dt.date(2026, 3, 15)
UTC = dt.timezone.utc
EVIL = '<script>alert("x")</script> & "quotes" | [link](javascript:alert(1))'


class Collect(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []  # (tag, attrs)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _digest():
    when = dt.datetime(2026, 3, 15, 9, tzinfo=UTC)
    arts = [
        {"id": "a1", "story_id": "s-a1", "title": EVIL, "url": "javascript:alert(1)", "source": "evil.example",
         "language": "ru", "published_at": when, "dedup_status": "unique"},
        {"id": "a2", "story_id": "s-a1", "title": "Fine", "url": "https://ok.example/a?x=1&y=2", "source": "ok.example",
         "language": "uk", "published_at": when, "dedup_status": "unique"},
    ]
    return build_digest(arts, {"a1": ["sanctions"], "a2": ["sanctions"]}, [("read", "<bad>", 2)], until=UNTIL, days=7)


def test_page_escapes_data_and_links_only_http():
    page = render_html(_digest(), generated_at="2026-03-15 10:00 UTC")
    parser = Collect()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "&lt;script&gt;" in page
    hrefs = [a.get("href") for t, a in parser.tags if t == "a"]
    assert "https://ok.example/a?x=1&y=2" in hrefs and not any(h.startswith("javascript") for h in hrefs)
    assert "&lt;bad&gt;" in page
    # nothing the browser would fetch: no src, no stylesheet link, the icon an empty data: URL
    assert not any("src" in a for _, a in parser.tags)
    assert [a["href"] for t, a in parser.tags if t == "link"] == ["data:,"]
    assert safe_url("HTTPS://x.example") and safe_url("data:text/html,x") is None and safe_url(None) is None


def test_page_is_accessible_and_responsive():
    page = render_html(_digest())
    parser = Collect()
    parser.feed(page)
    tags = parser.tags
    assert tags[0] == ("html", {"lang": "en"})
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in tags
    assert [t for t, _ in tags].count("h1") == 1 and [t for t, _ in tags].count("h2") == 4
    assert all(a.get("scope") in ("col", "row") for t, a in tags if t == "th")
    svgs = [a for t, a in tags if t == "svg"]
    assert svgs and all(a["role"] == "img" and a["aria-labelledby"] for a in svgs)
    assert "@media (max-width:40rem)" in page and 'id="topic-sanctions"' in page


def test_chart_numbers_are_in_its_description():
    svg = bar_chart("c1", [3, 0, 5], ["a", "b", "c"], "Volume", previous_mean=2.0)
    assert '<desc id="c1-d">a: 3, b: 0, c: 5; previous period mean 2.0 per day</desc>' in svg
    assert svg.count("<rect") == 3 and 'class="prev"' in svg


def test_markdown_and_csv():
    digest = _digest()
    md = render_markdown(digest)
    assert md.startswith("# News digest 2026-03-09 – 2026-03-15")
    assert "### sanctions" in md and "\\<script\\>" in md and "](<javascript" not in md
    assert "[Fine](<https://ok.example/a?x=1&y=2>)" in md
    assert "- 2 × read: \\<bad\\>" in md
    rows = list(csv.reader(io.StringIO(render_csv(digest))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 2
    assert rows[1][0] == "sanctions" and rows[1][1] == "1" and rows[1][3] == EVIL and rows[1][-1] == \
        "https://ok.example/a?x=1&y=2"
    assert rows[1][6] == "ru;uk" and rows[1][8] == "2026-03-15T09:00:00Z"


def test_plural_and_no_line_without_a_previous_period():
    from transforms.report.html import plural

    assert (plural(1, "story"), plural(2, "story"), plural(0, "outlet")) == ("1 story", "2 stories", "0 outlets")
    assert 'class="prev"' not in bar_chart("c2", [1, 2], ["a", "b"], "V", previous_mean=0.0)
