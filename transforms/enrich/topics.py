"""Topic tagging: the topics an article *reports on*, with evidence, from a taxonomy.

A tag in ``topics`` means the article reports on the topic (``TOPICS_GUIDE.md``):
the topic is in the title or the lead, or the body develops it. A topic that is
only named in passing (a clause of background, a single remark deep in the body)
goes to ``mentions`` instead, never to ``topics``.

How. The taxonomy's cues (:mod:`transforms.enrich.taxonomy`: phrases matched in
their inflected forms, and regexes) are found in the title and the text by the
matcher (:mod:`transforms.enrich.topicscan`). Each hit is worth its cue's weight
times the factor of where it stands (``scoring.title``, ``lead``: the first
paragraph, ``body``), times ``scoring.background`` when a background cue of the
language ("since", "amid", "depuis"...) comes before it in its sentence. A topic
sums, over its distinct phrases, the best value of each, plus ``repeat`` times it
for each further occurrence (up to ``max_repeats``); its score is ``1 - exp(-sum)``.
It is tagged when the score reaches the topic's threshold (``min_score``, chosen on
the dev split of the blind evaluation set), and is a mention when it reaches
``mention_score``. Evidence spans carry the field they index:
``record[field][start:end] == evidence["text"]``.

Pure part (no Beam): :func:`analyse`, :func:`tag_topics`, :func:`topics_and_mentions`.
Beam part: :class:`TagTopics`. ``python -m pipeline.topics --explain FILE`` shows the
hits and scores of one article.

Counters (namespace ``newsbeam.topics``): ``topics.in``/``out``/``rejected`` from
GuardedMap, plus one counter per topic name counting the articles tagged with it.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.common.records import RejectedInput
from transforms.common.stage import GuardedMap, guarded, namespace, run_length
from transforms.enrich.taxonomy import Taxonomy, document_key, load_taxonomy, read_taxonomy_mapping, validated_taxonomy
from transforms.enrich.topicrules import REQUIRED_LANGUAGES, SCHEMA_VERSION, Pattern, TaxonomyError

__all__ = [
    "REQUIRED_LANGUAGES", "SCHEMA_VERSION", "STAGE", "Hit", "TagTopics", "Taxonomy", "TaxonomyError",
    "TopicScore", "analyse", "article_language", "compiled_taxonomy", "load_taxonomy",
    "make_article_tagger", "read_taxonomy_mapping", "tag_topics", "topics_and_mentions",
]  # fmt: skip

STAGE = "topics"
_SENTENCE_ENDS = ".!?\n"
_MIN_LEAD = 100  # a first paragraph shorter than this (a dateline, a kicker) takes the next one in too


class Hit(NamedTuple):
    """One match of a cue: where it is, what it is worth and why."""

    field: str  # "title" or "text"
    start: int
    end: int
    text: str
    pattern: Pattern
    place: str  # "title", "lead" or "body"
    background: bool
    value: float


class TopicScore(NamedTuple):
    name: str
    score: float
    threshold: float
    hits: tuple[Hit, ...]
    anchored: bool = True  # a context anchor of the topic occurs (or the topic has none)

    @property
    def tagged(self) -> bool:
        return self.score >= self.threshold


def lead_end(text: str, lead_chars: int) -> int:
    """Where the lead (the first paragraph) of ``text`` ends, at most ``lead_chars``."""
    end = text.find("\n")
    while 0 <= end < _MIN_LEAD:
        end = text.find("\n", end + 1)
    return min(len(text) if end < 0 else end, lead_chars)


def _in_background(text: str, start: int, cues: Any, window: int) -> bool:
    """A background cue stands before ``start`` in its sentence (within ``window``)."""
    lo = max(0, start - window)
    for ch in _SENTENCE_ENDS:
        cut = text.rfind(ch, lo, start)
        if cut >= 0:
            lo = cut + 1
    return cues.search(text, lo, start) is not None


def _norm(phrase: str) -> str:
    folded = phrase.casefold()
    return folded if folded.isalpha() else " ".join(folded.split())  # one plain word: nothing to join


def _sentence_start(text: str, start: int) -> int:
    return max(text.rfind(".", 0, start), text.rfind("!", 0, start), text.rfind("?", 0, start), text.rfind("\n", 0, start))


def _sum(hits: list[Hit], scoring: Any, text: str) -> float:
    """The evidence sum: each distinct phrase's best value, plus ``repeat`` times it per
    further occurrence; in the body only the best hit of each sentence counts (a
    clause of background names a topic once, however many of its words it uses)."""
    if len(hits) == 1:
        return hits[0].value
    body = [h for h in hits if h.place == "body"]
    if len(body) > 1:
        best_of: dict[int, Hit] = {}
        for h in body:
            sentence = _sentence_start(text, h.start)
            if sentence not in best_of or h.value > best_of[sentence].value:
                best_of[sentence] = h
        kept = set(map(id, best_of.values()))
        hits = [h for h in hits if h.place != "body" or id(h) in kept]
    return _phrase_sum(((_norm(h.text), h.value) for h in hits), scoring)


def _phrase_sum(valued: Iterable[tuple[str, float]], scoring: Any) -> float:
    """Each distinct phrase's best value, plus ``repeat`` times it per further occurrence
    (at most ``max_repeats``), of ``(normalized phrase, value)`` pairs."""
    best: dict[str, float] = {}
    seen: dict[str, int] = {}
    for key, value in valued:
        best[key] = max(best.get(key, 0.0), value)
        seen[key] = seen.get(key, 0) + 1
    return sum(v * (1 + scoring.repeat * min(seen[k] - 1, scoring.max_repeats)) for k, v in best.items())


def _upper_bound(title: str, in_title: Any, text: str, in_text: Any, lead: int, scoring: Any) -> float:
    """No less than the evidence sum (:func:`_sum`) of a topic's candidates: per phrase its best
    value, plus ``repeat`` times it per further occurrence (the rules that stand, the background
    and one hit per body sentence only lower it). Each candidate at its own value is not a bound:
    a phrase in the title and again in the body repeats at the title's value."""
    valued = [(_norm(title[c[0] : c[1]]), c[2].weight * scoring.title) for c in in_title]
    valued += [
        (_norm(text[c[0] : c[1]]), c[2].weight * (scoring.lead if c[0] < lead else scoring.body)) for c in in_text
    ]
    return _phrase_sum(valued, scoring)


def analyse(text: str, language: str, taxonomy: Taxonomy, title: str = "", floor: float = 0.0) -> list[TopicScore]:
    """Every topic with some evidence in ``title`` or ``text``, scored; best first.

    Topics whose score cannot reach ``floor`` (an upper bound of their evidence sum
    says so) are left out without being scored in full: the tagger passes
    ``mention_score``, which spares most of the work on most articles."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    matcher = taxonomy.matcher(language)
    window = taxonomy.window
    found_title = matcher.candidates(title) if isinstance(title, str) and title else {}
    found_text = matcher.candidates(text)
    if not found_text and not found_title:
        return []
    scoring = taxonomy.scoring
    lead = lead_end(text, scoring.lead_chars)
    bound = -math.log(1.0 - floor) if floor < 1.0 else math.inf  # sum needed to reach floor
    title_f, lead_f, body_f = scoring.title, scoring.lead, scoring.body
    cues: Any = False  # looked up once, when first needed
    anchored: dict[int, bool] = {}  # context regex -> found in the article (topics share them)
    background_at: dict[int, bool] = {}  # start in the text -> a background cue precedes it
    results = []
    for name in sorted(found_text.keys() | found_title.keys()):
        in_title = found_title.get(name, ())
        in_text = found_text.get(name, ())
        if bound > 0.0:  # every candidate counted in full at its place
            upper = sum(c[2].weight for c in in_title) * title_f + sum(
                c[2].weight * (lead_f if c[0] < lead else body_f) for c in in_text
            )
            if upper < bound and len(in_title) + len(in_text) > 1:
                # not yet a bound of the sum: a repeat counts at its phrase's best value
                upper = _upper_bound(title, in_title, text, in_text, lead, scoring)
            if upper < bound:
                continue
        # the context windows (exclude, requires) are read only for topics still in the running
        in_title = matcher.accept(title, in_title, window) if in_title else ()
        in_text = matcher.accept(text, in_text, window) if in_text else ()
        if not in_title and not in_text:
            continue
        if cues is False:
            cues = taxonomy.background_cues(language)
        hits = []
        for field, source, matches in (("title", title, in_title), ("text", text, in_text)):
            for start, end, pattern in matches:
                place = "title" if field == "title" else "lead" if start < lead else "body"
                factor = title_f if place == "title" else lead_f if place == "lead" else body_f
                # the title states the subject; in the lead and the body a background
                # clause ("since the troops left in 2017") gives context, not news; read
                # once per place (topics often share a word: "sanctions", "frozen")
                background = place != "title" and cues is not None and background_at.get(start)
                if background is None:
                    background = background_at[start] = _in_background(source, start, cues, scoring.background_window)
                if background:
                    factor *= scoring.background
                hits.append(Hit(field, start, end, source[start:end], pattern, place, background, pattern.weight * factor))
        total = _sum(hits, scoring, text)
        if total < bound and round(1.0 - math.exp(-total), 3) < floor:
            continue  # below the floor already; the context anchors could only lower it
        anchors = taxonomy.context_regex(name, language)
        found = True
        if anchors is not None:
            found = anchored.get(id(anchors))
            if found is None:
                found = anchored[id(anchors)] = bool(anchors.search(text) or (title and anchors.search(title)))
            if not found:
                total *= scoring.no_context
        hits.sort(key=lambda h: (-h.value, h.field != "title", h.start))
        score = round(1.0 - math.exp(-total), 3)
        results.append(TopicScore(name, score, taxonomy.threshold(name), tuple(hits), found))
    results.sort(key=lambda t: (-t.score, t.name))
    return results


def _evidence(topic: TopicScore, max_evidence: int) -> list[dict[str, Any]]:
    seen: set[str] = set()
    evidence = []
    for hit in topic.hits:  # strongest first
        key = _norm(hit.text)
        if key in seen:
            continue
        seen.add(key)
        evidence.append({"field": hit.field, "text": hit.text, "start": hit.start, "end": hit.end})
        if len(evidence) >= max_evidence:
            break
    return evidence


def topics_and_mentions(
    text: str, language: str, taxonomy: Taxonomy, title: str = ""
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(topics, mentions)``, each ``[{name, score, evidence: [{field, text, start, end}]}]``.

    Sorted by score (descending) then name; strongest evidence first, at most
    ``taxonomy.max_evidence`` distinct phrases per topic. ``field`` is ``"title"``
    or ``"text"``, and ``start``/``end`` index that field."""
    topics: list[dict[str, Any]] = []
    mentions: list[dict[str, Any]] = []
    for topic in analyse(text, language, taxonomy, title, floor=taxonomy.mention_score):
        if topic.tagged:
            into = topics
        elif topic.score >= taxonomy.mention_score:
            into = mentions
        else:
            continue
        into.append({"name": topic.name, "score": topic.score, "evidence": _evidence(topic, taxonomy.max_evidence)})
    return topics, mentions


def tag_topics(text: str, language: str, taxonomy: Taxonomy, title: str = "") -> list[dict[str, Any]]:
    """The topics the article reports on (see :func:`topics_and_mentions`)."""
    return topics_and_mentions(text, language, taxonomy, title)[0]


def make_article_tagger(taxonomy: Taxonomy) -> Callable[[Any], dict[str, Any]]:
    """A per-article function for GuardedMap: validates the record and returns a
    copy with ``topics`` and ``mentions`` set; counts each tagged topic in
    ``newsbeam.topics``."""
    counters = {name: Metrics.counter(namespace(STAGE), name) for name in taxonomy.topics}

    def tag_article(article: Any) -> dict[str, Any]:
        if not isinstance(article, dict):
            raise RejectedInput(f"expected an article dict, got {type(article).__name__}")
        text = article.get("text")
        if not isinstance(text, str):
            raise RejectedInput(f"article has no text string (text is {type(text).__name__})")
        title = article.get("title")
        language = article.get("language")
        topics, mentions = topics_and_mentions(
            text,
            language if isinstance(language, str) else "und",
            taxonomy,
            title=title if isinstance(title, str) else "",
        )
        for topic in topics:
            counters[topic["name"]].inc()
        return {**article, "topics": topics, "mentions": mentions}

    return tag_article


_compiled: dict[str, Taxonomy] = {}
_compiled_lock = threading.Lock()


def compiled_taxonomy(taxonomy: str | Mapping[str, Any]) -> Taxonomy:
    """The taxonomy, validated and compiled once per process (Beam may build many
    DoFn instances in one worker; compiling costs ~0.15 s each time)."""
    key = document_key(taxonomy)
    with _compiled_lock:
        found = _compiled.get(key)
        if found is None and not isinstance(taxonomy, str):
            found = validated_taxonomy(key)  # parsed by the launcher, when that is this process
        if found is None:
            found = load_taxonomy(taxonomy) if isinstance(taxonomy, str) else Taxonomy.from_dict(taxonomy)
        if key not in _compiled:
            found.warm()
            _compiled[key] = found
        return found


def _setup_tagger(taxonomy: str | Mapping[str, Any]) -> Callable[[Any], dict[str, Any]]:
    return make_article_tagger(compiled_taxonomy(taxonomy))


# --------------------------------------------------------------------------- Beam


def article_language(article: Mapping[str, Any]) -> str:
    """The key TagTopics groups a run of articles by: each language has its own
    compiled regexes, which then stay in the CPU caches from one article to the
    next (tagging ~10 % faster, and the later steps of the chain, which get the
    articles in this order, ~5 %; measured on 20,000 bench articles)."""
    return article.get("language") or ""


class TagTopics(beam.PTransform):
    """Sets ``topics`` and ``mentions`` on each article dict; returns ``(tagged, dead_letters)``.

    ``taxonomy`` is the parsed taxonomy document (what the launcher read with
    :func:`read_taxonomy_mapping`, so remote workers need no access to the
    file) or a path to read on the workers. It is compiled in ``DoFn.setup()``
    (once per DoFn instance); an invalid taxonomy fails the setup with a
    ``TaxonomyError`` naming the problem. Articles that are not dicts or have no
    text string go to the dead letters (stage ``topics``).
    """

    def __init__(self, taxonomy: str | Mapping[str, Any], label: str | None = None) -> None:
        super().__init__(label)
        self._taxonomy = taxonomy

    def expand(self, articles: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        dofn = GuardedMap(
            STAGE,
            setup_fn=functools.partial(_setup_tagger, self._taxonomy),
            batch_size=run_length(),
            order_by=article_language,
        )
        return guarded("TagEachArticle", articles, dofn)
