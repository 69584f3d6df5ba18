"""Story clustering quality: BCubed precision/recall/F1.

- ECB+ (``../shared/data/ecbplus/ecbplus_docs.jsonl``; gold = ``subtopic``, the
  two similar seminal events of each topic apart; no dates). Split as in Cybulska
  & Vossen 2015: test = topics 36-45, dev = 2 5 12 18 21 23 34 35. Parameters are
  tuned on dev only; each split is clustered on its own.
- ``eval/data/stories_multilingual.jsonl``: our own write-ups of 12+ events in
  the 9 languages, with dates, including near-miss pairs of different events.
- the two seed articles (``../shared/data/seeds/*.txt``): must be one story.

Runs the same pure functions as the pipeline (:func:`transforms.stories.find.story_roots`).
``python -m eval.stories [--threshold T]``
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
    return result


def evaluate_stories(params: StoryParams | None = None, sets: Iterable[str] = ("ecb_dev", "ecb_test", "multilingual",
                                                                                 "seeds")) -> list[dict[str, Any]]:
    """Score every available set; print a table; return its rows."""
    params = params or StoryParams()
    loaders = {
        "ecb_dev": (lambda: load_ecbplus("dev"), ECBPLUS),
        "ecb_test": (lambda: load_ecbplus("test"), ECBPLUS),
        "multilingual": (load_multilingual, MULTILINGUAL),
        "seeds": (load_seeds, SEEDS),
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
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=None, help="override the merge threshold")
    args = parser.parse_args(argv)
    params = StoryParams()
    if args.threshold is not None:
        params = dataclasses.replace(params, threshold=args.threshold)
    evaluate_stories(params)


if __name__ == "__main__":
    main()
