"""Language accuracy and per-topic precision/recall/F1 on ``eval/data/labelled.jsonl``.

Runs the same pure functions the pipeline runs (normalize -> language -> topics),
per split. ``python -m eval.langtopics [--split dev|test|all]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections import Counter
from typing import Any

from eval.metrics import prf, table
from pipeline.config import load_config
from transforms.enrich.language import make_language_fn
from transforms.enrich.topics import load_taxonomy, tag_topics

HERE = os.path.dirname(os.path.abspath(__file__))
LABELLED = os.path.join(HERE, "data", "labelled.jsonl")


def load_labelled(path: str = LABELLED, split: str = "all") -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def evaluate(rows: list[dict[str, Any]], config_path: str | None = None) -> dict[str, Any]:
    config = load_config(config_path)
    lang = config.language
    detect = make_language_fn(**dataclasses.asdict(lang))
    detect_of_record = make_language_fn(lang.seed, lang.max_chars, lang.min_letters, lang.min_confidence, False)
    of_record_right = 0
    taxonomy = load_taxonomy(config.topics_path)
    lang_right = 0
    confusions: Counter = Counter()
    counts: dict[str, Counter] = {}
    for row in rows:
        article = detect({"id": row["id"], "title": row.get("title") or "", "text": row["text"]})
        of_record_right += detect_of_record({"text": row["text"], "title": row.get("title") or ""})["language"] == row[
            "language"
        ]
        if article["language"] == row["language"]:
            lang_right += 1
        else:
            confusions[(row["language"], article["language"])] += 1
        predicted = {t["name"] for t in tag_topics(row["text"], article["language"], taxonomy, title=row.get("title") or "")}
        gold = set(row.get("topics") or ())
        for name in predicted | gold | set(taxonomy.topics):
            c = counts.setdefault(name, Counter())
            c["tp"] += name in predicted and name in gold
            c["fp"] += name in predicted and name not in gold
            c["fn"] += name not in predicted and name in gold
    per_topic = {name: prf(c["tp"], c["fp"], c["fn"]) for name, c in sorted(counts.items())}
    micro = prf(*(sum(c[k] for c in counts.values()) for k in ("tp", "fp", "fn")))
    macro_f1 = sum(v["f1"] for v in per_topic.values()) / max(len(per_topic), 1)
    return {
        "articles": len(rows),
        "language_accuracy": round(lang_right / max(len(rows), 1), 4),
        "language_accuracy_langdetect_only": round(of_record_right / max(len(rows), 1), 4),
        "language_confusions": {f"{g}->{p}": n for (g, p), n in confusions.most_common()},
        "topics": per_topic,
        "topics_micro": micro,
        "topics_macro_f1": round(macro_f1, 4),
    }


def report(result: dict[str, Any], split: str, topic_table: bool = True) -> str:
    m = result["topics_micro"]
    lines = [
        f"== language and topics ({split}: {result['articles']} labelled articles)",
        f"language accuracy: {result['language_accuracy']:.3f} as configured, "
        f"{result['language_accuracy_langdetect_only']:.3f} with langdetect alone"
        + (f"  (errors: {result['language_confusions']})" if result["language_confusions"] else ""),
    ]
    if topic_table:
        rows = [dict(topic=name, **scores) for name, scores in result["topics"].items()]
        rows.append(dict(topic="MICRO", **m))
        lines.append(table(rows, ["topic", "precision", "recall", "f1", "tp", "fp", "fn"]))
        lines.append(f"topics macro F1: {result['topics_macro_f1']:.3f}")
    else:
        lines.append(
            f"topics (secondary: this set was written alongside the rules): micro P {m['precision']:.3f} "
            f"R {m['recall']:.3f} F1 {m['f1']:.3f}, macro F1 {result['topics_macro_f1']:.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="all", choices=["dev", "test", "all"])
    parser.add_argument("--config", default=None)
    args = parser.parse_args()
    print(report(evaluate(load_labelled(split=args.split), args.config), args.split))


if __name__ == "__main__":
    main()
