"""The analyst tables' row builders against the records they come from, and their files."""

import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.tables import article
from transforms.io.tables import (
    TABLE_BY_NAME,
    TABLES,
    article_row,
    dead_letter_row,
    parquet_bytes,
    partition_of,
    relative_path,
    story_row,
    topic_rows,
)
from transforms.stories.records import build_story, story_member

DAY = dt.date(2026, 3, 15)


def _roundtrip(table, rows):
    return pq.read_table(io.BytesIO(parquet_bytes(table, rows))).to_pylist()


def test_every_row_fits_its_schema_and_reads_back():
    a = article(1, story=1, day=DAY, topics=("sanctions", "energy"))
    b = article(2, story=1, day=DAY, topics=(), language="ru", source="b.example")
    b["published_at"] = None
    story = build_story("s-a000001", [story_member(a), story_member(b)])
    dead = {"source": "x.jsonl#line 3", "stage": "read", "error": "line 3 is 20971520 bytes", "excerpt": "{"}
    rows = {
        "articles": [article_row(a), article_row(b)],
        "stories": [story_row(story)],
        "topics": topic_rows(a) + topic_rows(b),
        "dead_letters": [dead_letter_row(dead)],
    }
    for name, table_rows in rows.items():
        table = TABLE_BY_NAME[name]
        back = _roundtrip(table, table_rows)
        assert len(back) == len(table_rows)
        assert set(back[0]) == set(table.schema.names)
    topics = _roundtrip(TABLE_BY_NAME["topics"], rows["topics"])
    assert [(r["article_id"], r["topic"], r["score"]) for r in topics] == [("a000001", "energy", 0.8),
                                                                           ("a000001", "sanctions", 0.8)]
    assert topics[0]["published_at"] == dt.datetime(2026, 3, 15, 9, tzinfo=dt.timezone.utc)
    assert topics[0]["evidence"] == "Text" and topics[0]["story_id"] == "s-a000001"
    stories = _roundtrip(TABLE_BY_NAME["stories"], rows["stories"])[0]
    assert stories["article_ids"] == ["a000001", "a000002"] and stories["article_count"] == 2
    assert stories["languages"] == ["en", "ru"] and stories["sources"] == ["a.example", "b.example"]
    assert [t["name"] for t in stories["topics"]] == ["energy", "sanctions"]
    dead_back = _roundtrip(TABLE_BY_NAME["dead_letters"], rows["dead_letters"])[0]
    assert dead_back["reason"] == "line N is N bytes" and dead_back["error"] == dead["error"]


def test_article_row_keeps_the_record():
    a = article(7, story=3, day=DAY, status="exact_duplicate")
    row = article_row(a)
    assert row["dedup_status"] == "exact_duplicate" and row["dedup_duplicate_of"] == "a000006"
    assert row["published_at"].isoformat() == "2026-03-15T15:00:00+00:00"
    assert row["topics"][0]["evidence"][0] == {"field": "text", "text": "Text", "start": 0, "end": 4}


def test_untagged_article_has_no_topic_rows():
    assert topic_rows(article(1, story=1, day=DAY, topics=())) == []


def test_partitions_and_paths():
    articles, topics, dead = TABLE_BY_NAME["articles"], TABLE_BY_NAME["topics"], TABLE_BY_NAME["dead_letters"]
    row = article_row(article(1, story=1, day=DAY))
    assert partition_of(articles, row) == "2026-03-15"
    assert partition_of(articles, {**row, "published_at": None}) == "unknown"
    assert partition_of(dead, dead_letter_row({"error": "x"})) is None
    assert relative_path(topics, "2026-03-15", 2) == "topics_parquet/published_date=2026-03-15/part-002.parquet"
    assert relative_path(dead, None, 0) == "dead_letter_parquet/part-000.parquet"
    assert len({t.folder for t in TABLES}) == len(TABLES) == 4


def test_same_rows_same_bytes_whatever_their_order():
    rows = [topic_rows(article(i, story=i, day=DAY, topics=("sanctions", "energy"))) for i in range(5)]
    flat = [r for rs in rows for r in rs]
    table = TABLE_BY_NAME["topics"]
    assert parquet_bytes(table, flat) == parquet_bytes(table, list(reversed(flat)))


def test_a_row_that_does_not_fit_is_loud():
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        parquet_bytes(TABLE_BY_NAME["stories"], [{**story_row({"story_id": "s"}), "article_count": "many"}])


def test_a_record_and_its_rows_share_partition_and_shard():
    from transforms.io.tables import shard_of, source_key, tables_of

    a = article(5, story=1, day=DAY, topics=("sanctions", "energy"))
    undated = {**article(6, story=1, day=DAY), "published_at": None}
    for record in (a, undated):
        partition, shard = source_key("articles", record, 4)
        for table in tables_of("articles"):
            for row in table.rows(record):
                assert partition_of(table, row) == partition
                assert shard_of(row[table.order[0]], 4) == shard
    story = story_row(build_story("s-a000005", [story_member(a)]))
    assert source_key("stories", build_story("s-a000005", [story_member(a)]), 1) == (
        partition_of(TABLE_BY_NAME["stories"], story), 0)
    assert source_key("dead_letter", {"source": "x"}, 1) == ("", 0)
    assert [t.name for t in tables_of("articles")] == ["articles", "topics"]


def test_only_the_named_columns_get_a_dictionary():
    """Every dictionary column exists (a misspelt one would be silently plain), and only they have one."""
    for table in TABLES:
        rows = [r for i in range(3) for r in table.rows(_record(table, i))]
        meta = pq.ParquetFile(io.BytesIO(parquet_bytes(table, rows))).metadata.row_group(0)
        encoded = {meta.column(i).path_in_schema for i in range(meta.num_columns)
                   if "RLE_DICTIONARY" in meta.column(i).encodings}
        assert encoded == set(table.dictionary), table.name


def _record(table, i):
    a = article(i, story=i, day=DAY, topics=("sanctions", "energy"))
    a["places"] = [{"geonameid": 1, "name": "Kyiv", "country": "UA", "kind": "city", "mentions": 1, "evidence": []}]
    a["organisations"] = [{"id": "Q1", "name": "EU", "mentions": 1, "evidence": []}]
    a["mentions"] = a["topics"]
    if table.output == "stories":
        return {**build_story(a["story_id"], [story_member(a)]), "places": [
            {"geonameid": 1, "name": "Kyiv", "country": "UA", "kind": "city", "articles": 1}]}
    if table.output == "dead_letter":
        return {"source": f"in#line {i}", "stage": "read", "error": "not JSON", "excerpt": "{"}
    return a
