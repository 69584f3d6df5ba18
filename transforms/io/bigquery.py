"""The analyst tables in BigQuery (``--bigquery_dataset PROJECT:DATASET``).

The same four tables as the Parquet files (``tables.py``), with BigQuery schemas derived
from the Arrow ones plus ``published_date`` (DATE, the partitioning column; NULL when
undated). Main tables are partitioned by day on ``published_date`` and clustered
(:data:`CLUSTERING`).

- **Batch** (``FILE_LOADS``): each run loads into its own staging tables
  ``_staging_<table>_<run>`` (``WRITE_TRUNCATE``: a retried load replaces, never adds); when
  the job has succeeded the launcher (``pipeline/bigquery.py``) MERGEs them into the main
  tables on each table's :data:`MERGE_KEYS` (inserting only rows not there yet) and drops
  them. A re-run of the same run, or of the same inputs, adds no row twice.
- **Streaming** (``STORAGE_WRITE_API``): rows go straight into the main tables.

Everything here is pure or builds the graph; no call is made while the graph is built.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import apache_beam as beam
import pyarrow as pa

from transforms.io.tables import PARTITION_KEY, TABLES, Table

STAGING_PREFIX = "_staging_"
CLUSTERING = {
    "articles": ["language", "source"],
    "stories": ["story_id"],
    "topics": ["topic", "language"],
    "dead_letters": ["stage"],
}
MERGE_KEYS = {  # what makes a row the same row again (a re-run's copy)
    "articles": ("id",),
    "stories": ("story_id", "TO_JSON_STRING(article_ids)"),  # with --state one story has a row per run's members
    "topics": ("article_id", "topic"),
    "dead_letters": ("source", "stage", "error"),
}
_DATASET = re.compile(r"^(?P<project>[a-z][a-z0-9.:-]{4,61}[a-z0-9]):(?P<dataset>[A-Za-z0-9_]{1,1024})$")


class BigQueryError(ValueError):
    """A bad ``--bigquery_dataset``; the message is for a person."""


@dataclasses.dataclass(frozen=True)
class BigQueryTarget:
    project: str
    dataset: str
    run: str  # names this run's staging tables (batch)
    streaming: bool = False

    def table(self, name: str) -> str:
        """``PROJECT:DATASET.TABLE`` of a main table."""
        return f"{self.project}:{self.dataset}.{name}"

    def staging(self, name: str) -> str:
        return f"{self.project}:{self.dataset}.{STAGING_PREFIX}{name}_{self.run}"


def parse_dataset(value: str, run: str, streaming: bool = False) -> BigQueryTarget:
    """``PROJECT:DATASET`` (as ``--bigquery_dataset`` takes it) into a target."""
    match = _DATASET.match(value or "")
    if not match:
        raise BigQueryError(f"--bigquery_dataset must be PROJECT:DATASET, got {value!r}")
    if not re.fullmatch(r"[A-Za-z0-9_]+", run):
        raise BigQueryError(f"run id {run!r} is not a table-name suffix")
    return BigQueryTarget(match["project"], match["dataset"], run, streaming)


_TYPES = (
    (pa.types.is_string, "STRING"),
    (pa.types.is_floating, "FLOAT"),
    (pa.types.is_integer, "INTEGER"),
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_timestamp, "TIMESTAMP"),
    (pa.types.is_date, "DATE"),
)


def bq_field(field: pa.Field) -> dict:
    """One Arrow field as a BigQuery field (lists are REPEATED, structs RECORD)."""
    kind, mode = field.type, "NULLABLE"
    if pa.types.is_list(kind):
        kind, mode = kind.value_type, "REPEATED"
    if pa.types.is_struct(kind):
        return {"name": field.name, "type": "RECORD", "mode": mode,
                "fields": [bq_field(kind.field(i)) for i in range(kind.num_fields)]}
    for test, name in _TYPES:
        if test(kind):
            return {"name": field.name, "type": name, "mode": mode}
    raise TypeError(f"no BigQuery type for {field.name}: {kind}")


def bq_schema(table: Table) -> dict:
    """The table's BigQuery schema: its columns, then ``published_date`` (DATE)."""
    fields = [bq_field(table.schema.field(i)) for i in range(len(table.schema))]
    fields.append({"name": PARTITION_KEY, "type": "DATE", "mode": "NULLABLE"})
    return {"fields": fields}


def table_parameters(table: Table) -> dict:
    """How a main table is created: day partitions on ``published_date``, clustering."""
    params: dict[str, Any] = {"clustering": {"fields": CLUSTERING[table.name]}}
    if table.date_column is not None:
        params["timePartitioning"] = {"type": "DAY", "field": PARTITION_KEY}
    return params


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def bq_row(table: Table, row: dict) -> dict:
    """A row of ``table`` (``tables.py``) as BigQuery JSON: times as ISO strings, plus ``published_date``."""
    out = {k: _json(v) for k, v in row.items()}
    moment = row.get(table.date_column) if table.date_column else None
    out[PARTITION_KEY] = moment.strftime("%Y-%m-%d") if moment is not None else None
    return out


def _quoted(target: BigQueryTarget, table: str) -> str:
    return f"`{target.project}.{target.dataset}.{table}`"


def merge_sql(target: BigQueryTarget, table: Table) -> str:
    """The statement that adds a run's staged rows to the main table, skipping rows already there."""
    keys = MERGE_KEYS[table.name]
    on = " AND ".join(
        f"{k.replace('(', '(T.', 1) if '(' in k else 'T.' + k} = {k.replace('(', '(S.', 1) if '(' in k else 'S.' + k}"
        for k in keys
    )
    if table.date_column is not None:  # rows of a key share its date: prunes the main table's partitions
        on = f"T.{PARTITION_KEY} IS NOT DISTINCT FROM S.{PARTITION_KEY} AND {on}"
    staging = f"{STAGING_PREFIX}{table.name}_{target.run}"
    return (
        f"MERGE {_quoted(target, table.name)} T\n"
        f"USING (SELECT * FROM {_quoted(target, staging)}) S\n"
        f"ON {on}\n"
        "WHEN NOT MATCHED THEN INSERT ROW"
    )


def _rows_fn(table: Table):
    def rows(record: dict) -> list[dict]:
        return [bq_row(table, r) for r in table.rows(record)]

    return rows


class WriteBigQuery(beam.PTransform):
    """Write the analyst tables to BigQuery (batch: the run's staging tables; streaming: the main tables).

    Applied to the pipeline's outputs ``{"articles", "stories", "dead_letter"}``."""

    def __init__(self, target: BigQueryTarget) -> None:
        super().__init__()
        self._target = target

    def expand(self, outputs: dict[str, beam.PCollection]) -> None:
        from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery

        target = self._target
        for table in TABLES:
            rows = outputs[table.output] | f"{table.label}BigQueryRows" >> beam.FlatMap(_rows_fn(table))
            if target.streaming:
                sink = WriteToBigQuery(
                    target.table(table.name),
                    schema=bq_schema(table),
                    method=WriteToBigQuery.Method.STORAGE_WRITE_API,
                    create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
                    write_disposition=BigQueryDisposition.WRITE_APPEND,
                    additional_bq_parameters=table_parameters(table),
                )
            else:
                sink = WriteToBigQuery(
                    target.staging(table.name),
                    schema=bq_schema(table),
                    method=WriteToBigQuery.Method.FILE_LOADS,
                    create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
                    write_disposition=BigQueryDisposition.WRITE_TRUNCATE,
                )
            rows | f"Write{table.label}ToBigQuery" >> sink
