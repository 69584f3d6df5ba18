"""Near-duplicate quality on generated copies and hard negatives (eval/generate_copies.py).

Each split (``dev``, ``test``; by original-document hash) is one corpus: the
originals, their edited copies and the hard negatives (successive reports).
The same steps as the pipeline (:func:`transforms.dedup.near_pairs.find_near_pairs`,
the in-memory twin of ``FindNearDuplicates``) run over the whole corpus, so
false positives can come from any pair, not only from labelled ones.

- precision: found pairs whose two articles come from the same original /
  all found pairs
- recall: copies that end up in their original's group after the found edges
  are resolved (as MarkDuplicates does) / all copies
- ``fp_by_kind``: found false pairs by the kind of the later article
- ``exact_verify_precision``: precision had the candidates been verified with
  the exact Jaccard of the shingle sets instead of the MinHash estimate
- ``candidates``: distinct candidate pairs the LSH bands produced

Run: ``python -m eval.neardup`` (``--sweep`` tunes the threshold on dev).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter, defaultdict
from typing import Any, Mapping

from eval.generate_copies import Doc, generate
from eval.metrics import table
from transforms.dedup.exact import Node, UnionFind
from transforms.dedup.minhash import (
    Sketcher,
    band_keys,
    choose_bands,
    exact_jaccard,
    shingles,
    verify,
)
from transforms.dedup.near_pairs import find_near_pairs

DEFAULTS = {"threshold": 0.5, "num_perm": 128, "bands": 0, "rows": 0, "shingle_k": 5, "min_shingles": 20}


def _settings(config: Any) -> dict[str, Any]:
    if config is None:
        config = {}
    if dataclasses.is_dataclass(config):
        near = getattr(getattr(config, "dedup", None), "near", None) or config
        config = dataclasses.asdict(near)
    out = dict(DEFAULTS)
    out.update({k: v for k, v in dict(config).items() if k in DEFAULTS})
    if not out["bands"] or not out["rows"]:
        out["bands"], out["rows"] = choose_bands(out["threshold"], out["num_perm"])
    return out


def _score_split(docs: list[Doc], s: Mapping[str, Any]) -> dict[str, Any]:
    nodes = {d.id: Node(d.published_at, d.id) for d in docs}
    by_id = {d.id: d for d in docs}
    edges = find_near_pairs(
        [(nodes[d.id], d.text) for d in docs],
        threshold=s["threshold"], num_perm=s["num_perm"], bands=s["bands"], rows=s["rows"],
        k=s["shingle_k"], min_shingles=s["min_shingles"],
    )
    tp = sum(by_id[e.child.id].group == by_id[e.parent.id].group for e in edges)
    fp_kinds = Counter(by_id[e.child.id].kind for e in edges if by_id[e.child.id].group != by_id[e.parent.id].group)
    uf = UnionFind()
    for e in edges:
        uf.union(e.child, e.parent)
    copies = [d for d in docs if d.kind == "copy"]
    found = sum(uf.find(nodes[c.id]) == uf.find(nodes[c.origin]) for c in copies)
    precision = tp / len(edges) if edges else 1.0
    recall = found / len(copies) if copies else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    # the same candidates, verified with the exact Jaccard of the shingle sets
    sketch = Sketcher(s["num_perm"], 1, s["shingle_k"], s["min_shingles"])
    sets, sigs = {}, {}
    for d in docs:
        sh = shingles(d.text, s["shingle_k"])
        if sh.size >= s["min_shingles"]:
            sets[d.id], sigs[d.id] = sh, sketch(d.text)
    buckets: dict[str, list[str]] = defaultdict(list)
    for i, sig in sigs.items():
        for key in band_keys(sig, s["bands"], s["rows"]):
            buckets[key].append(i)
    cands = {tuple(sorted((a, b))) for m in buckets.values() for x, a in enumerate(m) for b in m[x + 1 :]}
    exact_pos = [(a, b) for a, b in cands if exact_jaccard(sets[a], sets[b]) >= s["threshold"]]
    exact_tp = sum(by_id[a].group == by_id[b].group for a, b in exact_pos)
    est_err = [abs(verify(sigs[a], sigs[b]) - exact_jaccard(sets[a], sets[b])) for a, b in cands]
    return {
        "docs": len(docs), "copies": len(copies), "found_pairs": len(edges), "tp": tp,
        "fp": len(edges) - tp, "fn_copies": len(copies) - found,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "fp_by_kind": dict(fp_kinds), "candidates": len(cands),
        "exact_verify_precision": round(exact_tp / len(exact_pos), 4) if exact_pos else 1.0,
        "exact_verify_recall_pairs": len(exact_pos),
        "mean_abs_estimate_error": round(sum(est_err) / len(est_err), 4) if est_err else 0.0,
    }


def evaluate_neardup(config: Any = None, seed: int = 0, data: dict | None = None) -> dict:
    """``{"settings": ..., "dev": {...}, "test": {...}}`` with precision, recall, F1 and counts.

    ``config`` is a ``JobConfig``, a ``NearDupConfig`` or a mapping with the keys
    of ``dedup.near``; ``None`` uses the defaults.
    """
    s = _settings(config)
    data = data or generate(seed=seed)
    result: dict[str, Any] = {"settings": s}
    for split in ("dev", "test"):
        result[split] = _score_split([d for d in data["docs"] if d.split == split], s)
    return result


def sweep(thresholds=(0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7), seed: int = 0) -> list[dict]:
    """Dev-split scores over thresholds (tuning never looks at test)."""
    data = generate(seed=seed)
    dev = [d for d in data["docs"] if d.split == "dev"]
    rows = []
    for t in thresholds:
        s = _settings({"threshold": t})
        r = _score_split(dev, s)
        rows.append({"threshold": t, "bands x rows": f"{s['bands']}x{s['rows']}", **{k: r[k] for k in ("precision", "recall", "f1", "fp", "fn_copies", "candidates")}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="pipeline config YAML (uses its dedup.near)")
    parser.add_argument("--sweep", action="store_true", help="print a threshold sweep on the dev split")
    args = parser.parse_args()
    if args.sweep:
        rows = sweep()
        print(table(rows, rows[0].keys()))
        return
    config = None
    if args.config:
        from pipeline.config import load_config

        config = load_config(args.config)
    res = evaluate_neardup(config)
    s = res["settings"]
    print(f"near-duplicates: threshold {s['threshold']}, {s['num_perm']} permutations, "
          f"{s['bands']} bands x {s['rows']} rows, {s['shingle_k']}-word shingles, min {s['min_shingles']}")
    cols = ["split", "docs", "copies", "precision", "recall", "f1", "tp", "fp", "fn_copies", "candidates",
            "exact_verify_precision", "mean_abs_estimate_error"]
    print(table([{"split": k, **res[k]} for k in ("dev", "test")], cols))
    for k in ("dev", "test"):
        if res[k]["fp_by_kind"]:
            print(f"{k} false positives by kind: {res[k]['fp_by_kind']}")


if __name__ == "__main__":
    main()
