"""The DEV halves of every labelled topic set at once, per set and per core topic:
``python -m eval.topicdev [--save FILE] [--diff FILE] [--sets NAME ...]``.

Tuning reads the dev splits of eight sets (``topics_blind7``, ``topics_blind6``, ``topics_blind5``, ``topics_blind4``,
``topics_blind3``, ``topics_blind``, ``topics_blind2``, ``labelled``); this prints, for
each, micro P / R / F1, the F1 of each core topic (tp/fp/fn), and the traps (homonym or
metaphor traps with any false tag; background traps tagged with their trap topic), then
the core topics pooled over the sets. ``--save`` writes the dev tags per article id so a
later run's ``--diff`` lists the articles whose tags changed (gold, before, after): a
change's gains and losses, article by article. Only ``split == "dev"`` rows are read.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from typing import Any

from eval.blindtopics import CORE, HERE, load_blind, predict
from eval.metrics import prf

SETS = ("topics_blind7.jsonl", "topics_blind6.jsonl", "topics_blind5.jsonl", "topics_blind4.jsonl", "topics_blind3.jsonl", "topics_blind.jsonl",
        "topics_blind2.jsonl", "labelled.jsonl")  # fmt: skip


def dev_tags(sets: tuple[str, ...], config: str | None = None) -> dict[str, tuple[dict[str, Any], set[str]]]:
    """``{id: (row, predicted topics)}`` over the dev splits of ``sets``."""
    out: dict[str, tuple[dict[str, Any], set[str]]] = {}
    for name in sets:
        rows = load_blind(os.path.join(HERE, "data", name), split="dev")
        for row, tags in zip(rows, predict(rows, config)):
            out[row["id"]] = ({**row, "set": name}, tags)
    return out


def summary(found: dict[str, tuple[dict[str, Any], set[str]]], name: str | None) -> dict[str, Any]:
    """Micro P/R/F1, core-topic counts and traps over the articles of set ``name`` (None: all)."""
    counts: dict[str, Counter] = {}
    homonym = homonym_tagged = background = background_tagged = 0
    for row, tags in found.values():
        if name is not None and row["set"] != name:
            continue
        gold = set(row["topics"])
        for t in gold | tags:
            c = counts.setdefault(t, Counter())
            c["tp"] += t in gold and t in tags
            c["fp"] += t in tags and t not in gold
            c["fn"] += t in gold and t not in tags
        if row.get("kind") in ("homonym_trap", "metaphor_trap"):
            homonym += 1
            homonym_tagged += bool(tags - gold)
        if row.get("kind") == "background_trap" and row.get("trap_for"):
            background += 1
            background_tagged += bool(tags & set(row["trap_for"]))
    micro = prf(*(sum(c[k] for c in counts.values()) for k in ("tp", "fp", "fn")))
    core = {t: prf(*(counts.get(t, Counter())[k] for k in ("tp", "fp", "fn"))) for t in CORE}
    return {"micro": micro, "core": core, "traps": (homonym_tagged, homonym, background_tagged, background)}


def _line(label: str, s: dict[str, Any]) -> str:
    m = s["micro"]
    h, hn, b, bn = s["traps"]
    core = "  ".join(f"{t[:5]} {c['f1']:.2f}({c['tp']}/{c['fp']}/{c['fn']})" for t, c in s["core"].items())
    return (f"{label:22s} P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f}  "
            f"traps hom {h}/{hn} bg {b}/{bn}\n{'':22s} {core}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--save", default=None, help="write the dev tags per article id (JSON)")
    parser.add_argument("--diff", default=None, help="list the articles whose tags differ from this saved run")
    args = parser.parse_args(argv)
    found = dev_tags(tuple(os.path.basename(s) for s in args.sets), args.config)
    for name in dict.fromkeys(row["set"] for row, _ in found.values()):
        print(_line(f"{name} (dev)", summary(found, name)))
    print(_line("all dev sets", summary(found, None)))
    if args.save:
        with open(args.save, "w", encoding="utf-8") as fh:
            json.dump({i: sorted(tags) for i, (_, tags) in found.items()}, fh, indent=0, sort_keys=True)
    if args.diff:
        with open(args.diff, encoding="utf-8") as fh:
            before = {i: set(v) for i, v in json.load(fh).items()}
        score = Counter()
        for i, (row, tags) in sorted(found.items()):
            old = before.get(i, set())
            if old == tags:
                continue
            gold = set(row["topics"])
            for t in tags - old:
                score["gained right" if t in gold else "gained wrong"] += 1
            for t in old - tags:
                score["lost right" if t in gold else "lost wrong"] += 1
            print(f"  {i} ({row.get('kind')}) gold {sorted(gold)}: +{sorted(tags - old)} -{sorted(old - tags)}")
        print("changes:", dict(score))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
