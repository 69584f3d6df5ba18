"""``make eval``: every quality score on labelled data, dev and test splits.

- topic tagging on the blind set (``eval/data/topics_blind.jsonl``, written and labelled
  blind to the taxonomy): test P / R / F1 per topic with bootstrap 95 % intervals, micro
  and macro, neighbouring-topic confusion and traps (dev: one line; thresholds were
  chosen on dev only, see ``eval/topicthresholds.py``);
- language accuracy on ``eval/data/labelled.jsonl`` (its topic scores as a secondary line);
- near-duplicate precision/recall on generated copies with realistic edits;
- story BCubed precision/recall/F1 on ECB+ (dev and test topics), our multilingual set and the seeds;
- streaming against batch stories (BCubed F1 of one against the other, ``eval/streamstories.py``).

Settings come from the pipeline config (``--config``, default ``configs/local.yaml``);
thresholds were chosen on the dev splits only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from eval import blindtopics, langtopics
from eval.metrics import table
from eval.neardup import evaluate_neardup
from eval.stories import evaluate_stories
from eval.streamstories import evaluate_agreement
from pipeline.config import load_config
from transforms.enrich.topics import load_taxonomy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    started = time.perf_counter()

    for split in ("dev", "test"):
        result = langtopics.evaluate(langtopics.load_labelled(split=split), args.config)
        print(langtopics.report(result, split, topic_table=False))
        print()

    topics = load_taxonomy(config.topics_path).topics
    dev_rows = blindtopics.load_blind(split="dev")
    dev = blindtopics.evaluate(dev_rows, blindtopics.predict(dev_rows, args.config), topics)
    m, t = dev["micro"], dev["traps"]
    print(
        f"== topics on the blind set (dev, where thresholds were chosen: {dev['articles']} articles): micro P "
        f"{m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f}; homonym/metaphor tagged "
        f"{t['homonym_or_metaphor_tagged']} of {t['homonym_or_metaphor']}; background traps wrongly tagged "
        f"{t['background_wrongly_tagged']} of {t['background']}"
    )
    test_rows = blindtopics.load_blind(split="test")
    print(blindtopics.report(blindtopics.evaluate(test_rows, blindtopics.predict(test_rows, args.config), topics), "test"))
    for name in ("topics_blind2.jsonl", "topics_blind3.jsonl", "topics_blind4.jsonl", "topics_blind5.jsonl",
                 "topics_blind6.jsonl", "topics_blind7.jsonl", "topics_blind8.jsonl"):
        rows = blindtopics.load_blind(os.path.join(blindtopics.HERE, "data", name), split="test")
        result = blindtopics.evaluate(rows, blindtopics.predict(rows, args.config), topics)
        m, t = result["micro"], result["traps"]
        core = ", ".join(f"{k} {v['f1']:.2f}" for k, v in result["topics"].items() if k in blindtopics.CORE)
        print(
            f"== topics on {name} (test: {result['articles']} articles): micro P {m['precision']:.3f} "
            f"R {m['recall']:.3f} F1 {m['f1']:.3f}; core F1: {core}; homonym/metaphor tagged "
            f"{t['homonym_or_metaphor_tagged']} of {t['homonym_or_metaphor']}; background traps wrongly tagged "
            f"{t['background_wrongly_tagged']} of {t['background']}"
        )
    print()

    near = evaluate_neardup(config)
    s = near["settings"]
    print(f"== near-duplicates (generated copies): threshold {s['threshold']}, {s['bands']} bands x {s['rows']} rows")
    cols = ["split", "docs", "copies", "precision", "recall", "f1", "tp", "fp", "fn_copies"]
    print(table([{"split": k, **near[k]} for k in ("dev", "test")], cols))
    print()

    print("== stories")
    evaluate_stories(config.stories)
    print()
    evaluate_agreement(config.stories)
    print(f"\n(eval took {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
