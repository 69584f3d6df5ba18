"""newsbeam's Dask runner (``pipeline/dask_runner.py``) on a local distributed cluster: each fix
it makes to Beam's own DaskRunner (docs/dask.md), and the whole job compared with DirectRunner."""

import glob
import json
import os

import apache_beam as beam
import psutil
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.dask_runner import NewsbeamDaskRunner, runner_for
from tests.support.cli import read_jsonl, run_main
from tests.support.samples import TEXT_DE, TEXT_EN, TEXT_FR


def test_runner_names():
    assert isinstance(runner_for(PipelineOptions(["--runner", "DaskRunner"])), NewsbeamDaskRunner)
    assert isinstance(runner_for(PipelineOptions(["--runner", "dask"])), NewsbeamDaskRunner)
    assert runner_for(PipelineOptions(["--runner", "DirectRunner"])) is None


def _split(x):
    if x % 3 == 0:
        yield beam.pvalue.TaggedOutput("bad", x)
    else:
        yield x


@pytest.mark.e2e
def test_dask_runner_keeps_tagged_outputs_apart_and_runs_every_sink(tmp_path):
    # Beam 2.77's own DaskRunner hands main and tagged outputs mixed to every consumer and
    # computes only the last sink; ours must do neither.
    options = PipelineOptions(["--dask_local_workers", "1"])  # the graph is what is tested: one worker process
    with beam.Pipeline(runner=NewsbeamDaskRunner(), options=options) as p:
        parts = p | beam.Create(list(range(1, 13))) | "Split" >> beam.ParDo(_split).with_outputs("bad", main="good")
        total = parts.good | "Sum" >> beam.CombineGlobally(sum)
        scaled = parts.good | "Scale" >> beam.Map(lambda x, t: x * 1000 + t, beam.pvalue.AsSingleton(total))
        scaled | "WriteGood" >> beam.io.WriteToText(str(tmp_path / "good"), num_shards=1)
        parts.bad | "WriteBad" >> beam.io.WriteToText(str(tmp_path / "bad"), num_shards=1)

    def read(prefix):
        return sorted(int(line) for f in glob.glob(str(tmp_path / f"{prefix}*")) for line in open(f))

    good = [x for x in range(1, 13) if x % 3]
    assert read("bad") == [3, 6, 9, 12]
    assert read("good") == sorted(x * 1000 + sum(good) for x in good)


def _count_call(x, calls_file):
    with open(calls_file, "a", encoding="utf-8") as fh:  # from whichever worker process runs it
        fh.write("1\n")
    return x


def _worker_processes() -> set[int]:
    return {c.pid for c in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(c.cmdline())}  # multiprocessing's helper stays


@pytest.mark.e2e
def test_dask_runner_computes_a_side_input_once_and_closes_its_cluster(tmp_path):
    # Beam 2.77's own DaskRunner re-runs a side input's lineage in every task that reads it
    # (here 4 partitions of 128) and leaves its client and local cluster running after the run.
    import dask.distributed as ddist

    calls, out = tmp_path / "calls", tmp_path / "out"
    before = _worker_processes()
    with beam.Pipeline(runner=NewsbeamDaskRunner(), options=PipelineOptions(["--dask_local_workers", "2"])) as p:
        side = p | "Side" >> beam.Create([7]) | "Count" >> beam.Map(_count_call, str(calls))
        numbers = p | "Numbers" >> beam.Create(list(range(512)))
        added = numbers | "Add" >> beam.Map(lambda x, s: x + s, beam.pvalue.AsSingleton(side))
        added | "Write" >> beam.io.WriteToText(str(out), num_shards=1)
    assert calls.read_text().count("1") == 1
    assert sorted(int(line) for f in glob.glob(f"{out}*") for line in open(f)) == [x + 7 for x in range(512)]
    try:
        client = ddist.default_client()
    except ValueError:  # no client left
        client = None
    assert client is None
    assert _worker_processes() <= before


@pytest.mark.e2e
def test_dask_runner_gives_the_same_ids_duplicates_and_stories_as_direct(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    lines = [
        {"title": "EU sanctions", "text": TEXT_EN, "url": "https://news.example/eu", "published_at": "2025-03-15T09:00:00Z"},
        {"title": "Copy", "text": TEXT_EN, "url": "https://wire.example/eu", "published_at": "2025-03-15T11:00:00Z"},
        {"title": "Same URL", "text": TEXT_EN + " Updated.", "url": "https://news.example/eu?utm_source=x"},
        {"title": "Cessez-le-feu", "text": TEXT_FR, "published_at": "2025-03-15T08:00:00Z"},
        {"title": "Erdbeben", "text": TEXT_DE},
    ]
    (src / "a.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n{bad\n", encoding="utf-8")
    (src / "b.txt").write_text(TEXT_FR.replace("lundi", "mardi"), encoding="utf-8")
    direct, dask = tmp_path / "direct", tmp_path / "dask"
    args = ("--input", str(src / "*.jsonl"), "--input", str(src / "*.txt"))
    assert run_main(*args, "--output", str(direct)).returncode == 0  # the reference
    # in this process too: the outputs are compared (the local cluster's 2 worker processes still start)
    result = run_main(*args, "--output", str(dask), "--runner", "DaskRunner")
    assert result.returncode == 0, result.stderr[-3000:]

    def key(a):
        return a["id"], a["dedup"]["status"], a["dedup"]["duplicate_of"], a["story_id"], a["language"]

    dask_articles = read_jsonl(dask / "articles")
    assert len(dask_articles) == 6
    assert sorted(map(key, dask_articles)) == sorted(map(key, read_jsonl(direct / "articles")))
    assert {a["dedup"]["status"] for a in dask_articles} >= {"unique", "exact_duplicate"}
    stories = lambda out: sorted(tuple(sorted(s["article_ids"])) for s in read_jsonl(out / "stories"))  # noqa: E731
    assert stories(dask) == stories(direct)
    assert len(read_jsonl(dask / "dead_letter")) == len(read_jsonl(direct / "dead_letter")) == 1
    summary = json.loads((dask / "summary.json").read_text())
    assert summary["articles"] == 6 and summary["dead_letters"] == 1
    assert not glob.glob(os.path.join(dask, "**", "*.tmp*"), recursive=True)


def test_dask_result_answers_metric_queries_empty_instead_of_failing():
    from apache_beam.metrics.metric import MetricResults

    from pipeline.dask_runner import _DaskResult

    result = _DaskResult("DONE").metrics().query()
    assert result[MetricResults.COUNTERS] == [] and result[MetricResults.DISTRIBUTIONS] == []
