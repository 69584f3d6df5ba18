"""``make eval``: every quality score on labelled data, dev and test splits.

- language accuracy and per-topic precision/recall/F1 on ``eval/data/labelled.jsonl``;
- near-duplicate precision/recall on generated copies with realistic edits;
- story BCubed precision/recall/F1 on ECB+ (dev and test topics), our multilingual set and the seeds.

Settings come from the pipeline config (``--config``, default ``configs/local.yaml``);
thresholds were chosen on the dev splits only.
"""

from __future__ import annotations

import argparse
import sys
import time

from eval import langtopics
from eval.metrics import table
from eval.neardup import evaluate_neardup
from eval.stories import evaluate_stories
from pipeline.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    started = time.perf_counter()

    for split in ("dev", "test"):
        print(langtopics.report(langtopics.evaluate(langtopics.load_labelled(split=split), args.config), split))
        print()

    near = evaluate_neardup(config)
    s = near["settings"]
    print(f"== near-duplicates (generated copies): threshold {s['threshold']}, {s['bands']} bands x {s['rows']} rows")
    cols = ["split", "docs", "copies", "precision", "recall", "f1", "tp", "fp", "fn_copies"]
    print(table([{"split": k, **near[k]} for k in ("dev", "test")], cols))
    print()

    print("== stories")
    evaluate_stories(config.stories)
    print(f"\n(eval took {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
