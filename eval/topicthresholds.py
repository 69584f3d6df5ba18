"""Choose topic thresholds on the dev splits: ``python -m eval.topicthresholds [--sets NAME ...]``.

Reads only ``split == "dev"`` rows of the sets named (default: the six labelled topic sets
of ``eval/data``, as ``eval.topicdev`` lists them; round 5 and before read the blind set's
alone), scores every article once, and prints, per topic, the threshold on a grid that
maximises F1 on dev. Topics with fewer than ``--min-positives`` dev positives get one shared
threshold (the grid value that maximises their pooled micro F1), so a topic with
three examples does not get a threshold fitted to them. Ties go to the value nearest the
topic's threshold now (the taxonomy's ``min_score`` for a pooled group): a threshold moves
only on a dev gain. The chosen values are written by hand into ``configs/topics.yaml``
(``min_score`` per topic); ``docs/topics.md`` records them.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from typing import Any

from eval.blindtopics import HERE, load_blind
from eval.topicdev import SETS
from pipeline.config import load_config
from transforms.enrich.topics import analyse, load_taxonomy

GRID = [round(0.30 + 0.025 * i, 3) for i in range(23)]  # 0.30 .. 0.85


def _f1(c: Counter) -> float:
    return 2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]) if c["tp"] else 0.0


def scores_by_article(rows: list[dict[str, Any]], taxonomy: Any) -> list[tuple[set[str], dict[str, float]]]:
    out = []
    for row in rows:
        scored = analyse(row["text"], row["language"], taxonomy, title=row.get("title") or "")
        out.append((set(row["topics"]), {t.name: t.score for t in scored}))
    return out


def counts(scored: list[tuple[set[str], dict[str, float]]], topic: str, threshold: float) -> Counter:
    c: Counter = Counter()
    for gold, scores in scored:
        predicted = scores.get(topic, 0.0) >= threshold
        c["tp"] += predicted and topic in gold
        c["fp"] += predicted and topic not in gold
        c["fn"] += not predicted and topic in gold
    return c


def choose(
    scored, topics: list[str], default: float, min_positives: int, current: dict[str, float] | None = None
) -> dict[str, float]:
    """Per topic, the grid threshold of best dev F1; ties go to the value nearest the topic's
    ``current`` threshold (a threshold moves only when dev shows a gain), else ``default``."""
    near = current or {}
    positives = Counter(t for gold, _ in scored for t in gold)
    chosen: dict[str, float] = {}
    few = [t for t in topics if positives[t] < min_positives]
    for topic in topics:
        if topic in few:
            continue
        here = near.get(topic, default)
        chosen[topic] = max(GRID, key=lambda th: (_f1(counts(scored, topic, th)), -abs(th - here)))
    if few:

        def pooled(th: float) -> float:
            total: Counter = Counter()
            for topic in few:
                total.update(counts(scored, topic, th))
            return _f1(total)

        shared = max(GRID, key=lambda th: (pooled(th), -abs(th - default)))
        chosen.update({t: shared for t in few})
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--min-positives", type=int, default=8)
    parser.add_argument("--sets", nargs="*", default=list(SETS), help="dev splits of these sets in eval/data")
    args = parser.parse_args(argv)
    taxonomy = load_taxonomy(load_config(args.config).topics_path)
    rows = [r for name in args.sets for r in load_blind(os.path.join(HERE, "data", os.path.basename(name)), split="dev")]
    scored = scores_by_article(rows, taxonomy)
    topics = sorted(taxonomy.topics)
    chosen = choose(scored, topics, taxonomy.min_score, args.min_positives, {t: taxonomy.threshold(t) for t in topics})
    total_now: Counter = Counter()
    total_new: Counter = Counter()
    for topic in topics:
        now = counts(scored, topic, taxonomy.threshold(topic))
        new = counts(scored, topic, chosen[topic])
        total_now.update(now)
        total_new.update(new)
        print(f"{topic:20s} now {taxonomy.threshold(topic):.3f} (F1 {_f1(now):.3f})  best {chosen[topic]:.3f} (F1 {_f1(new):.3f})")
    print(f"dev articles: {len(rows)} from {', '.join(os.path.basename(n) for n in args.sets)}")
    print(f"dev micro F1: now {_f1(total_now):.3f}, with the chosen thresholds {_f1(total_new):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
