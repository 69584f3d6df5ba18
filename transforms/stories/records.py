"""Stories: one record per group of articles about the same event.

``story_id`` is derived from the story's founding article, so it is stable
across runs and runners. This module holds the story *records*; how articles
are grouped into stories is decided upstream (``AssignStories``).

Counters (namespace ``newsbeam.stories``): ``stories``, ``multi_article_stories``.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.common.stage import namespace

STORY_PREFIX = "s-"


def story_id_for(root_article_id: str) -> str:
    return STORY_PREFIX + root_article_id


def _sort_key(article: dict) -> tuple[str, str]:
    return (article.get("published_at") or "9999", article["id"])


def build_story(story_id: str, members: Iterable[dict]) -> dict:
    """The story record for ``members`` (articles sharing ``story_id``).

    The headline is the title of the earliest original (non-duplicate) article
    with a title; topics are the union over members with the best score each;
    places are its main places: those most of its articles name (at most
    ``MAX_STORY_PLACES``, then by mentions), with how many articles name each.
    """
    ordered = sorted(members, key=_sort_key)
    originals = [a for a in ordered if (a.get("dedup") or {}).get("status", "unique") == "unique"]
    headline = next((a["title"] for a in originals + ordered if a.get("title")), "")
    dates = [a["published_at"] for a in ordered if a.get("published_at")]
    best: dict[str, float] = {}
    for article in ordered:
        for topic in article.get("topics") or []:
            best[topic["name"]] = max(best.get(topic["name"], 0.0), float(topic["score"]))
    return {
        "story_id": story_id,
        "headline": headline,
        "article_ids": [a["id"] for a in ordered],
        "article_count": len(ordered),
        "first_published_at": min(dates) if dates else None,
        "last_published_at": max(dates) if dates else None,
        "languages": sorted({a.get("language") or "und" for a in ordered}),
        "sources": sorted({a["source"] for a in ordered if a.get("source")}),
        "topics": [{"name": n, "score": s} for n, s in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))],
        "places": main_places(ordered),
    }


MAX_STORY_PLACES = 5


def main_places(members: Iterable[dict]) -> list[dict]:
    """``{geonameid, name, country, kind, articles}`` of the places the most members name
    (then the most mentioned, then by id), at most :data:`MAX_STORY_PLACES`."""
    found: dict[int, dict] = {}
    mentions: dict[int, int] = {}
    for article in members:
        for place in article.get("places") or ():
            key = place["geonameid"]
            entry = found.setdefault(key, {k: place.get(k) for k in ("geonameid", "name", "country", "kind")} | {
                "articles": 0})
            entry["articles"] += 1
            mentions[key] = mentions.get(key, 0) + int(place.get("mentions") or 1)
    ranked = sorted(found, key=lambda k: (-found[k]["articles"], -mentions[k], k))
    return [found[k] for k in ranked[:MAX_STORY_PLACES]]


class _BuildStory(beam.DoFn):
    def __init__(self) -> None:
        ns = namespace("stories")
        self._stories = Metrics.counter(ns, "stories")
        self._multi = Metrics.counter(ns, "multi_article_stories")

    def process(self, keyed: tuple[str, Iterable[dict]]) -> Iterator[dict]:
        story_id, members = keyed
        story = build_story(story_id, members)
        self._stories.inc()
        if story["article_count"] > 1:
            self._multi.inc()
        yield story


_STORY_FIELDS = ("id", "title", "published_at", "language", "source")


def story_member(article: dict) -> dict:
    """What :func:`build_story` reads of an article, and no more: the grouping holds
    one per article (topics and places without their evidence spans, ``dedup`` as its status)."""
    member = {k: article.get(k) for k in _STORY_FIELDS}
    member["topics"] = [{"name": t["name"], "score": t["score"]} for t in article.get("topics") or []]
    member["dedup"] = {"status": (article.get("dedup") or {}).get("status", "unique")}
    member["places"] = [{k: p.get(k) for k in ("geonameid", "name", "country", "kind", "mentions")}
                        for p in article.get("places") or ()]
    return member


class BuildStories(beam.PTransform):
    """Articles (with ``story_id``) -> one story record per ``story_id``."""

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        return (
            articles
            | "KeyByStory" >> beam.Map(lambda a: (a["story_id"], story_member(a)))
            | "GroupByStory" >> beam.GroupByKey()
            | "BuildStory" >> beam.ParDo(_BuildStory())
        )
