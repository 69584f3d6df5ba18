"""The morning digest as data: top stories per topic, new vs continuing, volume per day.

:func:`build_digest` is pure: it takes the articles (a few columns each), the topic tags,
the dead-letter counts and, with ``--state``, when each remembered story was first seen,
and returns a :class:`Digest` that ``html.py`` and ``text.py`` render. The period is the
``days`` days ending on ``until`` (UTC dates, both ends included); the previous period is
the same length just before it, for the change in volume.

- An article belongs to the period when it was published in it; undated articles (no
  ``published_at``) belong to every period (they are news whose date is unknown) and
  are counted apart in the volume per day.
- A story is in the period when one of its articles is; its figures (articles, outlets,
  languages, last seen) count its articles of the period, its ``first_seen`` is the
  earliest date known for it anywhere (articles of earlier days, the memory of ``--state``).
  It is *new* when first seen in the period, *continuing* otherwise.
- Per topic, stories rank by outlets, then languages, then articles, then last seen.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from typing import Iterable, Mapping, Sequence

from transforms.stories.records import build_story

NEW = "new"
CONTINUING = "continuing"


@dataclasses.dataclass(frozen=True)
class ArticleLink:
    title: str
    url: str | None
    source: str | None
    language: str
    published_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class StoryView:
    story_id: str
    headline: str
    status: str  # NEW or CONTINUING
    articles: int
    languages: tuple[str, ...]
    outlets: tuple[str, ...]
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    topics: tuple[str, ...]
    links: tuple[ArticleLink, ...]  # the story's articles of the period, earliest first


@dataclasses.dataclass(frozen=True)
class TopicVolume:
    topic: str
    per_day: tuple[int, ...]  # articles per day of the period, in day order
    undated: int
    total: int  # the period's articles with this topic (undated included)
    previous: int  # the previous period's (dated only)

    @property
    def change(self) -> float | None:
        """Relative change of the dated volume against the previous period; None without one."""
        if not self.previous:
            return None
        return (sum(self.per_day) - self.previous) / self.previous


@dataclasses.dataclass(frozen=True)
class Digest:
    start: dt.date
    until: dt.date
    days: tuple[dt.date, ...]
    articles: int
    undated: int
    stories: int
    new_stories: int
    with_state: bool
    top: tuple[tuple[str, tuple[StoryView, ...]], ...]  # (topic, its top stories), busiest topic first
    volumes: tuple[TopicVolume, ...]  # busiest first
    all_per_day: tuple[int, ...]
    all_previous: int
    languages: tuple[tuple[str, int], ...]  # articles per language, most first
    sources: tuple[tuple[str, int], ...]  # articles per outlet, most first (the first max_sources)
    source_total: int  # how many outlets in all
    dead_letters: tuple[tuple[str, str, int], ...]  # (stage, reason, count), most first


def _date(moment: dt.datetime | None) -> dt.date | None:
    return None if moment is None else moment.astimezone(dt.timezone.utc).date()


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def period(until: dt.date, days: int) -> tuple[dt.date, ...]:
    """The ``days`` dates ending on ``until``, earliest first."""
    return tuple(until - dt.timedelta(days=days - 1 - i) for i in range(days))


def default_until(articles: Iterable[Mapping], today: dt.date) -> dt.date:
    """The latest publication date not after ``today`` (so a digest of older data is not
    empty), or ``today`` when no article has a date."""
    dates = [d for d in (_date(a.get("published_at")) for a in articles) if d is not None and d <= today]
    return max(dates) if dates else today


def title_from_text(text: str | None, limit: int = 120) -> str:
    """A headline for an untitled article: its first sentence, cut at a word near ``limit``."""
    words = " ".join((text or "").split())
    for end in (". ", "? ", "! "):
        cut = words.find(end)
        if 0 < cut < limit:
            return words[: cut + 1]
    if len(words) <= limit:
        return words
    return words[:limit].rsplit(" ", 1)[0] + "…"


def _rank(story: StoryView) -> tuple:
    return (-len(story.outlets), -len(story.languages), -story.articles, -(story.last_seen or dt.datetime.min.replace(
        tzinfo=dt.timezone.utc)).timestamp(), story.story_id)


def build_digest(
    articles: Sequence[Mapping],
    topics: Mapping[str, Sequence[str]],
    dead_letters: Iterable[tuple[str, str, int]] = (),
    *,
    until: dt.date,
    days: int = 7,
    remembered: Mapping[str, dt.datetime] | None = None,
    top_n: int = 5,
    max_links: int = 8,
    max_sources: int = 30,
) -> Digest:
    """The digest of ``articles`` (dicts with ``id``, ``story_id``, ``title``, ``url``, ``source``,
    ``language``, ``published_at`` as an aware datetime or None, ``dedup_status``) for the
    ``days`` ending on ``until``. ``topics`` maps an article id to its topic names;
    ``remembered`` a story id to when ``--state`` first saw it."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    day_list = period(until, days)
    start = day_list[0]
    previous_start = start - dt.timedelta(days=days)
    index = {d: i for i, d in enumerate(day_list)}

    by_id: dict[str, Mapping] = {}
    for article in articles:
        by_id.setdefault(article["id"], article)
    earliest: dict[str, dt.datetime] = dict(remembered or {})
    in_period: list[Mapping] = []
    all_per_day = [0] * days
    all_previous = 0
    per_topic_day: dict[str, list[int]] = collections.defaultdict(lambda: [0] * days)
    topic_undated: collections.Counter = collections.Counter()
    topic_previous: collections.Counter = collections.Counter()
    for article in by_id.values():
        published = article.get("published_at")
        day = _date(published)
        story = article.get("story_id") or ""
        if published is not None and (story not in earliest or published < earliest[story]):
            earliest[story] = published
        names = topics.get(article["id"], ())
        if day is None or day in index:
            in_period.append(article)
            if day is None:
                topic_undated.update(names)
            else:
                all_per_day[index[day]] += 1
                for name in names:
                    per_topic_day[name][index[day]] += 1
        elif previous_start <= day < start:
            all_previous += 1
            topic_previous.update(names)
    for name in (*topic_undated, *topic_previous):  # a topic seen only undated, or only before, keeps its row
        per_topic_day.setdefault(name, [0] * days)

    members: dict[str, list[Mapping]] = collections.defaultdict(list)
    for article in in_period:
        members[article.get("story_id") or f"s-{article['id']}"].append(article)
    stories: list[StoryView] = []
    start_moment = dt.datetime.combine(start, dt.time(), tzinfo=dt.timezone.utc)
    for story_id, group in members.items():
        record = build_story(
            story_id,
            [
                {
                    "id": a["id"], "title": a.get("title"), "published_at": _iso(a.get("published_at")),
                    "language": a.get("language"), "source": a.get("source"),
                    "dedup": {"status": a.get("dedup_status") or "unique"},
                    "topics": [{"name": n, "score": 1.0} for n in topics.get(a["id"], ())],
                }
                for a in group
            ],
        )
        first_seen = earliest.get(story_id)
        ordered = sorted(group, key=lambda a: (_iso(a.get("published_at")) or "9999", a["id"]))
        stories.append(
            StoryView(
                story_id=story_id,
                headline=record["headline"] or "(no headline)",
                status=CONTINUING if first_seen is not None and first_seen < start_moment else NEW,
                articles=record["article_count"],
                languages=tuple(record["languages"]),
                outlets=tuple(record["sources"]),
                first_seen=first_seen,
                last_seen=max((a["published_at"] for a in group if a.get("published_at")), default=None),
                topics=tuple(sorted(t["name"] for t in record["topics"])),
                links=tuple(
                    ArticleLink(a.get("title") or "(untitled)", a.get("url"), a.get("source"), a.get("language") or "und",
                                a.get("published_at"))
                    for a in ordered[:max_links]
                ),
            )
        )
    volumes = sorted(
        (
            TopicVolume(name, tuple(counts), topic_undated[name], sum(counts) + topic_undated[name], topic_previous[name])
            for name, counts in per_topic_day.items()
        ),
        key=lambda v: (-v.total, v.topic),
    )
    by_topic: dict[str, list[StoryView]] = collections.defaultdict(list)
    for story in stories:
        for name in story.topics:
            by_topic[name].append(story)
    top = tuple(
        (v.topic, tuple(sorted(by_topic[v.topic], key=_rank)[:top_n])) for v in volumes if by_topic.get(v.topic)
    )
    languages = collections.Counter(a.get("language") or "und" for a in in_period)
    sources = collections.Counter(a.get("source") or "(unknown)" for a in in_period)
    dead = collections.Counter()
    for stage, reason, count in dead_letters:
        dead[(stage or "", reason or "")] += int(count)
    return Digest(
        start=start,
        until=until,
        days=day_list,
        articles=len(in_period),
        undated=sum(1 for a in in_period if a.get("published_at") is None),
        stories=len(stories),
        new_stories=sum(1 for s in stories if s.status == NEW),
        with_state=remembered is not None,
        top=top,
        volumes=tuple(volumes),
        all_per_day=tuple(all_per_day),
        all_previous=all_previous,
        languages=tuple(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
        sources=tuple(sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))[:max_sources]),
        source_total=len(sources),
        dead_letters=tuple((s, r, n) for (s, r), n in sorted(dead.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
