"""WriteParquet on Beam's own runner: the same files as the pure row builders write."""

import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from tests.support.tables import article, write_tables
from transforms.io.parquet import WriteParquet
from transforms.stories.records import build_story, story_member

DAY = dt.date(2026, 3, 15)


@pytest.mark.slow
@pytest.mark.parametrize("gather_limit", [2048, 3])  # a whole bundle at once, or in small lists
def test_write_parquet_gives_the_pure_builders_files(tmp_path, gather_limit):
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
        outputs | WriteParquet(str(tmp_path / "beam"), gather_limit=gather_limit)
    write_tables(tmp_path / "pure", articles, dead, stories=stories)
    beam_files = {p.relative_to(tmp_path / "beam"): p.read_bytes() for p in (tmp_path / "beam").rglob("*.parquet")}
    pure_files = {p.relative_to(tmp_path / "pure"): p.read_bytes() for p in (tmp_path / "pure").rglob("*.parquet")}
    assert sorted(map(str, beam_files)) == sorted(map(str, pure_files))
    assert beam_files == pure_files
    assert not [p for p in (tmp_path / "beam").rglob(".tmp-*")]
