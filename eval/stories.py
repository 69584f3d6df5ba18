"""Story clustering quality: BCubed precision/recall/F1.

- ECB+ (``../shared/data/ecbplus/ecbplus_docs.jsonl``; gold = ``subtopic``, the
  two similar seminal events of each topic apart; no dates). Split as in Cybulska
  & Vossen 2015: test = topics 36-45, dev = 2 5 12 18 21 23 34 35. Parameters are
  tuned on dev only; each split is clustered on its own.
- ``eval/data/stories_multilingual.jsonl``: our own write-ups of 12+ events in
  the 9 languages, with dates, including near-miss pairs of different events.
- the two seed articles (``../shared/data/seeds/*.txt``): must be one story.
- ``eval/data/stories_blind.jsonl``: 40 events in 3-6 languages with look-alike events, written
  blind to the method; tuned on ``dev``, reported on ``test`` in aggregate only: BCubed, the share
  of cross-language pairs linked per language pair, and same-language pairs linked.

Runs the same pure functions as the pipeline (:func:`transforms.stories.find.story_roots`).
``python -m eval.stories [--threshold T] [--sets blind_dev ecb_dev ...]``
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import time
from typing import Any, Iterable

from eval.metrics import bcubed, table
from transforms.stories.find import story_roots
from transforms.stories.params import StoryParams

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.environ.get("NEWSBEAM_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
ECBPLUS = os.path.join(SHARED, "data", "ecbplus", "ecbplus_docs.jsonl")
SEEDS = os.path.join(SHARED, "data", "seeds")
MULTILINGUAL = os.path.join(HERE, "data", "stories_multilingual.jsonl")
BLIND = os.path.join(HERE, "data", "stories_blind.jsonl")

ECB_TEST_TOPICS = frozenset(range(36, 46))
ECB_DEV_TOPICS = frozenset({2, 5, 12, 18, 21, 23, 34, 35})


def load_ecbplus(split: str, path: str = ECBPLUS) -> list[dict[str, Any]]:
    """ECB+ documents of ``split`` (``dev``/``test``) as articles with a ``gold`` label."""
    topics = ECB_TEST_TOPICS if split == "test" else ECB_DEV_TOPICS
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if doc["topic"] in topics:
                rows.append({"id": doc["doc_id"], "title": "", "text": doc["text"], "language": "en",
                             "published_at": None, "gold": doc["subtopic"]})
    return rows


def load_multilingual(path: str = MULTILINGUAL) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [dict(r, gold=r["story"]) for r in rows]


def load_blind(split: str, path: str = BLIND) -> list[dict[str, Any]]:
    """The blind story set's articles of ``split`` (``dev``/``test``), gold = ``story``."""
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [dict(r, gold=r["story"]) for r in rows if r["split"] == split]


def pair_links(rows: list[dict[str, Any]], roots: dict[str, str]) -> dict[tuple[str, str], list[int]]:
    """``{(language, language): [gold pairs linked, gold pairs]}`` over the pairs of
    articles of one gold story (languages sorted; a same-language pair is ``(xx, xx)``)."""
    out: dict[tuple[str, str], list[int]] = {}
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if a["gold"] != b["gold"]:
                continue
            key = tuple(sorted((a["language"], b["language"])))
            cell = out.setdefault(key, [0, 0])  # type: ignore[arg-type]
            cell[0] += roots.get(a["id"], a["id"]) == roots.get(b["id"], b["id"])
            cell[1] += 1
    return out


def false_pairs(rows: list[dict[str, Any]], roots: dict[str, str]) -> int:
    """Pairs of articles of two gold stories that share a predicted story."""
    n = 0
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            n += a["gold"] != b["gold"] and roots.get(a["id"], a["id"]) == roots.get(b["id"], b["id"])
    return n


def link_summary(links: dict[tuple[str, str], list[int]]) -> dict[str, Any]:
    """Cross-language and same-language pairs linked, as counts and shares."""
    cross = [v for k, v in links.items() if k[0] != k[1]]
    same = [v for k, v in links.items() if k[0] == k[1]]
    c_hit, c_all = sum(v[0] for v in cross), sum(v[1] for v in cross)
    s_hit, s_all = sum(v[0] for v in same), sum(v[1] for v in same)
    return {"cross_linked": f"{c_hit}/{c_all}", "cross_share": round(c_hit / c_all, 4) if c_all else 1.0,
            "same_linked": f"{s_hit}/{s_all}", "same_share": round(s_hit / s_all, 4) if s_all else 1.0}


def language_matrix(links: dict[tuple[str, str], list[int]]) -> str:
    """Cross-language pairs linked per language pair, as a compact matrix of ``linked/pairs``."""
    languages = sorted({lang for key in links for lang in key})
    width = max(5, *(len(f"{v[0]}/{v[1]}") for v in links.values())) if links else 5
    lines = ["    " + " ".join(lang.rjust(width) for lang in languages)]
    for a in languages:
        cells = []
        for b in languages:
            v = links.get(tuple(sorted((a, b))))  # type: ignore[arg-type]
            cells.append(("." if v is None else f"{v[0]}/{v[1]}").rjust(width))
        lines.append(f"{a:<4}" + " ".join(cells))
    return "\n".join(lines)


def load_seeds(folder: str = SEEDS) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*.txt"))):
        with open(path, encoding="utf-8") as fh:
            rows.append({"id": os.path.basename(path), "title": "", "text": fh.read(), "language": "en",
                         "published_at": None, "gold": "seeds"})
    return rows


def score(rows: list[dict[str, Any]], params: StoryParams) -> dict[str, Any]:
    """BCubed of the predicted stories against ``gold``, with the time per article."""
    start = time.perf_counter()
    roots = story_roots(rows, params)
    elapsed = time.perf_counter() - start
    result = bcubed({r["id"]: r["gold"] for r in rows}, roots)
    result["stories"] = len(set(roots.values()))
    result["gold_stories"] = len({r["gold"] for r in rows})
    result["ms_per_article"] = round(1000 * elapsed / max(1, len(rows)), 3)
    if len({r.get("language") for r in rows}) > 1:
        result.update(link_summary(pair_links(rows, roots)))
        result["false_pairs"] = false_pairs(rows, roots)
        result["_links"] = pair_links(rows, roots)
    return result


def evaluate_stories(params: StoryParams | None = None, sets: Iterable[str] = ("ecb_dev", "ecb_test", "multilingual",
                                                                                 "seeds", "blind_test")
                      ) -> list[dict[str, Any]]:
    """Score every available set; print a table; return its rows."""
    params = params or StoryParams()
    loaders = {
        "ecb_dev": (lambda: load_ecbplus("dev"), ECBPLUS),
        "ecb_test": (lambda: load_ecbplus("test"), ECBPLUS),
        "multilingual": (load_multilingual, MULTILINGUAL),
        "seeds": (load_seeds, SEEDS),
        "blind_dev": (lambda: load_blind("dev"), BLIND),
        "blind_test": (lambda: load_blind("test"), BLIND),
    }
    rows = []
    for name in sets:
        load, path = loaders[name]
        if not os.path.exists(path):
            rows.append({"set": name, "note": f"missing: {path}"})
            continue
        rows.append({"set": name, **score(load(), params)})
    columns = ["set", "items", "gold_stories", "stories", "precision", "recall", "f1", "ms_per_article"]
    print(f"stories (BCubed), threshold={params.threshold}")
    print(table(rows, columns))
    multilingual = [r for r in rows if "_links" in r]
    if multilingual:
        print("\npairs of one event linked (cross-language, same-language); false: pairs of two events merged")
        print(table(multilingual, ["set", "cross_linked", "cross_share", "same_linked", "same_share", "false_pairs"]))
    for r in multilingual:
        if r["set"].startswith("blind"):
            print(f"\n{r['set']}: cross-language pairs linked per language pair (linked/pairs)")
            print(language_matrix({k: v for k, v in r["_links"].items() if k[0] != k[1]}))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=None, help="override the merge threshold")
    parser.add_argument("--sets", nargs="+", default=None,
                        help="sets to score (ecb_dev ecb_test multilingual seeds blind_dev blind_test)")
    args = parser.parse_args(argv)
    params = StoryParams()
    if args.threshold is not None:
        params = dataclasses.replace(params, threshold=args.threshold)
    evaluate_stories(params, **({"sets": args.sets} if args.sets else {}))


if __name__ == "__main__":
    main()
