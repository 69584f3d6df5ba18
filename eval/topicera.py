"""The rules as they were before anyone tuned on a set: ``python -m eval.topicera OUT_DIR``.

For each labelled topic set, the commit of main just before the round of issue 17 that first
read its dev half; that commit's own code and taxonomy score the set's DEV rows (``analyse``
with no floor: the tags and the seven core topics' scores), written as ``OUT_DIR/era_<commit>.json``
(``{id: {"tags": [...], "scores": {topic: score}}}``). The closest dev proxy of "the rules on news
they were not written against", which ``eval.topiclexical --era OUT_DIR/*.json`` combines a learned
model with. ``topics_blind``, ``topics_blind2`` and ``labelled`` were already read by rounds 1-3:
their "era" is the rules before round 4, less tuned on them than today's but not untuned.
Each commit is unpacked with ``git archive`` into a temporary folder (no work tree or branch is
touched) and run by this same file in a child process with that folder first on the path.
Test rows are skipped as they are read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# commit of main before the round that first tuned on the set -> the sets
ERAS = {
    "5c07495": ("topics_blind3.jsonl", "topics_blind.jsonl", "topics_blind2.jsonl", "labelled.jsonl"),  # round 4
    "d597bde": ("topics_blind4.jsonl",),  # before round 5
    "2bcf67e": ("topics_blind5.jsonl",),  # before round 6
    "03a1e52": ("topics_blind6.jsonl",),  # before round 7
    "9ab96cf": ("topics_blind7.jsonl",),  # before round 8
}  # topics_blind8: no round has tuned on it; the current rules are its era
CORE = ("sanctions", "troop_deployment", "ceasefire", "peace_talks", "military_aid", "frozen_assets",
        "security_guarantees")  # fmt: skip


def dump(out: str, paths: list[str]) -> int:
    """In the child (the old tree first on the path): score the dev rows with its own code."""
    from pipeline.config import load_config
    from transforms.enrich.language import make_language_fn
    from transforms.enrich.topics import analyse, load_taxonomy

    config = load_config(None)
    detect = make_language_fn(**dataclasses.asdict(config.language))
    taxonomy = load_taxonomy(config.topics_path)
    found = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line) if line.strip() else None
                if row is None or row["split"] != "dev":
                    continue
                title = row.get("title") or ""
                language = detect({"id": row["id"], "title": title, "text": row["text"]})["language"]
                scored = analyse(row["text"], language, taxonomy, title=title)
                found[row["id"]] = {"tags": sorted(t.name for t in scored if t.tagged),
                                    "scores": {t.name: t.score for t in scored if t.name in CORE}}  # fmt: skip
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(found, fh, sort_keys=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--dump", nargs="*", default=None, help=argparse.SUPPRESS)  # child mode: SET_PATH ...
    args = parser.parse_args(argv)
    if args.dump is not None:
        return dump(args.out_dir, args.dump)
    os.makedirs(args.out_dir, exist_ok=True)
    for commit, sets in ERAS.items():
        out = os.path.join(os.path.abspath(args.out_dir), f"era_{commit}.json")
        with tempfile.TemporaryDirectory() as tree:
            archive = subprocess.run(["git", "-C", ROOT, "archive", commit], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
            paths = [os.path.join(HERE, "data", s) for s in sets]
            env = {**os.environ, "PYTHONPATH": tree}
            subprocess.run(
                [sys.executable, os.path.abspath(__file__), out, "--dump", *paths], check=True, cwd=tree, env=env
            )
        print(f"{commit}: {', '.join(sets)} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
