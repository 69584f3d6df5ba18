"""Where the dev recall is, and which scoring settings carry to a set they were not chosen on:
``python -m eval.topicceiling [--sets NAME ...] [--sweep]``.

**Ceiling.** For every gold tag of the dev splits it says how close the tagger came:
``tagged``; ``mention`` (score at least ``mention_score``); ``weak`` (some accepted hit,
below a mention); ``unanchored`` (hits, but no context anchor of the topic in the article);
``vetoed`` (a cue matched, every match vetoed by ``exclude`` or a missing ``requires``); ``none``
(no cue of the topic matched at all). Misses with hits are the scoring's to win (place
factors, thresholds, the background discount); misses with none are vocabulary's.

**Leave one set out** (``--sweep``). Each article is scored once, its hits kept; the sum is then
recomputed under a grid of ``scoring`` factors and core-topic thresholds (the engine's own
:func:`transforms.enrich.topics._phrase_sum` rules). For each set in turn, the setting of best
micro F1 on the other sets' dev halves (ties: nearest the current one) is scored on the left-out
set's dev half, against the current setting. A change is worth keeping only when it does not
lose on the sets it was not chosen on (``--thresholds``: the same for per-topic thresholds).

**Quotes** (``--quotes``): the labellers' evidence quotes of gold core tags that no cue of their
topic matches. Only ``split == "dev"`` rows are read.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
from collections import Counter
from typing import NamedTuple

from eval.blindtopics import CORE, HERE, load_blind
from eval.metrics import prf
from eval.topicdev import SETS
from eval.topicthresholds import choose, counts, scores_by_article
from pipeline.config import load_config
from transforms.enrich.language import make_language_fn
from transforms.enrich.topics import _norm, _phrase_sum, _sentence_start, analyse, load_taxonomy

KINDS = ("tagged", "mention", "weak", "unanchored", "vetoed", "none")
GRID = {  # round 7 also ran title 1.2/1.5/2.0, lead 1.0/1.2, body 0.5-0.7, background 0.2-0.6, repeat 0.5/0.75
    "title": (1.2, 1.5),
    "body": (0.5, 0.6),
    "core": (0.5, 0.55),
    "with_core": (0.39, 1.0),
    "low": (1.0, 1.15, 1.3),
}


class Scored(NamedTuple):
    """One dev article: its gold, and per topic the hits as (weight, place, background, phrase,
    sentence), whether an anchor occurs, and the topic's threshold."""

    set: str
    gold: frozenset[str]
    topics: dict[str, tuple[list[tuple[float, str, bool, str, int]], bool, float]]
    kinds: dict[str, str]  # gold topic -> how close the current tagger came


def collect(sets: list[str], config_path: str | None = None) -> list[Scored]:
    config = load_config(config_path)
    detect = make_language_fn(**dataclasses.asdict(config.language))
    taxonomy = load_taxonomy(config.topics_path)
    out = []
    for name in sets:
        for row in load_blind(os.path.join(HERE, "data", os.path.basename(name)), split="dev"):
            title = row.get("title") or ""
            text = row["text"]
            language = detect({"id": row["id"], "title": title, "text": text})["language"]
            scored = {t.name: t for t in analyse(text, language, taxonomy, title)}
            matcher = taxonomy.matcher(language)
            raw = set(matcher.candidates(text)) | (set(matcher.candidates(title)) if title else set())
            topics = {}
            for t in scored.values():
                hits = [
                    (h.pattern.weight, h.place, h.background, _norm(h.text), _sentence_start(text, h.start) if h.place == "body" else -2)
                    for h in t.hits
                ]  # fmt: skip
                topics[t.name] = (hits, t.anchored, t.threshold)
            kinds = {}
            for g in row["topics"]:
                t = scored.get(g)
                if t is None:
                    kinds[g] = "vetoed" if g in raw else "none"
                elif t.tagged:
                    kinds[g] = "tagged"
                elif not t.anchored:
                    kinds[g] = "unanchored"
                elif t.score >= taxonomy.mention_score:
                    kinds[g] = "mention"
                else:
                    kinds[g] = "weak"
            out.append(Scored(os.path.basename(name), frozenset(row["topics"]), topics, kinds))
    return out


def score(hits: list[tuple[float, str, bool, str, int]], anchored: bool, s: dict[str, float]) -> float:
    """The engine's score of a topic's hits under the factors ``s`` (see topics._sum)."""
    best_body: dict[int, tuple[float, str]] = {}
    valued = []
    for weight, place, background, phrase, sentence in hits:
        if weight < 1.0:  # a paraphrase that needs company, scaled by s["low"]
            weight *= s["low"]
        value = weight * s[place] * (s["background"] if background else 1.0)
        if place == "body":
            if sentence not in best_body or value > best_body[sentence][0]:
                best_body[sentence] = (value, phrase)
        else:
            valued.append((phrase, value))
    valued += [(p, v) for v, p in best_body.values()]
    total = _phrase_sum(valued, _Repeat(s["repeat"], int(s["max_repeats"])))
    if not anchored:
        total *= s["no_context"]
    return round(1.0 - math.exp(-total), 3)


class _Repeat(NamedTuple):
    repeat: float
    max_repeats: int


def tags(article: Scored, s: dict[str, float]) -> set[str]:
    """The tags under ``s``; ``s["with_core"]`` is the threshold of a core topic in an article
    where another core topic is tagged (the promotion of a mention; 1.0: none)."""
    out = set()
    near = []
    for name, (hits, anchored, threshold) in article.topics.items():
        value = score(hits, anchored, s)
        if value >= (s["core"] if name in CORE else threshold):
            out.add(name)
        elif name in CORE and value >= s["with_core"]:
            near.append(name)
    if near and out & set(CORE):
        out.update(near)
    return out


def micro(articles: list[Scored], s: dict[str, float]) -> dict[str, float]:
    c: Counter = Counter()
    for a in articles:
        found = tags(a, s)
        c["tp"] += len(found & a.gold)
        c["fp"] += len(found - a.gold)
        c["fn"] += len(a.gold - found)
    return prf(c["tp"], c["fp"], c["fn"])


def ceiling(articles: list[Scored]) -> None:
    for label, only in (("all topics", None), *((t, t) for t in CORE)):
        c = Counter(k for a in articles for g, k in a.kinds.items() if only in (None, g))
        total = sum(c.values())
        print(f"{label:20s} gold {total:4d}  " + "  ".join(f"{k} {c[k]}" for k in KINDS))


def sweep(articles: list[Scored], current: dict[str, float]) -> None:
    keys = list(GRID)
    settings = [dict(current, **dict(zip(keys, values))) for values in itertools.product(*GRID.values())]
    names = sorted({a.set for a in articles})
    by_set = {n: [a for a in articles if a.set == n] for n in names}

    def distance(s: dict[str, float]) -> float:
        return sum(abs(s[k] - current[k]) for k in keys)

    for left in names:
        fit = [a for a in articles if a.set != left]
        best = max(settings, key=lambda s: (round(micro(fit, s)["f1"], 4), -distance(s)))
        changed = {k: best[k] for k in keys if best[k] != current[k]}
        a, b = micro(fit, current), micro(fit, best)
        x, y = micro(by_set[left], current), micro(by_set[left], best)
        print(f"leave out {left:22s} chosen {changed or 'current'}: fit F1 {a['f1']:.3f} -> {b['f1']:.3f}; "
              f"left out P/R/F1 {x['precision']:.3f}/{x['recall']:.3f}/{x['f1']:.3f} -> "
              f"{y['precision']:.3f}/{y['recall']:.3f}/{y['f1']:.3f}")  # fmt: skip


def loso_thresholds(sets: list[str], config_path: str | None, min_positives: int = 8) -> None:
    """Per topic thresholds (:func:`eval.topicthresholds.choose`) chosen on all sets but one,
    scored on that one's dev half against the thresholds now: which moves carry over."""
    taxonomy = load_taxonomy(load_config(config_path).topics_path)
    topics = sorted(taxonomy.topics)
    now = {t: taxonomy.threshold(t) for t in topics}
    scored = {
        os.path.basename(n): scores_by_article(load_blind(os.path.join(HERE, "data", os.path.basename(n)), split="dev"), taxonomy)
        for n in sets
    }  # fmt: skip
    for left, held in scored.items():
        fit = [x for n, rows in scored.items() if n != left for x in rows]
        chosen = choose(fit, topics, taxonomy.min_score, min_positives, now)
        moved = {t: v for t, v in chosen.items() if v != now[t]}
        before: Counter = Counter()
        after: Counter = Counter()
        for t in topics:
            before.update(counts(held, t, now[t]))
            after.update(counts(held, t, chosen[t]))
        b, a = prf(before["tp"], before["fp"], before["fn"]), prf(after["tp"], after["fp"], after["fn"])
        print(
            f"thresholds, leave out {left:22s} moved {moved or 'none'}: left out P/R/F1 "
            f"{b['precision']:.3f}/{b['recall']:.3f}/{b['f1']:.3f} -> {a['precision']:.3f}/{a['recall']:.3f}/{a['f1']:.3f}"
        )


def quotes(sets: list[str], config_path: str | None) -> None:
    """The labellers' evidence quote of each gold core tag (dev halves) that no cue of its topic
    matches, even where the article is tagged on other words: a way news says the topic that the
    vocabulary lacks, seen without fitting a rule to one missed article."""
    taxonomy = load_taxonomy(load_config(config_path).topics_path)
    found: Counter = Counter()
    missing = []
    for name in sets:
        for row in load_blind(os.path.join(HERE, "data", os.path.basename(name)), split="dev"):
            for topic, quote in (row.get("evidence") or {}).items():
                if topic in CORE and isinstance(quote, str):
                    hit = topic in taxonomy.matcher(row["language"]).candidates(quote)
                    found[topic, hit] += 1
                    if not hit:
                        missing.append((topic, row["language"], os.path.basename(name), quote))
    for topic in CORE:
        print(f"{topic:20s} evidence quotes with a cue {found[topic, True]:3d}, without {found[topic, False]:3d}")
    for topic, language, name, quote in sorted(missing):
        print(f"  {topic} {language} {name}: {quote}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--sweep", action="store_true", help="leave-one-set-out choice of scoring factors")
    parser.add_argument("--thresholds", action="store_true", help="leave-one-set-out choice of per-topic thresholds")
    parser.add_argument("--quotes", action="store_true", help="the gold evidence quotes no cue of their topic matches")
    args = parser.parse_args(argv)
    if args.thresholds:
        loso_thresholds(args.sets, args.config)
        return 0
    if args.quotes:
        quotes(args.sets, args.config)
        return 0
    articles = collect(args.sets, args.config)
    ceiling(articles)
    taxonomy = load_taxonomy(load_config(args.config).topics_path)
    current = {**dataclasses.asdict(taxonomy.scoring), "core": taxonomy.min_score, "with_core": 1.0, "low": 1.0}
    print("now, all dev sets:", {k: round(v, 3) for k, v in micro(articles, current).items()})
    if args.sweep:
        sweep(articles, current)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
