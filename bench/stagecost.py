"""CPU cost of each per-article stage function, this checkout against another one, in one
process: ``python -m bench.stagecost --baseline /work/main [--articles 5000] [--repeats 3]``.

The articles come from :mod:`bench.generate` (same seed and mix as ``make bench``). Each
checkout's ``transforms`` package is imported on its own (``bench.checkout.imported_from``, as
:mod:`bench.storycost` does) with its models loaded; then, stage after stage, the two run
the stage's function over the same input in turns, ``--repeats`` times each: normalize,
language, topics (in runs of 1,024 grouped by language, as in the pipeline), entities,
near-duplicate signature, story features (the payload the shuffle carries), then on the
originals (exact copies marked) the steps after the shuffle: blocking (document frequencies,
block keys and members), scoring (every block of two or more), grouping (the edges), and
``story_roots`` (all of these in one call, features again). Each
stage's input is the baseline's output of the stage before, and the two outputs are
compared (``same`` in the table). The garbage collector is set as in a worker process
(``transforms.runtime.heap``: thresholds, and the loaded models frozen). Time is CPU time
(``time.process_time``); the best of the repeats is reported. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import os
import time
from typing import Any, Callable

from bench.checkout import imported_from, story_blocks

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RUN = 1024  # tuning.run_length: topic tagging groups each run by language
_MODULES = ("enrich.normalize", "enrich.language", "enrich.topics", "enrich.entities", "stories.entities",
            "stories.features", "stories.find", "stories.params", "dedup.minhash", "stories.vectors",
            "stories.blocks", "stories.grouping")
STAGES = ("normalize", "language", "topics", "entities", "signature", "story features", "story blocking",
          "story scoring", "story grouping", "story_roots")


def _stages(root: str) -> dict[str, Callable[[Any], Any]]:
    """The per-article stage functions of the checkout at ``root``, models loaded and warmed."""
    with imported_from(root):
        from pipeline.config import load_config

        config = load_config()
        mods = {name: importlib.import_module(f"transforms.{name}") for name in _MODULES}
        topics = mods["enrich.topics"]
        tag = topics.make_article_tagger(topics.compiled_taxonomy(os.path.join(root, "configs", "topics.yaml")))
        detect = mods["enrich.language"].make_language_fn(**dataclasses.asdict(config.language))
        mods["stories.entities"].warm()
        near = config.dedup.near
        sketch = mods["dedup.minhash"].Sketcher(num_perm=near.num_perm, k=near.shingle_k,
                                                min_shingles=near.min_shingles)
    params = mods["stories.params"].StoryParams()
    features = mods["stories.features"].article_features
    find = mods["stories.find"]
    blocks_mod, grouping = mods["stories.blocks"], mods["stories.grouping"]

    def blocking(feats: list) -> dict:
        """Document frequencies, then each article's block keys and member (as the story step)."""
        return {k: v for k, v in story_blocks(mods, feats, params).items() if len(v) > 1}

    def scoring(blocks: dict) -> list:
        return [e for k in sorted(blocks) for e in blocks_mod.score_block(k, blocks[k], params)]

    def signature(article: dict) -> Any:
        sig = sketch(article["text"])
        return None if sig is None else sig.tobytes()

    return {
        "normalize": mods["enrich.normalize"].normalize_article,
        "language": detect,
        "topics": tag,
        "entities": mods["enrich.entities"].tag_entities,
        "signature": signature,
        "story features": lambda a: features(a, params),
        "story blocking": blocking,
        "story scoring": scoring,
        "story grouping": lambda edges: grouping.cluster_edges(edges, params.threshold),
        "story_roots": lambda articles: find.story_roots(articles, params),
        "features of": lambda a: mods["stories.features"].story_features(a, params),
    }


def _raws(count: int, seed: int) -> list[dict]:
    from bench.generate import Generator

    return [{**raw, "origin": "bench"} for raw in Generator(seed).generate(count)]


def _by_language(articles: list[dict]) -> list[dict]:
    return [a for i in range(0, len(articles), RUN)
            for a in sorted(articles[i : i + RUN], key=lambda a: a.get("language") or "")]


def _originals(articles: list[dict]) -> list[dict]:
    """Exact copies (same content hash) marked as duplicates of their first, as the dedup step would."""
    first: dict[str, str] = {}
    out = []
    for article in articles:
        original = first.setdefault(article["content_hash"], article["id"])
        if original != article["id"]:
            article = {**article, "dedup": {"status": "exact_duplicate", "duplicate_of": original}}
        out.append(article)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="another checkout of newsbeam (e.g. /work/main)")
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    sides = {"baseline": _stages(os.path.abspath(args.baseline)), "this": _stages(REPO)}
    raws = _raws(args.articles, args.seed)
    for stages in sides.values():  # first pass: lazily compiled patterns, caches filled
        warm = raws[:300]
        for name in ("normalize", "language", "topics", "entities"):
            warm = [stages[name](a) for a in warm]
        for a in warm:
            stages["signature"](a)
            stages["story features"](a)
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)  # transforms.runtime.heap.GC_THRESHOLDS, as in a worker
    n = len(raws)
    items: Any = raws
    print(f"{'stage':16s} {'baseline ms':>12s} {'this ms':>9s} {'change':>7s}  same  (best of {args.repeats}, "
          f"{n} articles, CPU time)")
    total = {"baseline": 0.0, "this": 0.0}
    tagged: list[dict] = []
    for name in STAGES:
        if name == "topics":
            items = _by_language(items)
        if name == "story blocking":  # the story steps after the shuffle: on the originals' features
            tagged = _originals(items)
            feats = sides["baseline"]["features of"]
            items = [feats(a) for a in tagged if not (a.get("dedup") or {}).get("duplicate_of")]
        if name == "story_roots":
            items = tagged
        whole = name.startswith("story ") and name != "story features" or name == "story_roots"
        best = {side: float("inf") for side in sides}
        outs: dict[str, Any] = {}
        for _ in range(args.repeats):
            for side, stages in sides.items():
                fn = stages[name]
                started = time.process_time()
                out = fn(items) if whole else [fn(x) for x in items]
                best[side] = min(best[side], time.process_time() - started)
                outs[side] = out
                del out
        for side in sides:
            total[side] += best[side]
        if name == "story_roots":
            best_roots = dict(best)
        a, b = (1000 * best[s] / n for s in ("baseline", "this"))
        print(f"{name:16s} {a:12.4f} {b:9.4f} {100 * (b - a) / a:+6.1f}%  {outs['baseline'] == outs['this']}",
              flush=True)
        if name in ("normalize", "language", "topics", "entities", "story blocking", "story scoring"):
            items = outs["baseline"]  # the next stage reads these (signature and features: the tagged articles)
        outs.clear()
    total = {side: total[side] - best_roots[side] for side in sides}  # story_roots repeats the story stages
    a, b = (1000 * total[s] / n for s in ("baseline", "this"))
    print(f"{'all but roots':16s} {a:12.4f} {b:9.4f} {100 * (b - a) / a:+6.1f}%  (load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
