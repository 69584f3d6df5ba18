"""WriteParquet on Beam's own runner: the same rows (and, when a bundle's rows fit in one batch,
the same files) as the pure row builders write."""

import datetime as dt

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from tests.support.tables import article, write_tables
from transforms.io.parquet import WriteParquet
from transforms.io.tables import TABLES
from transforms.stories.records import build_story, story_member

DAY = dt.date(2026, 3, 15)


def _rows(folder):
    """Every table's rows, sorted, by relative file path."""
    out = {}
    for path in folder.rglob("*.parquet"):
        table = next(t for t in TABLES if path.relative_to(folder).parts[0] == t.folder)
        rows = pq.read_table(path).cast(table.schema).to_pylist()
        out[str(path.relative_to(folder))] = sorted(rows, key=lambda r: tuple(str(r[c]) for c in table.order))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("batch_rows,row_group_bytes", [(1024, 2**24), (2, 1)])  # rows as data, or files of row groups
def test_write_parquet_gives_the_pure_builders_files(tmp_path, batch_rows, row_group_bytes):
    articles = [article(i, story=i % 3, day=DAY - dt.timedelta(days=i % 2), topics=("sanctions",) * (i % 2))
                for i in range(8)]
    articles[0] = {**articles[0], "published_at": None}
    stories = [build_story(f"s-a{s:06d}", [story_member(a) for a in articles if a["story_id"] == f"s-a{s:06d}"])
               for s in range(3)]
    dead = [{"source": "in.jsonl#line 9", "stage": "read", "error": "not JSON", "excerpt": "{"}]
    with TestPipeline() as p:
        outputs = {
            "articles": p | "Articles" >> beam.Create(articles),
            "stories": p | "Stories" >> beam.Create(stories),
            "dead_letter": p | "Dead" >> beam.Create(dead),
        }
        outputs | WriteParquet(str(tmp_path / "beam"), batch_rows=batch_rows, row_group_bytes=row_group_bytes,
                               compact_bytes=0 if batch_rows < len(articles) else 2**20)
    write_tables(tmp_path / "pure", articles, dead, stories=stories)
    beam_files = {p.relative_to(tmp_path / "beam"): p.read_bytes() for p in (tmp_path / "beam").rglob("*.parquet")}
    pure_files = {p.relative_to(tmp_path / "pure"): p.read_bytes() for p in (tmp_path / "pure").rglob("*.parquet")}
    assert sorted(map(str, beam_files)) == sorted(map(str, pure_files))
    assert _rows(tmp_path / "beam") == _rows(tmp_path / "pure")
    if batch_rows > len(articles):  # small pieces merged: written whole and sorted, byte for byte the same
        assert beam_files == pure_files
    assert not [p for p in (tmp_path / "beam").rglob(".tmp-*")]


@pytest.mark.slow
def test_pieces_of_many_bundles_are_merged_into_one_sorted_file(tmp_path):
    """Records arriving from several stages (several bundles) give one file per partition."""
    articles = [article(i, story=i % 4, day=DAY) for i in range(12)]
    dead = [{"source": f"in.jsonl#line {i}", "stage": s, "error": "not JSON", "excerpt": "{"}
            for i, s in enumerate(("read", "normalize", "language"))]
    p = TestPipeline(options=PipelineOptions(["--direct_num_workers=3", "--direct_running_mode=multi_threading"]))
    parts = [p | f"Articles{k}" >> beam.Create(articles[k::3]) for k in range(3)]
    dead_parts = [p | f"Dead{k}" >> beam.Create(dead[k:k + 1]) for k in range(3)]
    outputs = {
        "articles": parts | "FlattenArticles" >> beam.Flatten(),
        "stories": p | "Stories" >> beam.Create([]),
        "dead_letter": dead_parts | "FlattenDead" >> beam.Flatten(),
    }
    outputs | WriteParquet(str(tmp_path / "beam"))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]
                if c.key.metric.namespace == "newsbeam.parquet"}
    assert counters["pieces"] >= 6 and counters["files"] == 3  # articles, topics, dead letters: one file each
    write_tables(tmp_path / "pure", articles, dead, stories=[])
    beam_files = {p.relative_to(tmp_path / "beam"): p.read_bytes() for p in (tmp_path / "beam").rglob("*.parquet")}
    pure_files = {p.relative_to(tmp_path / "pure"): p.read_bytes() for p in (tmp_path / "pure").rglob("*.parquet")
                  if "stories_parquet" not in str(p)}
    assert beam_files == pure_files


@pytest.mark.slow
def test_a_bundle_over_many_dates_keeps_few_files_open_and_loses_no_row(tmp_path):
    """max_open=2 over 5 interleaved dates: pieces are finished early and started again; the
    merged files are still the pure builders' files."""
    articles = [article(i, story=i % 5, day=DAY - dt.timedelta(days=i % 5), topics=("sanctions", "energy"))
                for i in range(30)]
    with TestPipeline() as p:
        outputs = {
            "articles": p | "Articles" >> beam.Create(articles),
            "stories": p | "Stories" >> beam.Create([]),
            "dead_letter": p | "Dead" >> beam.Create([]),
        }
        outputs | WriteParquet(str(tmp_path / "beam"), batch_rows=1, max_open=2, row_group_bytes=1)
    write_tables(tmp_path / "pure", articles, stories=[])
    beam_files = {p.relative_to(tmp_path / "beam"): p.read_bytes() for p in (tmp_path / "beam").rglob("*.parquet")}
    pure_files = {p.relative_to(tmp_path / "pure"): p.read_bytes() for p in (tmp_path / "pure").rglob("*.parquet")
                  if "stories_parquet" not in str(p)}
    assert beam_files == pure_files
