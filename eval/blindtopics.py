"""Topic tagging on the blind set (``eval/data/topics_blind.jsonl``), the set the taxonomy
was not written against: ``python -m eval.blindtopics [--split dev|test]``.

Per topic precision / recall / F1 with a bootstrap 95 % interval (articles resampled
with replacement, fixed seed), micro and macro; the confusion between neighbouring
topics (gold A, tagged B and not A's gold); the traps: homonym and metaphor traps
that got any tag, and background traps tagged with the topic they only mention.
The articles are tagged with the language the pipeline detects, as in a run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
from collections import Counter
from typing import Any, Iterable

from eval.metrics import prf, table
from pipeline.config import load_config
from transforms.enrich.language import make_language_fn
from transforms.enrich.topics import load_taxonomy, tag_topics

HERE = os.path.dirname(os.path.abspath(__file__))
BLIND = os.path.join(HERE, "data", "topics_blind.jsonl")
CORE = ("sanctions", "troop_deployment", "ceasefire", "peace_talks", "military_aid", "frozen_assets",
        "security_guarantees")  # fmt: skip
NEIGHBOURS = (
    ("sanctions", "frozen_assets", "trade_tariffs"),
    ("ceasefire", "peace_talks"),
    ("troop_deployment", "armed_attack", "security_guarantees"),
    ("military_aid", "defense_spending"),
)
BOOTSTRAP = 1000
SEED = 17


def load_blind(path: str = BLIND, split: str = "all") -> list[dict[str, Any]]:
    """The blind set's rows of one split (``dev``, ``test`` or ``all``); rows of other
    splits are dropped as they are read."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if split == "all" or row["split"] == split:
                    rows.append(row)
    return rows


def predict(rows: list[dict[str, Any]], config_path: str | None = None) -> list[set[str]]:
    config = load_config(config_path)
    lang = config.language
    detect = make_language_fn(**dataclasses.asdict(lang))
    taxonomy = load_taxonomy(config.topics_path)
    out = []
    for row in rows:
        title = row.get("title") or ""
        language = detect({"id": row["id"], "title": title, "text": row["text"]})["language"]
        out.append({t["name"] for t in tag_topics(row["text"], language, taxonomy, title=title)})
    return out


def _counts(pairs: Iterable[tuple[set[str], set[str]]], topics: Iterable[str]) -> dict[str, Counter]:
    counts = {t: Counter() for t in topics}
    for gold, predicted in pairs:
        for t, c in counts.items():
            c["tp"] += t in predicted and t in gold
            c["fp"] += t in predicted and t not in gold
            c["fn"] += t not in predicted and t in gold
    return counts


def _scores(counts: dict[str, Counter]) -> tuple[dict[str, dict[str, float]], dict[str, float], float]:
    per_topic = {t: prf(c["tp"], c["fp"], c["fn"]) for t, c in counts.items()}
    micro = prf(*(sum(c[k] for c in counts.values()) for k in ("tp", "fp", "fn")))
    macro = sum(v["f1"] for v in per_topic.values()) / max(1, len(per_topic))
    return per_topic, micro, macro


def _interval(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return values[int(0.025 * (len(values) - 1))], values[int(0.975 * (len(values) - 1))]


def evaluate(rows: list[dict[str, Any]], predicted: list[set[str]], topics: Iterable[str]) -> dict[str, Any]:
    topics = sorted(topics)
    pairs = [(set(r["topics"]), p) for r, p in zip(rows, predicted)]
    per_topic, micro, macro = _scores(_counts(pairs, topics))
    rng = random.Random(SEED)
    samples: dict[str, dict[str, list[float]]] = {t: {"precision": [], "recall": [], "f1": []} for t in (*topics, "MICRO")}
    for _ in range(BOOTSTRAP):
        sample = [pairs[rng.randrange(len(pairs))] for _ in pairs]
        boot_topics, boot_micro, _ = _scores(_counts(sample, topics))
        for name, scores in (*boot_topics.items(), ("MICRO", boot_micro)):
            for k in ("precision", "recall", "f1"):
                samples[name][k].append(scores[k])
    intervals = {name: {k: _interval(v) for k, v in ks.items()} for name, ks in samples.items()}
    confusion = []
    for group in NEIGHBOURS:
        for g in group:
            for p in group:
                if g != p:
                    n = sum(1 for gold, pred in pairs if g in gold and p not in gold and p in pred)
                    missed = sum(1 for gold, pred in pairs if g in gold and g not in pred)
                    confusion.append({"gold": g, "tagged_as": p, "articles": n, "gold_missed": missed})
    kinds = Counter(r["kind"] for r in rows)
    lexical = [(r, p) for r, p in zip(rows, predicted) if r["kind"] in ("homonym_trap", "metaphor_trap")]
    background = [(r, p) for r, p in zip(rows, predicted) if r["kind"] == "background_trap" and r["trap_for"]]
    traps = {
        "homonym_or_metaphor": len(lexical),
        "homonym_or_metaphor_tagged": sum(1 for r, p in lexical if p - set(r["topics"])),
        "background": len(background),
        "background_wrongly_tagged": sum(1 for r, p in background if p & set(r["trap_for"])),
    }
    return {
        "articles": len(rows), "kinds": dict(kinds), "topics": per_topic, "micro": micro, "macro_f1": round(macro, 4),
        "intervals": intervals, "confusion": confusion, "traps": traps,
    }  # fmt: skip


def report(result: dict[str, Any], split: str) -> str:
    def row(name: str, scores: dict[str, float]) -> dict[str, Any]:
        ci = result["intervals"][name]
        return {
            "topic": name + (" *" if name in CORE else ""),
            **{k: scores[k] for k in ("precision", "recall", "f1")},
            "f1 95% CI": f"{ci['f1'][0]:.2f}-{ci['f1'][1]:.2f}",
            "P 95% CI": f"{ci['precision'][0]:.2f}-{ci['precision'][1]:.2f}",
            **{k: scores[k] for k in ("tp", "fp", "fn")},
        }

    rows = [row(name, scores) for name, scores in result["topics"].items()]
    rows.append(row("MICRO", result["micro"]))
    cols = ["topic", "precision", "recall", "f1", "f1 95% CI", "P 95% CI", "tp", "fp", "fn"]
    t = result["traps"]
    bg_rate = t["background_wrongly_tagged"] / max(1, t["background"])
    confusion = [c for c in result["confusion"] if c["articles"]] or [{"gold": "(none)"}]
    return "\n".join([
        f"== topics on the blind set ({split}: {result['articles']} articles; * core topic; "
        f"95 % intervals from {BOOTSTRAP} bootstrap resamples of articles)",
        table(rows, cols),
        f"topics macro F1: {result['macro_f1']:.3f}",
        "neighbouring topics (articles with gold A tagged B, B not gold; A's misses):",
        table(confusion, ["gold", "tagged_as", "articles", "gold_missed"]),
        f"traps: homonym/metaphor tagged {t['homonym_or_metaphor_tagged']} of {t['homonym_or_metaphor']}; "
        f"background traps tagged with their trap topic {t['background_wrongly_tagged']} of {t['background']} "
        f"({100 * bg_rate:.1f} %)",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    rows = load_blind(split=args.split)
    taxonomy_topics = load_taxonomy(load_config(args.config).topics_path).topics
    print(report(evaluate(rows, predict(rows, args.config), taxonomy_topics), args.split))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
