"""bench/sameoutputs.py tells equal outputs from different ones, whatever their order and sharding."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from bench.sameoutputs import compare, main


def _write(root, articles, shards=1, rows=(), run="a"):
    (root / "articles").mkdir(parents=True)
    for i in range(shards):
        part = articles[i::shards]
        (root / "articles" / f"articles-{i:05d}-of-{shards:05d}.jsonl").write_text("".join(a + "\n" for a in part))
    table = root / "articles_parquet" / "published_date=2025-03-01"
    table.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(list(rows) or [{"id": "x"}]), table / "part-000.parquet")
    (root / "summary.json").write_text(json.dumps({"articles": len(articles), "run": {"started_at": run}, "seconds": 1}))


def test_the_same_records_in_another_order_and_sharding_are_identical(tmp_path):
    lines = [json.dumps({"id": str(i)}) for i in range(5)]
    _write(tmp_path / "a", lines, rows=[{"id": "1"}, {"id": "2"}])
    _write(tmp_path / "b", lines[::-1], shards=2, rows=[{"id": "2"}, {"id": "1"}], run="b")
    same, line = compare(str(tmp_path / "a"), str(tmp_path / "b"))
    assert same, line
    assert "2 tables, 7 records" in line


def test_one_changed_record_or_row_is_a_difference(tmp_path):
    lines = [json.dumps({"id": str(i)}) for i in range(5)]
    _write(tmp_path / "a", lines, rows=[{"id": "1"}])
    _write(tmp_path / "b", lines[:-1] + ['{"id": "other"}'], rows=[{"id": "1"}])
    _write(tmp_path / "c", lines, rows=[{"id": "2"}])
    assert compare(str(tmp_path / "a"), str(tmp_path / "b"))[0] is False
    assert compare(str(tmp_path / "a"), str(tmp_path / "c"))[0] is False
    assert main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    assert main([str(tmp_path / "a"), str(tmp_path / "a")]) == 0
