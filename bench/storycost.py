"""CPU cost of entity tagging and of the story step per article, this checkout against
another one: ``python -m bench.storycost --baseline /work/main [--articles 20000] [--repeats 3]``.

The articles come from :mod:`bench.generate` (same seed and mix as ``make bench``),
normalized and language-detected once; exact copies (same content hash) are marked as
duplicates of their first, as the dedup step would. Each checkout's ``transforms``
package is imported on its own (swapped in ``sys.modules``, as :mod:`bench.topiccost`
does), then the two run in turns, ``--repeats`` times each: ``tag_entities`` over every
article (its per-run cache of capitalised runs emptied first, as in a fresh worker), and
``story_roots`` (features, blocking, scoring, grouping) over the tagged articles. The
gazetteer load is timed in fresh processes, alternated. Time is CPU time
(``time.process_time``), medians reported. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.checkout import imported_from, story_blocks

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
_LOAD = ("import time; t = time.process_time(); from transforms.stories.gazetteer import gazetteer; gazetteer(); "
         "print(time.process_time() - t)")


def _articles(count: int, seed: int) -> list[dict[str, Any]]:
    from bench.generate import Generator
    from transforms.enrich.language import make_language_fn
    from transforms.enrich.normalize import normalize_article

    detect = make_language_fn()
    first: dict[str, str] = {}
    out = []
    for raw in Generator(seed).generate(count):
        article = detect(normalize_article({**raw, "origin": "bench"}))
        original = first.setdefault(article["content_hash"], article["id"])
        if original != article["id"]:
            article["dedup"] = {"status": "exact_duplicate", "duplicate_of": original}
        out.append(article)
    return out


def _modules(root: str) -> dict[str, Any]:
    """The entity and story modules of the checkout at ``root``, gazetteer loaded."""
    with imported_from(root):
        out = {name: importlib.import_module(f"transforms.{name}") for name in (
            "enrich.entities", "stories.entities", "stories.find", "stories.features", "stories.blocks",
            "stories.vectors", "stories.params")}
        out["stories.entities"].warm()
    return out


def _tag(mods: dict[str, Any], articles: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    mods["stories.entities"]._RUNS.clear()
    tag = mods["enrich.entities"].tag_entities
    started = time.process_time()
    tagged = [tag(a) for a in articles]
    return time.process_time() - started, tagged


def _stories(mods: dict[str, Any], articles: list[dict[str, Any]]) -> tuple[float, dict[str, str]]:
    started = time.process_time()
    roots = mods["stories.find"].story_roots(articles, mods["stories.params"].StoryParams())
    return time.process_time() - started, roots


def _edges(mods: dict[str, Any], articles: list[dict[str, Any]]) -> tuple[int, int]:
    """``(edges, edges across two languages)`` the story step scores."""
    params = mods["stories.params"].StoryParams()
    blocks_mod = mods["stories.blocks"]
    originals = [a for a in articles if not (a.get("dedup") or {}).get("duplicate_of")]
    language = {a["id"]: a.get("language") or "" for a in originals}
    feats = [mods["stories.features"].story_features(a, params) for a in originals]
    blocks = story_blocks(mods, feats, params)
    total = across = 0
    for key in sorted(blocks):
        for a, b, _ in blocks_mod.score_block(key, blocks[key], params):
            total += 1
            across += language[a.id] != language[b.id] and bool(language[a.id]) and bool(language[b.id])
    return total, across


def _load_times(roots: dict[str, str], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in roots}
    for _ in range(repeats):
        for name, root in roots.items():
            env = {**os.environ, "PYTHONPATH": root}
            out = subprocess.run([sys.executable, "-c", _LOAD], env=env, cwd=root, capture_output=True, text=True,
                                 check=True)
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
    return times


def _report(label: str, values: list[float], per: int = 1, unit: str = "ms/article") -> str:
    scaled = sorted(1000 * v / per for v in values)
    return (f"{label:28s} median {statistics.median(scaled):8.3f} {unit} "
            f"(min {scaled[0]:.3f}, max {scaled[-1]:.3f}; {len(values)} runs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="another checkout of newsbeam (e.g. /work/main)")
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loads", type=int, default=5, help="gazetteer loads per checkout (fresh processes)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    roots = {"baseline": os.path.abspath(args.baseline), "this": REPO}
    for name, values in _load_times(roots, args.loads).items():
        print(_report(f"{name}: gazetteer load", values, unit="ms/process"), flush=True)
    articles = _articles(args.articles, args.seed)
    n = len(articles)
    mods = {name: _modules(root) for name, root in roots.items()}
    tagged = {name: _tag(m, articles)[1] for name, m in mods.items()}  # first pass: lazily compiled patterns
    same = tagged["baseline"] == tagged["this"]
    for name, m in mods.items():
        edges, across = _edges(m, tagged[name])
        print(f"{name}: {n} articles, {edges} edges ({across} across two languages)", flush=True)
    tag_times: dict[str, list[float]] = {name: [] for name in mods}
    story_times: dict[str, list[float]] = {name: [] for name in mods}
    roots_of: dict[str, dict[str, str]] = {}
    for _ in range(args.repeats):
        for name, m in mods.items():
            tag_times[name].append(_tag(m, articles)[0])
            elapsed, roots_of[name] = _stories(m, tagged[name])
            story_times[name].append(elapsed)
    for name in mods:
        print(_report(f"{name}: entities", tag_times[name], n))
        print(_report(f"{name}: story_roots", story_times[name], n))
    differ = sum(1 for a in articles if roots_of["baseline"][a["id"]] != roots_of["this"][a["id"]])
    print(f"entity fields identical: {same}; articles whose story root differs: {differ} of {n}; stories "
          f"{len(set(roots_of['baseline'].values()))} -> {len(set(roots_of['this'].values()))} (CPU time, "
          f"load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
