"""The digest as one self-contained HTML page: inline CSS, inline SVG charts, no script.

:func:`render_html` is a pure function of a :class:`~transforms.report.digest.Digest`; every
text from the data goes through :func:`html.escape`, and only ``http``/``https`` URLs become
links. Nothing in the page is fetched: no font, no image, no CDN (the icon is an empty
``data:`` URL so browsers do not ask for ``/favicon.ico``). Responsive (one column on a
phone, wide tables scroll inside their box) and accessible (a heading per section, captions
and ``<th scope>`` on tables, every chart labelled, its numbers also in a table).
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Iterable, Sequence

from transforms.report.digest import CONTINUING, NEW, Digest, StoryView, TopicVolume
from transforms.report.svg import bar_chart

CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--accent:#0b5cad;--bar:#3b75c4;--new:#1a7f37;--cont:#8250df}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
h1{font-size:1.6rem;margin:1.2rem 0 .3rem}h2{font-size:1.3rem;margin:2rem 0 .6rem;border-bottom:1px solid var(--line)}
h3{font-size:1.1rem;margin:1.4rem 0 .4rem}h4{font-size:1rem;margin:0 0 .3rem}
a{color:var(--accent)}.muted,small{color:var(--muted)}
nav ul{display:flex;flex-wrap:wrap;gap:.3rem .8rem;padding:0;list-style:none}
ol.stories{padding-left:1.4rem}li.story{margin:0 0 1rem}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:0 .4rem;border-radius:.6rem;color:#fff;vertical-align:middle}
.badge.new{background:var(--new)}.badge.continuing{background:var(--cont)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:0 .8rem;margin:.2rem 0;font-size:.9rem}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}
ul.links{margin:.2rem 0;padding-left:1.1rem;font-size:.9rem}ul.links li{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.9rem}
caption{text-align:left;color:var(--muted);padding:.2rem 0}
th,td{border-bottom:1px solid var(--line);padding:.25rem .6rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:1rem}
figure{margin:0}figcaption{font-size:.9rem;font-weight:600}
svg.chart{width:100%;height:auto;display:block}
svg .bar{fill:var(--bar)}svg .axis{stroke:var(--line)}svg .prev{stroke:#cf222e;stroke-dasharray:4 3}
svg text{font:10px system-ui,sans-serif;fill:var(--muted)}
.up{color:#1a7f37}.down{color:#cf222e}
footer{margin:2rem auto;color:var(--muted);font-size:.85rem}
@media (max-width:40rem){body{font-size:15px}h1{font-size:1.3rem}header,main,footer{padding:0 .6rem}ol.stories{padding-left:1.1rem}}
"""


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _day(moment: dt.datetime | dt.date | None) -> str:
    if moment is None:
        return "undated"
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return moment.isoformat()


def safe_url(url: str | None) -> str | None:
    """The URL when it is ``http``/``https`` (never ``javascript:`` or ``data:`` from a feed)."""
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        return url
    return None


def anchor(topic: str) -> str:
    return "topic-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in topic)


def change_text(volume: TopicVolume | None, current: int = 0, previous: int = 0) -> tuple[str, str]:
    """``("+25 %", "up")``: the change against the previous period, and its CSS class."""
    if volume is not None:
        current, previous = sum(volume.per_day), volume.previous
    if not previous:
        return ("new" if current else "—"), ""
    change = (current - previous) / previous
    if not change:
        return "0 %", ""
    return f"{change:+.0%}".replace("%", " %"), ("up" if change > 0 else "down")


def plural(n: int, word: str) -> str:
    """``1 story``, ``2 stories``, ``3 languages``."""
    if n == 1:
        return f"1 {word}"
    return f"{n} {word[:-1] + 'ies' if word.endswith('y') else word + 's'}"


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool]) -> str:
    """A table whose first column heads its row (``<th scope="row">``)."""
    head = "".join(f'<th scope="col"{" class=n" if n else ""}>{_e(h)}</th>' for h, n in zip(headers, numeric))
    body = []
    for row in rows:
        cells = [f'<th scope="row">{_e(row[0])}</th>']
        cells += [f'<td{" class=n" if n else ""}>{_e(v)}</td>' for v, n in zip(row[1:], numeric[1:])]
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}">none</td></tr>')
    return (
        f'<div class="scroll"><table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _story(story: StoryView) -> str:
    badge = f'<span class="badge {story.status}">{"new" if story.status == NEW else "continuing"}</span>'
    links = []
    for link in story.links:
        url = safe_url(link.url)
        title = _e(link.title)
        label = f'<a href="{_e(url)}" rel="noopener noreferrer">{title}</a>' if url else title
        meta = " · ".join(_e(x) for x in (link.source or "", link.language, _day(link.published_at)) if x)
        links.append(f"<li>{label} <small>{meta}</small></li>")
    more = story.articles - len(story.links)
    if more > 0:
        links.append(f'<li class="muted">and {more} more</li>')
    facts = [
        ("Articles", story.articles),
        ("Languages", ", ".join(story.languages)),
        ("Outlets", ", ".join(story.outlets) or "unknown"),
        ("First seen", _day(story.first_seen)),
        ("Last seen", _day(story.last_seen)),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return (
        f'<li class="story" data-story-id="{_e(story.story_id)}"><h4>{_e(story.headline)} {badge}</h4>'
        f'<dl class="facts">{dl}</dl><ul class="links">{"".join(links)}</ul></li>'
    )


def _top_stories(digest: Digest, volumes: dict[str, TopicVolume]) -> str:
    if not digest.top:
        return '<p class="muted">No tagged story in this period.</p>'
    parts = []
    for topic, stories in digest.top:
        volume = volumes.get(topic)
        text, css = change_text(volume)
        total = volume.total if volume else 0
        parts.append(
            f'<section class="topic" id="{anchor(topic)}" aria-labelledby="{anchor(topic)}-h">'
            f'<h3 id="{anchor(topic)}-h">{_e(topic)} <small>{total} articles, '
            f'<span class="{css}">{_e(text)}</span> vs previous period</small></h3>'
            f'<ol class="stories">{"".join(_story(s) for s in stories)}</ol></section>'
        )
    return "".join(parts)


def _volume(digest: Digest) -> str:
    labels = [d.strftime("%m-%d") for d in digest.days]
    days = len(digest.days)
    total_now = sum(digest.all_per_day)
    overall = bar_chart(
        "chart-all", list(digest.all_per_day), labels, f"All articles per day, {digest.start} to {digest.until}",
        width=640, height=160, previous_mean=digest.all_previous / days,
    )
    text, css = change_text(None, total_now, digest.all_previous)
    parts = [
        f'<figure><figcaption>All articles: {total_now} dated this period, {digest.all_previous} the previous '
        f'<span class="{css}">({_e(text)})</span>; the dashed line is the previous period\'s mean per day</figcaption>'
        f"{overall}</figure>",
        '<div class="grid">',
    ]
    for i, volume in enumerate(digest.volumes):
        text, css = change_text(volume)
        chart = bar_chart(
            f"chart-{i}", list(volume.per_day), labels, f"{volume.topic}: articles per day",
            previous_mean=volume.previous / days,
        )
        parts.append(
            f'<figure><figcaption>{_e(volume.topic)} <small>{sum(volume.per_day)} '
            f'(<span class="{css}">{_e(text)}</span>)</small></figcaption>{chart}</figure>'
        )
    parts.append("</div>")
    headers = ["topic", *labels, "undated", "total", "previous", "change"]
    rows = [
        [v.topic, *v.per_day, v.undated, v.total, v.previous, change_text(v)[0]] for v in digest.volumes
    ]
    parts.append(_table("Articles per topic and day (the numbers of the charts)", headers, rows,
                        [False] + [True] * (len(headers) - 1)))
    return "".join(parts)


def render_html(digest: Digest, generated_at: str = "", output: str = "") -> str:
    """The whole page."""
    volumes = {v.topic: v for v in digest.volumes}
    title = f"News digest {digest.start} – {digest.until}"
    nav = "".join(f'<li><a href="#{anchor(t)}">{_e(t)}</a></li>' for t, _ in digest.top)
    state_note = "" if digest.with_state else " (without --state: new means first seen in these outputs)"
    lead = (
        f"{plural(digest.articles, 'article')} ({digest.undated} undated), {plural(digest.stories, 'story')}, "
        f"{digest.new_stories} new and {digest.stories - digest.new_stories} continuing{state_note}; "
        f"{plural(len(digest.languages), 'language')}, {plural(digest.source_total, 'outlet')}."
    )
    dead_total = sum(n for _, _, n in digest.dead_letters)
    body = [
        f"<header><h1>{_e(title)}</h1><p>{_e(lead)}</p>",
        f'<nav aria-label="Topics"><ul>{nav}</ul></nav></header><main>',
        '<section aria-labelledby="h-top"><h2 id="h-top">Top stories by topic</h2>',
        "<p class=muted>Ranked by outlets, then languages, then articles. "
        f'<span class="badge {NEW}">new</span> first seen in this period, '
        f'<span class="badge {CONTINUING}">continuing</span> seen before it.</p>',
        _top_stories(digest, volumes),
        "</section>",
        '<section aria-labelledby="h-volume"><h2 id="h-volume">Topic volume per day</h2>',
        _volume(digest),
        "</section>",
        '<section aria-labelledby="h-cover"><h2 id="h-cover">Languages and sources</h2>',
        _table("Articles per language", ["language", "articles"], digest.languages, [False, True]),
        _table(
            f"Articles per outlet ({len(digest.sources)} of {digest.source_total} shown)",
            ["outlet", "articles"], digest.sources, [False, True],
        ),
        "</section>",
        f'<section aria-labelledby="h-dead"><h2 id="h-dead">Dead letters</h2><p>{dead_total} inputs were rejected '
        "(all runs in these outputs), by stage and reason:</p>",
        _table("Rejected inputs by reason", ["stage", "reason", "count"], digest.dead_letters, [False, False, True]),
        "</section></main>",
        f"<footer>newsbeam digest of {_e(output or 'the outputs')}"
        f"{', generated ' + _e(generated_at) if generated_at else ''}.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel="icon" href="data:,"><style>{CSS}</style></head>'
        f"<body>{''.join(body)}</body></html>\n"
    )
