"""Outputs without a pipeline: the analyst tables of given records, written as a run would
(``transforms/io/tables.py`` row builders and layout), and articles made up in bulk."""

from __future__ import annotations

import collections
import datetime as dt
import os
import pathlib

from transforms.io.tables import TABLES, parquet_bytes, partition_of, relative_path
from transforms.stories.records import build_story, story_member


def write_tables(out: str | os.PathLike, articles: list[dict], dead_letters: list[dict] = (), run: str | None = None,
                 stories: list[dict] | None = None) -> None:
    """The four tables of ``articles`` (stories built from them unless given) under ``out``;
    with ``run``, in the layout of a scheduled run (``<table>/run=<run>/...``)."""
    if stories is None:
        groups = collections.defaultdict(list)
        for article in articles:
            groups[article["story_id"]].append(story_member(article))
        stories = [build_story(story_id, members) for story_id, members in sorted(groups.items())]
    sources = {"articles": articles, "stories": stories, "dead_letter": list(dead_letters)}
    for table in TABLES:
        files = collections.defaultdict(list)
        for record in sources[table.output]:
            for row in table.rows(record):
                files[partition_of(table, row)].append(row)
        for partition, rows in files.items():
            relative = relative_path(table, partition, 0)
            if run is not None:
                folder, rest = relative.split("/", 1)
                relative = f"{folder}/run={run}/{rest}"
            path = pathlib.Path(out, relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(parquet_bytes(table, rows))


TOPICS = ("sanctions", "ceasefire", "energy", "elections", "protest", "cyberattack", "military_aid", "trade_tariffs")
LANGUAGES = ("en", "ru", "uk", "de", "fr", "pl")


def article(i: int, *, story: int, day: dt.date, topics=("sanctions",), language="en", source="a.example",
            title=None, status="unique") -> dict:
    """An enriched article record as the pipeline writes it (a few fields made up)."""
    return {
        "id": f"a{i:06d}",
        "url": f"https://{source}/news/{i}",
        "source": source,
        "title": title or f"Story {story} report {i}",
        "text": f"Text of article {i} about story {story}.",
        "published_at": f"{day.isoformat()}T{8 + i % 12:02d}:00:00Z",
        "language": language,
        "language_confidence": 0.99,
        "dedup": {"status": status, "duplicate_of": None if status == "unique" else f"a{i - 1:06d}"},
        "story_id": f"s-a{story:06d}",
        "topics": [{"name": t, "score": 0.8, "evidence": [{"field": "text", "text": "Text", "start": 0, "end": 4}]}
                   for t in topics],
        "mentions": [],
        "origin": f"in.jsonl#line {i + 1}",
        "external_id": None,
        "content_hash": f"h{i}",
    }


def many_articles(n: int, until: dt.date, days: int = 14) -> list[dict]:
    """``n`` articles over the ``days`` ending on ``until``, in stories of 1-12 articles,
    several languages and outlets, one or two topics each."""
    out = []
    story = 0
    i = 0
    while i < n:
        size = 1 + (story * 7) % 12
        day = until - dt.timedelta(days=story % days)
        topics = (TOPICS[story % len(TOPICS)],) + ((TOPICS[(story + 3) % len(TOPICS)],) if story % 3 == 0 else ())
        for k in range(min(size, n - i)):
            out.append(article(i, story=story, day=day, topics=topics, language=LANGUAGES[(story + k) % len(LANGUAGES)],
                               source=f"outlet{(story * 5 + k) % 40}.example", title=f"Story {story}: headline {k}"))
            i += 1
        story += 1
    return out
