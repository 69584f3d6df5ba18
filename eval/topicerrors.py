"""The tagger's errors on the DEV split of one labelled set, article by article, for tuning:
``python -m eval.topicerrors [--set FILE] [--topic NAME] [--kind KIND] [--language xx]``.

For each dev article with a missed or a false tag it prints the article's design kind
(``paraphrase``, ``title_led``, ``background_trap``, ``homonym_trap``...), the gold and
predicted topics, and for each wrong topic its score, threshold and hits (field, place,
words, value), or the title and lead when the topic had no hit at all. It reads only
``split == "dev"`` rows: the test split is scored once, in aggregate, by ``make eval``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections import Counter

from eval.blindtopics import HERE, load_blind
from eval.topicdev import SETS
from pipeline.config import load_config
from transforms.enrich.language import make_language_fn
from transforms.enrich.topics import analyse, load_taxonomy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--topic", default=None, help="only errors on this topic")
    parser.add_argument("--kind", default=None, help="only articles of this design kind")
    parser.add_argument("--language", default=None, help="only articles in this gold language")
    parser.add_argument(
        "--set",
        default="topics_blind.jsonl",
        help="which set in eval/data (its dev split): one of the sets tuned on, " + ", ".join(SETS),
    )
    args = parser.parse_args(argv)
    config = load_config(args.config)
    lang = config.language
    detect = make_language_fn(**dataclasses.asdict(lang))
    taxonomy = load_taxonomy(config.topics_path)
    tally: Counter = Counter()
    read = 0
    for row in load_blind(os.path.join(HERE, "data", os.path.basename(args.set)), split="dev"):
        if (args.kind and row.get("kind") != args.kind) or (args.language and row.get("language") != args.language):
            continue
        read += 1
        title = row.get("title") or ""
        language = detect({"id": row["id"], "title": title, "text": row["text"]})["language"]
        scored = {t.name: t for t in analyse(row["text"], language, taxonomy, title)}
        predicted = {n for n, t in scored.items() if t.tagged}
        gold = set(row["topics"])
        wrong = sorted((gold - predicted) | (predicted - gold))
        if args.topic:
            wrong = [t for t in wrong if t == args.topic]
        if not wrong:
            continue
        print(f"== {row['id']} ({row.get('kind')}, {language}) gold {sorted(gold)} tagged {sorted(predicted)}")
        print(f"   title: {title}")
        for name in wrong:
            what = "MISSED" if name in gold else "FALSE"
            tally[(what, row.get("kind", "?"))] += 1
            topic = scored.get(name)
            if topic is None:
                print(f"   {what} {name}: no hit")
                continue
            note = "" if topic.anchored else " (no context anchor)"
            print(f"   {what} {name}: score {topic.score:.3f} / {topic.threshold:.2f}{note}")
            for hit in topic.hits:
                bg = " background" if hit.background else ""
                print(f"      {hit.place:5s}{bg} {hit.text!r} {hit.value:.2f} <- {hit.pattern.written!r}")
        if any(name in gold and name not in scored for name in wrong):
            print("   text: " + row["text"].replace("\n", "\n         "))
    print(f"dev articles read from {os.path.basename(args.set)}: {read}")
    print("errors by kind:", ", ".join(f"{w} {k}: {n}" for (w, k), n in sorted(tally.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
