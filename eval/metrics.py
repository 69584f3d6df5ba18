"""Scoring helpers shared by the evaluations: P/R/F1, BCubed, table printing."""

from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Iterable, Mapping, Sequence


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def bcubed(gold: Mapping[Hashable, Hashable], predicted: Mapping[Hashable, Hashable]) -> dict[str, float]:
    """BCubed precision/recall/F1 of a clustering (item -> cluster label) against gold."""
    items = list(gold)
    gold_members: dict[Hashable, set] = defaultdict(set)
    pred_members: dict[Hashable, set] = defaultdict(set)
    for item in items:
        gold_members[gold[item]].add(item)
        pred_members[predicted[item]].add(item)
    precision = recall = 0.0
    for item in items:
        same_pred = pred_members[predicted[item]]
        same_gold = gold_members[gold[item]]
        overlap = len(same_pred & same_gold)
        precision += overlap / len(same_pred)
        recall += overlap / len(same_gold)
    n = len(items) or 1
    p, r = precision / n, recall / n
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "items": len(items)}


def table(rows: Sequence[Mapping[str, object]], columns: Iterable[str]) -> str:
    """A plain fixed-width table."""
    columns = list(columns)
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
