"""The BigQuery tables offline: schemas against real records, rows, MERGE statements, the
Dataflow job graph with the sink translated by --dry_run."""

import datetime as dt
import json

import pytest

from tests.support.tables import article
from transforms.io.bigquery import (
    MERGE_KEYS,
    BigQueryError,
    bq_row,
    bq_schema,
    merge_sql,
    parse_dataset,
    table_parameters,
)
from transforms.io.tables import TABLE_BY_NAME, TABLES
from transforms.stories.records import build_story, story_member

DAY = dt.date(2026, 3, 15)
BQ_TYPES = {"STRING": str, "FLOAT": float, "INTEGER": int, "TIMESTAMP": str, "DATE": str}


def _check(fields, row, where):
    """Every field of ``row`` is in the schema with a value of its type; every schema field is in the row."""
    by_name = {f["name"]: f for f in fields}
    assert set(row) == set(by_name), where
    for name, value in row.items():
        field = by_name[name]
        values = value if field["mode"] == "REPEATED" else [value]
        assert field["mode"] != "REPEATED" or isinstance(value, list), f"{where}.{name}"
        for v in values:
            if v is None:
                assert field["mode"] == "NULLABLE", f"{where}.{name}"
            elif field["type"] == "RECORD":
                _check(field["fields"], v, f"{where}.{name}")
            else:
                assert isinstance(v, BQ_TYPES[field["type"]]), f"{where}.{name}: {v!r}"


def _records():
    a = article(1, story=1, day=DAY, topics=("sanctions", "energy"))
    b = article(2, story=1, day=DAY, topics=(), language="ru")
    b["published_at"] = None
    return {
        "articles": [a, b],
        "stories": [build_story("s-a000001", [story_member(a), story_member(b)])],
        "dead_letter": [{"source": "x#line 1", "stage": "read", "error": "bad", "excerpt": "{"}],
    }


def test_schemas_fit_the_records():
    records = _records()
    for table in TABLES:
        schema = bq_schema(table)["fields"]
        rows = [bq_row(table, r) for record in records[table.output] for r in table.rows(record)]
        assert rows, table.name
        for row in rows:
            _check(schema, row, table.name)
            json.dumps(row)  # FILE_LOADS writes JSON
    articles = [bq_row(TABLE_BY_NAME["articles"], r) for a in records["articles"] for r in
                TABLE_BY_NAME["articles"].rows(a)]
    assert articles[0]["published_date"] == "2026-03-15" and articles[0]["published_at"] == "2026-03-15T09:00:00Z"
    assert articles[1]["published_date"] is None
    topics = {f["name"]: f for f in bq_schema(TABLE_BY_NAME["articles"])["fields"]}["topics"]
    assert topics["mode"] == "REPEATED" and topics["type"] == "RECORD"


def test_partitioning_and_clustering():
    assert table_parameters(TABLE_BY_NAME["topics"]) == {
        "clustering": {"fields": ["topic", "language"]},
        "timePartitioning": {"type": "DAY", "field": "published_date"},
    }
    assert "timePartitioning" not in table_parameters(TABLE_BY_NAME["dead_letters"])


def test_dataset_flag_and_merge_statement():
    target = parse_dataset("my-project:news_ds", run="abc123")
    assert target.table("topics") == "my-project:news_ds.topics"
    assert target.staging("topics") == "my-project:news_ds._staging_topics_abc123"
    for bad in ("news_ds", "my-project.news_ds", "my-project:news-ds", ""):
        with pytest.raises(BigQueryError):
            parse_dataset(bad, run="abc")
    sql = merge_sql(target, TABLE_BY_NAME["stories"])
    assert sql.startswith("MERGE `my-project.news_ds.stories` T\nUSING (SELECT * FROM `my-project.news_ds._staging_stories_abc123`) S")
    assert "T.published_date IS NOT DISTINCT FROM S.published_date" in sql
    assert "TO_JSON_STRING(T.article_ids) = TO_JSON_STRING(S.article_ids)" in sql and "T.story_id = S.story_id" in sql
    assert sql.endswith("WHEN NOT MATCHED THEN INSERT ROW")
    dead = merge_sql(target, TABLE_BY_NAME["dead_letters"])
    assert "published_date" not in dead and "T.source = S.source AND T.stage = S.stage" in dead
    assert set(MERGE_KEYS) == {t.name for t in TABLES}


@pytest.mark.e2e  # Beam stages the job: python setup.py sdist and pip freeze in child processes
def test_dataflow_dry_run_translates_the_bigquery_sink():
    from pipeline.main import run

    summary = run([
        "--runner", "DataflowRunner", "--dry_run=True", "--project", "newsbeam-test", "--region", "europe-west1",
        "--temp_location", "gs://newsbeam-test/tmp", "--setup_file", "./setup.py",
        "--input", "gs://newsbeam-test/in/*.jsonl", "--output", "gs://newsbeam-test/out",
        "--bigquery_dataset", "newsbeam-test:news",
    ])
    assert summary["dry_run"] is True
    names = set(summary["transforms"])
    for label in ("Articles", "Stories", "Topics", "DeadLetters"):
        assert f"WriteBigQuery/Write{label}ToBigQuery" in names
    for label in ("Articles", "Stories", "DeadLetters"):
        assert f"WriteParquet/Write{label}Tables" in names
    assert any(n.startswith("WriteBigQuery/WriteTopicsToBigQuery/BigQueryBatchFileLoads") for n in names), sorted(
        n for n in names if "Topics" in n)


class RecordingClient:
    """Stands in for google.cloud.bigquery.Client, which needs the real service: records the calls
    ``pipeline.bigquery.publish`` makes, in order (no BigQuery runs offline)."""

    def __init__(self, staged):
        self.staged, self.calls = set(staged), []

    def get_table(self, table_id):
        from google.api_core.exceptions import NotFound

        self.calls.append(("get", table_id))
        if table_id.rsplit(".", 1)[1] not in self.staged:
            raise NotFound(table_id)

    def create_table(self, table, exists_ok):
        self.calls.append(("create", table.table_id, table.time_partitioning and table.time_partitioning.field,
                           tuple(table.clustering_fields), exists_ok))

    def query(self, sql):
        self.calls.append(("query", sql.split("\n")[0]))

        class Job:
            num_dml_affected_rows = 3

            def result(self):
                return None

        return Job()

    def delete_table(self, table_id, not_found_ok):
        self.calls.append(("delete", table_id))


def test_publish_merges_each_staged_table_then_drops_it():
    from pipeline.bigquery import publish

    target = parse_dataset("my-project:news", run="r1")
    client = RecordingClient({"_staging_articles_r1", "_staging_topics_r1"})
    added = publish(target, client)
    assert added == {"articles": 3, "stories": 0, "topics": 3, "dead_letters": 0}
    assert client.calls[:4] == [
        ("get", "my-project.news._staging_articles_r1"),
        ("create", "articles", "published_date", ("language", "source"), True),
        ("query", "MERGE `my-project.news.articles` T"),
        ("delete", "my-project.news._staging_articles_r1"),
    ]
    assert ("get", "my-project.news._staging_stories_r1") in client.calls
    assert not any(c[0] == "create" and c[1] == "stories" for c in client.calls)
