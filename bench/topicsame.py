"""Same topic output, this checkout against another one: ``python -m bench.topicsame --baseline /work/main``.

Tags every article of the evaluation sets (``eval/data/*.jsonl``: as stored, normalized
and language-detected as the pipeline hands them over, and once more as language
``und``, which reads every language's patterns) and of ``bench/data/<N>`` (normalized and
language-detected) with each checkout's ``topics_and_mentions`` and its own taxonomy,
and compares the two outputs (topics, mentions, scores, evidence spans with their
fields and offsets) as canonical JSON, byte for byte. Prints the counts and a digest of
each side; exits 1 at the first difference, which it shows. A check for engine changes
that must not change what is tagged (issue 17's speed work); not part of ``make test``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
from typing import Any, Iterator

from bench.topiccost import REPO, _tagger


def _rows(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if isinstance(row, dict):
                    yield row


def _inputs(bench_articles: int) -> Iterator[tuple[str, str, str, str]]:
    """``(where, text, language, title)`` for every article to compare."""
    from transforms.common.records import RejectedInput
    from transforms.enrich.language import make_language_fn
    from transforms.enrich.normalize import normalize_article

    detect = make_language_fn()

    def prepared(row: dict[str, Any]) -> dict[str, Any] | None:
        try:
            article = normalize_article({**row, "origin": row.get("origin") or "bench"})
            article = detect(article) if isinstance(article, dict) else article
        except RejectedInput:  # a dead letter in the pipeline: never tagged
            return None
        return article if isinstance(article, dict) and isinstance(article.get("text"), str) else None

    for path in sorted(glob.glob(os.path.join(REPO, "eval", "data", "*.jsonl"))):
        name = os.path.basename(path)
        for i, row in enumerate(_rows(path)):
            if not isinstance(row.get("text"), str):
                continue
            title = row.get("title") if isinstance(row.get("title"), str) else ""
            yield f"{name}:{i}", row["text"], row.get("language") or "und", title
            yield f"{name}:{i}:und", row["text"], "und", title
            article = prepared(row)
            if article is not None:
                yield _input(f"{name}:{i}:normalized", article)
    if bench_articles:
        folder = os.path.join(REPO, "bench", "data", str(bench_articles))
        files = sorted(glob.glob(os.path.join(folder, "*.jsonl")))
        if not files:
            raise SystemExit(f"no bench data in {folder} (python -m bench.generate makes it)")
        for path in files:
            for i, row in enumerate(_rows(path)):
                article = prepared(row)
                if article is not None:
                    yield _input(f"{os.path.basename(path)}:{i}", article)


def _input(key: str, article: dict) -> tuple[str, str, str, str]:
    """A normalized article as the tagger's input: key, text, language, title."""
    return key, article["text"], article.get("language") or "und", article.get("title") or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="another checkout of newsbeam (e.g. /work/main)")
    parser.add_argument("--bench", type=int, default=20000, help="bench/data/<N> to compare too (0: none)")
    args = parser.parse_args(argv)
    inputs = list(_inputs(args.bench))
    taggers = {"baseline": _tagger(os.path.abspath(args.baseline)), "this": _tagger(REPO)}
    digests = {name: hashlib.sha256() for name in taggers}
    tagged = mentioned = 0
    for where, text, language, title in inputs:
        out = {}
        for name, tag in taggers.items():
            topics, mentions = tag(text, language, title)
            out[name] = json.dumps({"topics": topics, "mentions": mentions}, sort_keys=True, ensure_ascii=False)
            digests[name].update(out[name].encode("utf-8") + b"\n")
        if out["this"] != out["baseline"]:
            print(f"DIFFERENT at {where} ({language}):\n  baseline {out['baseline']}\n  this     {out['this']}")
            return 1
        result = json.loads(out["this"])
        tagged += len(result["topics"])
        mentioned += len(result["mentions"])
    print(f"same output on {len(inputs)} inputs ({tagged} tags, {mentioned} mentions); "
          f"sha256 baseline {digests['baseline'].hexdigest()[:16]}, this {digests['this'].hexdigest()[:16]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
