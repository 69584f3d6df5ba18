"""``make bench``: throughput and memory of the full default pipeline on generated data.

1. generates N realistic articles (``bench.generate``; cached under ``bench/data/``);
2. runs ``python -m pipeline`` on them with the default local settings, sampling
   the resident memory of the whole process tree (runner workers included);
3. times each stage's pure function on a sample of the same articles (one core),
   so the table shows where the time goes; "Beam and shuffles" is the rest;
4. writes ``bench/results/<name>.json`` and prints a table.

``python -m bench.run [--articles 100000] [--extra-args "--direct_num_workers 1"]``
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time

import psutil

from bench.generate import write as generate
from bench.stages import breakdown, idle_worker_seconds

HERE = os.path.dirname(os.path.abspath(__file__))
WARM_UP = 300  # articles each stage sees before it is timed
STORY_SAMPLE = 10_000  # story steps depend on block sizes, which grow with the input: a larger sample
REPO = os.path.dirname(HERE)


def _tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(resident bytes of the whole process tree, of ``proc`` itself: the launcher)."""
    total = own = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        if p.pid == proc.pid:
            own = rss
    return total, own


def stage_at(stages: list[dict], when: float) -> str | None:
    """The runner stage running at ``when`` (epoch seconds), None between stages."""
    for st in stages:
        if st["started"] <= when <= st["started"] + st["seconds"]:
            return st["stage"]
    return None


def run_pipeline(inputs: str, output: str, extra: list[str]) -> dict:
    stages_file = os.path.join(output, "runner-stages.json")  # removed with the (temporary) output folder
    cmd = [sys.executable, "-m", "bench.stages", "--stages-out", stages_file, "--input", inputs, "--output", output, *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    at_peak = {"when": 0.0, "launcher": 0}  # where the peak was: when, and the launcher's share
    ps = psutil.Process(proc.pid)
    cpu = {"user": 0.0, "system": 0.0}

    def sample() -> None:
        nonlocal peak
        while proc.poll() is None:
            total, launcher = _tree_rss(ps)
            if total > peak:
                peak = total
                at_peak.update(when=time.time(), launcher=launcher)
            try:
                times = [p.cpu_times() for p in [ps, *ps.children(recursive=True)]]
                cpu["user"] = max(cpu["user"], sum(t.user + t.children_user for t in times))
                cpu["system"] = max(cpu["system"], sum(t.system + t.children_system for t in times))
            except psutil.Error:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    ended = time.time()
    watcher.join()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pipeline failed ({proc.returncode}):\n{stderr[-3000:]}")
    with open(os.path.join(output, "summary.json"), encoding="utf-8") as fh:
        summary = json.load(fh)
    with open(stages_file, encoding="utf-8") as fh:
        record = json.load(fh)
    stages = record["stages"]
    idle, had = idle_worker_seconds(record)
    return {
        "command": " ".join(shlex.quote(c) for c in cmd),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu["user"] + cpu["system"], 1),
        "peak_rss_mb": round(peak / 2**20),
        "peak_launcher_mb": round(at_peak["launcher"] / 2**20),  # the rest of the peak: the worker processes
        "peak_stage": stage_at(stages, at_peak["when"]),
        "summary": summary,
        "stdout": stdout.strip().splitlines()[:1],
        "runner_stages": [{"stage": st["stage"], "seconds": round(st["seconds"], 2)} for st in stages],
        "wall_breakdown": [{"what": what, "seconds": round(sec, 2), "cpu_seconds": None if c is None else round(c, 2)}
                           for what, sec, c in breakdown(record, ended)],
        "idle_worker_seconds": round(idle, 1),
        "worker_seconds": round(had, 1),
        "model_loads": [{k: s[k] for k in ("pid", "stage", "seconds", "cpu")} for s in record.get("setups", [])],
    }


def parquet_cost(articles: list[dict], batch: int = 500) -> float:
    """Milliseconds per article of the analyst tables (``output.format: both``): its article and
    topic rows, as Arrow, into Parquet, in batches of ``batch`` articles (what a bundle of
    ``transforms/io/parquet.py`` does per article; no shuffle of rows since issue 20's remainder)."""
    from transforms.io.tables import parquet_bytes, tables_of

    articles = [{**a, "story_id": "s-" + a["id"], "dedup": {"status": "unique", "duplicate_of": None}} for a in articles]
    start = time.perf_counter()
    for i in range(0, len(articles), batch):
        chunk = articles[i : i + batch]
        for table in tables_of("articles"):
            parquet_bytes(table, [row for a in chunk for row in table.rows(a)])
    return round(1000 * (time.perf_counter() - start) / max(1, len(articles)), 3)


def stage_costs(files: list[str], sample_size: int = 2000, story_sample: int = STORY_SAMPLE) -> dict[str, float]:
    """Milliseconds per article of each stage's pure function, on one core."""
    from pipeline.config import load_config
    from transforms.dedup import minhash
    from transforms.enrich.language import make_language_fn
    from transforms.enrich.normalize import normalize_article
    from transforms.io.fileformats import read_file
    from transforms.runtime import Tuning
    from transforms.enrich.topics import article_language, compiled_taxonomy, make_article_tagger, read_taxonomy_mapping
    from transforms.enrich.entities import tag_entities
    from transforms.stories.blocks import block_features, score_block
    from transforms.stories.features import story_features
    from transforms.stories.grouping import cluster_edges
    from transforms.stories.vectors import document_frequencies

    config = load_config()
    lang = config.language
    near = config.dedup.near
    detect = make_language_fn(**dataclasses.asdict(lang))
    tag = make_article_tagger(compiled_taxonomy(read_taxonomy_mapping(config.topics_path)))
    sketch = minhash.Sketcher(num_perm=near.num_perm, k=near.shingle_k, min_shingles=near.min_shingles)
    costs: dict[str, float] = {}

    def timed(name, fn, items, warm=None):
        for item in (items if warm is None else warm)[:WARM_UP]:  # first use fills caches and compiles lazily
            fn(item)
        start = time.perf_counter()
        out = [fn(x) for x in items]
        costs[name] = round(1000 * (time.perf_counter() - start) / max(1, len(items)), 3)
        return out

    raws: list = []
    start = time.perf_counter()
    for path in files:
        with open(path, "rb") as fh:
            raws.extend(r for r in read_file(path, fh) if isinstance(r, dict))
        if len(raws) >= max(sample_size, story_sample):
            break
    costs["read"] = round(1000 * (time.perf_counter() - start) / max(1, len(raws)), 3)  # every article read
    more, raws = raws[sample_size:story_sample], raws[:sample_size]
    articles = timed("normalize", normalize_article, raws)
    articles = mixed = timed("language", detect, articles)
    # the pipeline hands the later steps each run of tuning.run_length articles grouped by
    # language (TagTopics' order_by, which keeps each language's regexes and tables
    # in the CPU caches): they are timed in that order too
    articles = [
        a for i in range(0, len(articles), Tuning().run_length)
        for a in sorted(articles[i : i + Tuning().run_length], key=article_language)
    ]
    articles = timed("topics", tag, articles, warm=mixed)  # warmed on every language, in arrival order
    timed("near-dup signature", lambda a: sketch(a["text"]), articles, warm=mixed)
    articles = timed("entities", tag_entities, articles, warm=mixed)
    feats = timed("story features", lambda a: story_features(a, config.stories), articles, warm=mixed)
    costs["parquet tables"] = parquet_cost(articles)
    # the story steps after the shuffle, on a larger sample's own blocks (a larger input
    # has larger blocks, so these grow with the input up to what the window allows)
    params = config.stories
    for raw in more:
        article = normalize_article(raw)
        if isinstance(article, dict):
            article = detect(article)
            if isinstance(article, dict):
                feats.append(story_features(tag_entities(article), params))
    df, n = document_frequencies(feats)
    blocks: dict[str, list] = {}

    start = time.perf_counter()  # no warm-up pass: each article must enter its blocks once
    for f in feats:
        keys, member = block_features(f, df, n, params)
        for key in keys:
            blocks.setdefault(key, []).append(member)
    costs["story blocking"] = round(1000 * (time.perf_counter() - start) / max(1, len(feats)), 3)
    blocks = {k: v for k, v in blocks.items() if len(v) > 1}
    start = time.perf_counter()
    edges = [e for k in sorted(blocks) for e in score_block(k, blocks[k], params)]
    costs["story scoring"] = round(1000 * (time.perf_counter() - start) / max(1, len(feats)), 3)
    start = time.perf_counter()
    cluster_edges(edges, params.threshold)
    costs["story grouping"] = round(1000 * (time.perf_counter() - start) / max(1, len(feats)), 3)
    return costs


def count_lines(files: list[str]) -> int:
    """Articles in the cached data (one per line): a data folder whose generation was cut short
    has all its shards but fewer articles (bench/data/20000 once held 9,033)."""
    total = 0
    for path in files:
        with open(path, "rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return total


def print_breakdown(run: dict) -> None:
    """Where the run's wall time went (``bench.stages.breakdown``), and how idle its workers were."""
    rows = run.get("wall_breakdown") or []
    if not rows:
        return
    print()
    print(f"{'wall s':>8} {'CPU s':>7}  where the run's {run['wall_seconds']} s went")
    for row in rows:
        cpu = "" if row.get("cpu_seconds") is None else f"{row['cpu_seconds']:.2f}"
        print(f"{row['seconds']:>8.2f} {cpu:>7}  {row['what']}")
    if run.get("worker_seconds"):
        print(f"{run['idle_worker_seconds']:>8.1f} {'':>7}  worker-seconds idle during the stages, of "
              f"{run['worker_seconds']:.1f} (wall less CPU per worker process and stage)")
    loads: dict[str, float] = {}
    for load in run.get("model_loads", []):
        loads[load["stage"]] = loads.get(load["stage"], 0.0) + load["cpu"]
    if loads:
        print("model loads, CPU seconds summed over processes: "
              + ", ".join(f"{stage} {cpu:.2f}" for stage, cpu in sorted(loads.items(), key=lambda kv: -kv[1])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--extra-args", default="", help="more pipeline flags, e.g. '--direct_num_workers 1'")
    parser.add_argument("--name", default=None, help="result file name (default: <articles>)")
    parser.add_argument("--no-stage-costs", action="store_true", help="skip timing each stage's function on a sample")
    args = parser.parse_args(argv)

    data = os.path.join(HERE, "data", f"{args.articles}")
    files = sorted(glob.glob(os.path.join(data, "*.jsonl")))
    if len(files) != args.shards or count_lines(files) != args.articles:  # a generation cut short leaves every shard
        print(f"generating {args.articles} articles into {data} ...", flush=True)
        files = generate(args.articles, data, args.shards)
    costs = {}
    if not args.no_stage_costs:
        print("timing each stage on a sample ...", flush=True)
        costs = stage_costs(files)
    print(f"running the pipeline on {args.articles} articles ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="newsbeam-bench-") as out:
        run = run_pipeline(os.path.join(data, "*.jsonl"), out, shlex.split(args.extra_args))
    n = args.articles
    result = {
        "articles": n,
        "articles_per_second": round(n / run["wall_seconds"], 1),
        **run,
        "stage_ms_per_article_one_core": costs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"{args.name or n}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)

    staged = sum(costs.values())
    cpu_per_article = 1000 * run["cpu_seconds"] / n
    print()
    print(f"{n} articles in {run['wall_seconds']} s wall = {result['articles_per_second']} articles/s; "
          f"peak memory {run['peak_rss_mb']} MB; CPU {run['cpu_seconds']} s ({cpu_per_article:.2f} ms/article)")
    if run.get("peak_stage") is not None:
        print(f"at the peak: launcher {run['peak_launcher_mb']} MB, workers the rest; "
              f"during {run['peak_stage']}")
    if costs:
        print(f"{'stage':<22} {'ms/article (1 core)':>20} {'share of CPU':>13}")
        for name, ms in costs.items():
            print(f"{name:<22} {ms:>20.3f} {100 * ms / cpu_per_article:>12.1f}%")
        rest = max(0.0, cpu_per_article - staged)
        print(f"{'Beam, shuffles, rest':<22} {rest:>20.3f} {100 * rest / cpu_per_article:>12.1f}%")
    print_breakdown(run)
    timed_stages = sorted(run["runner_stages"], key=lambda st: -st["seconds"])
    if timed_stages:
        print()
        print(f"{'wall seconds':>12}  runner stage (fused steps; the biggest {min(8, len(timed_stages))})")
        for st in timed_stages[:8]:
            print(f"{st['seconds']:>12.1f}  {st['stage']}")
    print(f"results: {os.path.relpath(path, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
