"""The digest as Markdown (to mail or paste) and CSV (one row per top story and topic)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from transforms.report.digest import Digest
from transforms.report.html import change_text, plural, safe_url

CSV_COLUMNS = (
    "topic", "rank", "story_id", "headline", "status", "articles", "languages", "outlets",
    "first_seen", "last_seen", "urls",
)  # fmt: skip


def _iso(moment: dt.datetime | None) -> str:
    return "" if moment is None else moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _md(text: object) -> str:
    """Text safe inside a Markdown line or table cell."""
    value = " ".join(str(text).split())
    for ch in "\\`*_[]|<>#":
        value = value.replace(ch, "\\" + ch)
    return value


def render_csv(digest: Digest) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for topic, stories in digest.top:
        for rank, story in enumerate(stories, 1):
            urls = [u for u in (safe_url(link.url) for link in story.links) if u]
            writer.writerow(
                [
                    topic, rank, story.story_id, story.headline, story.status, story.articles,
                    ";".join(story.languages), ";".join(story.outlets), _iso(story.first_seen), _iso(story.last_seen),
                    " ".join(urls),
                ]
            )
    return buffer.getvalue()


def render_markdown(digest: Digest) -> str:
    lines = [
        f"# News digest {digest.start} – {digest.until}",
        "",
        f"{plural(digest.articles, 'article')} ({digest.undated} undated), {plural(digest.stories, 'story')} "
        f"({digest.new_stories} new), {plural(len(digest.languages), 'language')}, "
        f"{plural(digest.source_total, 'outlet')}.",
        "",
        "## Top stories by topic",
    ]
    for topic, stories in digest.top:
        lines += ["", f"### {_md(topic)}", ""]
        for rank, story in enumerate(stories, 1):
            lines.append(
                f"{rank}. **{_md(story.headline)}** ({story.status}): {story.articles} articles, "
                f"{len(story.outlets)} outlets, languages {_md(', '.join(story.languages))}; "
                f"first seen {_iso(story.first_seen) or 'undated'}, last seen {_iso(story.last_seen) or 'undated'}"
            )
            for link in story.links:
                url = safe_url(link.url)
                title = _md(link.title)
                lines.append(f"   - [{title}](<{url}>) ({_md(link.source or '')}, {link.language})" if url
                             else f"   - {title} ({_md(link.source or '')}, {link.language})")
    labels = [d.strftime("%m-%d") for d in digest.days]
    lines += ["", "## Topic volume per day", "", "| topic | " + " | ".join(labels) + " | total | previous | change |",
              "|---" * (len(labels) + 4) + "|"]
    for v in digest.volumes:
        cells = [_md(v.topic), *map(str, v.per_day), str(v.total), str(v.previous), change_text(v)[0]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Languages", ""] + [f"- {_md(lang)}: {n}" for lang, n in digest.languages]
    lines += ["", "## Sources", ""] + [f"- {_md(src)}: {n}" for src, n in digest.sources]
    if digest.source_total > len(digest.sources):
        lines.append(f"- … and {digest.source_total - len(digest.sources)} more")
    lines += ["", "## Dead letters by reason", ""]
    lines += [f"- {n} × {_md(stage)}: {_md(reason)}" for stage, reason, n in digest.dead_letters] or ["- none"]
    return "\n".join(lines) + "\n"
