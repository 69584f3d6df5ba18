"""``python -m bench.streamstories --articles N``: the streaming story composite
(:class:`~transforms.stories.streaming.AssignStoriesAcrossWindows`) on Beam's
streaming DirectRunner, alone: ``N`` generated articles (``bench.generate``, one
original in ten copied) stamped ``--rate`` per second of event time into
``--window-seconds`` windows, fed by a ``TestStream``. Prints CPU seconds (this
process and its children, ``resource.getrusage``), wall seconds, articles per
second by both, and the runner's element count.

CPU time, not wall, is the number to compare on a shared machine; alternate A/B
runs and take medians. The one-time loading of the gazetteer and lexicon (seconds)
happens before the clock starts. The run's tuning is the pipeline's for a streaming
DirectRunner (``tuning.local_runner_patches``: :mod:`transforms.runtime.streamrunner`; ``tuning.heap``:
the collector of the process, which runs every step: :mod:`transforms.runtime.heap`);
``--no-tuning`` runs plain Beam. ``--ids PATH`` writes ``id story_id`` lines (sorted),
to check that two versions give the same answers. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from bench.generate import Generator
from transforms import runtime
from transforms.stories.features import article_features
from transforms.stories.streaming import AssignStoriesAcrossWindows


def articles(total: int, seed: int = 7) -> list[dict]:
    """``total`` generated articles with ids, languages and ``dedup`` as the stage before sets them
    (a generated copy is an exact duplicate of its original)."""
    out: list[dict] = []
    seen: dict[str, str] = {}
    gen = Generator(seed)
    for n, raw in enumerate(gen.generate(total)):
        article = dict(raw, id=f"a{n:06d}", language=raw.get("language") or "en")
        original = seen.get(raw["text"][:200])
        article["dedup"] = ({"status": "exact_duplicate", "duplicate_of": original} if original
                            else {"status": "unique", "duplicate_of": None})
        seen.setdefault(raw["text"][:200], article["id"])
        out.append(article)
    return out


class _Count(beam.DoFn):
    """Appends ``id story_id`` lines to ``path`` (the DirectRunner's streaming metrics
    leave out most counters, so the output is counted from a file)."""

    def __init__(self, path: str) -> None:
        self._path = path

    def start_bundle(self) -> None:
        self._lines: list[str] = []

    def process(self, article: dict):
        self._lines.append(f"{article['id']} {article.get('story_id') or '-'}\n")
        return iter(())

    def finish_bundle(self) -> None:
        with open(self._path, "a", encoding="utf-8") as fh:
            fh.writelines(self._lines)


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run(total: int, rate: float, window_seconds: float, seed: int = 7, ids: str | None = None) -> dict:
    rows = articles(total, seed)
    article_features(rows[0])  # loads the gazetteer and lexicon once (seconds), outside the measured run
    stream = TestStream().advance_watermark_to(0)
    per_tick = max(1, int(rate))  # one add_elements per second of event time
    for start in range(0, total, per_tick):
        second = start // per_tick
        stream = stream.add_elements([TimestampedValue(a, second + 0.5) for a in rows[start : start + per_tick]])
        stream = stream.advance_watermark_to(second + 1)
    stream = stream.advance_watermark_to_infinity()
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    started_cpu, started = _cpu(), time.perf_counter()
    out = tempfile.mktemp(prefix="streamstories-", suffix=".txt")
    p = beam.Pipeline(options=options)
    (
        p
        | stream
        | "IntoWindows" >> beam.WindowInto(FixedWindows(window_seconds))
        | "AssignStories" >> AssignStoriesAcrossWindows(FixedWindows(window_seconds))
        | "Count" >> beam.ParDo(_Count(out))
    )
    result = p.run()
    result.wait_until_finish()
    cpu, wall = _cpu() - started_cpu, time.perf_counter() - started
    with open(out, encoding="utf-8") as fh:
        got = dict(line.split() for line in fh)
    os.remove(out)
    if ids:
        with open(ids, "w", encoding="utf-8") as fh:
            fh.writelines(f"{k} {v}\n" for k, v in sorted(got.items()))
    return {"articles": total, "out": len(got), "stories": len(set(got.values())), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "cpu_ms_per_article": round(1000 * cpu / total, 2), "articles_per_cpu_s": round(total / cpu, 1),
            "articles_per_wall_s": round(total / wall, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=500.0, help="articles per second of event time")
    parser.add_argument("--window-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-tuning", action="store_true", help="plain Beam (no runner patches)")
    parser.add_argument("--ids", help="write 'id story_id' lines here")
    args = parser.parse_args(argv)
    tuning = runtime.PLAIN if args.no_tuning else runtime.resolve(
        runtime.TuningConfig(), "DirectRunner", True, beam.__version__)
    runtime.apply_in_launcher(tuning)
    print(json.dumps({**run(args.articles, args.rate, args.window_seconds, args.seed, args.ids),
                      "local_runner_patches": tuning.local_runner_patches, "heap": tuning.heap}))


if __name__ == "__main__":
    main()
