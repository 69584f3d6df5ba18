"""Choose topic thresholds on the dev split of the blind set: ``python -m eval.topicthresholds``.

Reads only ``split == "dev"`` rows of ``eval/data/topics_blind.jsonl``, scores every
article once, and prints, per topic, the threshold on a grid that maximises F1 on
dev. Topics with fewer than ``--min-positives`` dev positives get one shared
threshold (the grid value that maximises their pooled micro F1), so a topic with
three examples does not get a threshold fitted to them. Ties go to the value
nearest the taxonomy's ``min_score``. The chosen values are written by hand into
``configs/topics.yaml`` (``min_score`` per topic); ``docs/topics.md`` records them.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from eval.blindtopics import load_blind
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


def choose(scored, topics: list[str], default: float, min_positives: int) -> dict[str, float]:
    positives = Counter(t for gold, _ in scored for t in gold)
    chosen: dict[str, float] = {}
    few = [t for t in topics if positives[t] < min_positives]
    for topic in topics:
        if topic in few:
            continue
        chosen[topic] = max(GRID, key=lambda th: (_f1(counts(scored, topic, th)), -abs(th - default)))
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
    args = parser.parse_args(argv)
    taxonomy = load_taxonomy(load_config(args.config).topics_path)
    scored = scores_by_article(load_blind(split="dev"), taxonomy)
    topics = sorted(taxonomy.topics)
    chosen = choose(scored, topics, taxonomy.min_score, args.min_positives)
    total_now: Counter = Counter()
    total_new: Counter = Counter()
    for topic in topics:
        now = counts(scored, topic, taxonomy.threshold(topic))
        new = counts(scored, topic, chosen[topic])
        total_now.update(now)
        total_new.update(new)
        print(f"{topic:20s} now {taxonomy.threshold(topic):.3f} (F1 {_f1(now):.3f})  best {chosen[topic]:.3f} (F1 {_f1(new):.3f})")
    print(f"dev micro F1: now {_f1(total_now):.3f}, with the chosen thresholds {_f1(total_new):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
