"""The analyst tables as Parquet: a thin Beam wrapper over ``tables.py`` (``output.format: both``).

Beside the JSON Lines (the contract), every run writes the four tables of
:data:`transforms.io.tables.TABLES` (articles, stories, topics, dead letters) with
explicit schemas, partitioned by publication date, under ``--output`` (local or
``gs://``): the layout is in ``tables.py``. Per table: rows -> key by (date, shard) ->
group -> one file per group. A file is written under a temporary name in its folder
and renamed when complete, so readers never see half a file.

Counters (namespace ``newsbeam.parquet``): ``files``, ``rows``.
"""

from __future__ import annotations

import uuid
from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.io.tables import (
    PARTITION_KEY,
    TABLES,
    Table,
    parquet_bytes,
    partition_of,
    relative_path,
    shard_of,
)

PARQUET_DIR = "articles_parquet"  # the articles' folder, the first of tables.PARQUET_FOLDERS
__all__ = ["PARQUET_DIR", "PARTITION_KEY", "WriteParquet", "write_atomically"]


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` beside ``path`` under a temporary name, then rename it into place."""
    folder = path.rsplit("/", 1)[0]
    if "://" not in path and not FileSystems.exists(folder):
        try:
            FileSystems.mkdirs(folder)
        except IOError:
            if not FileSystems.exists(folder):
                raise
    temp = FileSystems.join(folder, f".tmp-{uuid.uuid4().hex}")
    with FileSystems.create(temp) as fh:
        fh.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temp], [path])


class _WriteFile(beam.DoFn):
    def __init__(self, output: str, table: Table) -> None:
        self._output = output.rstrip("/")
        self._table = table
        self._files = Metrics.counter("newsbeam.parquet", "files")
        self._rows = Metrics.counter("newsbeam.parquet", "rows")

    def process(self, element: tuple[tuple[str, int], Iterable[dict]]) -> Iterable[str]:
        (partition, shard), rows = element
        rows = list(rows)
        path = FileSystems.join(self._output, relative_path(self._table, partition or None, shard))
        write_atomically(path, parquet_bytes(self._table, rows))
        self._files.inc()
        self._rows.inc(len(rows))
        yield path


def _keyed(table: Table, shards: int):
    first = table.order[0]

    def key(row: dict) -> tuple[tuple[str, int], dict]:
        # "" for an unpartitioned table: grouping keys stay (str, int)
        return (partition_of(table, row) or "", shard_of(row[first], shards)), row

    return key


class WriteParquet(beam.PTransform):
    """Write the analyst tables as Parquet under ``output``.

    Applied to the pipeline's outputs ``{"articles", "stories", "dead_letter"}``; returns
    the PCollection of written file paths. ``shards``: files per date and table."""

    def __init__(self, output: str, shards: int = 1) -> None:
        super().__init__()
        self._output = output
        self._shards = max(1, shards)

    def expand(self, outputs: dict[str, beam.PCollection]) -> beam.PCollection:
        written = []
        for table in TABLES:
            written.append(
                outputs[table.output]
                | f"{table.label}Rows" >> beam.FlatMap(table.rows)
                | f"Key{table.label}ByDateShard" >> beam.Map(_keyed(table, self._shards))
                | f"Group{table.label}ByDateShard" >> beam.GroupByKey()
                | f"Write{table.label}Files" >> beam.ParDo(_WriteFile(self._output, table))
            )
        return written | "FlattenWritten" >> beam.Flatten()
