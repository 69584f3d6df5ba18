"""CPU cost of the topic step per article, this checkout against another one, in one process:
``python -m bench.topiccost --baseline /work/main [--articles 4000] [--repeats 7]``.

The articles come from :mod:`bench.generate` (same seed, same mix of languages and
lengths as ``make bench``), normalized and language-detected once, as the pipeline
hands them to ``TagTopics``. Each checkout's ``transforms`` package is imported on
its own (the modules are swapped in ``sys.modules``), its taxonomy compiled and
warmed, then the two tag the same articles in turns, ``--repeats`` times each;
time is CPU time (``time.process_time``), so other load on the machine weighs less
than in wall time, and the median of the repeats is reported. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time
from typing import Any, Callable

from bench.checkout import imported_from

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _articles(count: int, seed: int) -> list[dict[str, Any]]:
    from bench.generate import Generator
    from transforms.enrich.language import make_language_fn
    from transforms.enrich.normalize import normalize_article

    detect = make_language_fn()
    out = []
    for raw in Generator(seed).generate(count):
        out.append(detect(normalize_article({**raw, "origin": "bench"})))
    return out


def _tagger(root: str) -> Callable[[str, str, str], Any]:
    """``topics_and_mentions`` of the checkout at ``root``, with its own taxonomy, warmed."""
    with imported_from(root):
        topics = importlib.import_module("transforms.enrich.topics")
        taxonomy = topics.compiled_taxonomy(os.path.join(root, "configs", "topics.yaml"))
    tag = topics.topics_and_mentions

    def run(text: str, language: str, title: str) -> Any:
        return tag(text, language, taxonomy, title)

    return run


def _time(tag: Callable[[str, str, str], Any], articles: list[dict[str, Any]]) -> float:
    started = time.process_time()
    for a in articles:
        tag(a["text"], a["language"] or "und", a["title"] or "")
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="another checkout of newsbeam (e.g. /work/main)")
    parser.add_argument("--articles", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    articles = _articles(args.articles, args.seed)
    taggers = {"baseline": _tagger(os.path.abspath(args.baseline)), "this": _tagger(REPO)}
    for tag in taggers.values():  # first pass: lazily built regexes, caches
        _time(tag, articles[:200])
    times: dict[str, list[float]] = {name: [] for name in taggers}
    for _ in range(args.repeats):
        for name, tag in taggers.items():
            times[name].append(_time(tag, articles))
    n = len(articles)
    for name, values in times.items():
        per = sorted(1000 * v / n for v in values)
        print(f"{name:8s} median {statistics.median(per):.3f} ms/article (min {per[0]:.3f}, max {per[-1]:.3f}; "
              f"{args.repeats} runs of {n} articles, CPU time)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
