"""The analyst tables as Parquet: a thin Beam wrapper over ``tables.py`` and ``parquetparts.py``
(``output.format: both``).

Beside the JSON Lines (the contract), every run writes the four tables of
:data:`transforms.io.tables.TABLES` (articles, stories, topics, dead letters) with
explicit schemas, partitioned by publication date, under ``--output`` (local or
``gs://``): the layout is in ``tables.py``. Per pipeline output (articles, stories, dead
letters): each bundle writes its rows straight to Parquet pieces, one per table, date and shard
(an article's topic rows share its date and shard), under temporary names; a bundle's share of
a date under 1 MiB travels as Arrow IPC instead. Only those pieces cross a shuffle, keyed by
(table, date, shard), and a last step names them (small ones merged: ``parquetparts.plan_files``).
Article texts of a large run never cross a shuffle: that shuffle of every row as Arrow IPC cost
~10 % of a 100,000-article run's CPU (docs/performance.md). A file appears under its final name
only when complete, so readers never see half a file; a retried bundle's pieces are never named.

Counters (namespace ``newsbeam.parquet``): ``files``, ``rows``, ``pieces``.
"""

from __future__ import annotations

import collections
import uuid
from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms.io.parquetparts import Piece, PieceWriter, publish_pieces, temp_path
from transforms.io.tables import PARTITION_KEY, SOURCES, TABLE_BY_NAME, source_key, tables_of

PARQUET_DIR = "articles_parquet"  # the articles' folder, the first of tables.PARQUET_FOLDERS
__all__ = ["PARQUET_DIR", "PARTITION_KEY", "WriteParquet", "write_atomically"]
_LABELS = {"articles": "Articles", "stories": "Stories", "dead_letter": "DeadLetters"}
# a bundle's rows of a partition under this (as Arrow) cross the shuffle and are merged into
# files of up to this size: no tiny files; larger ones are written where they are
COMPACT_BYTES = 2**20


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


PieceKey = tuple[str, str, int]  # (table name, partition or "" when not partitioned, shard)


class _WritePieces(beam.DoFn):
    """A bundle's records of one output -> Parquet pieces per table, partition and shard.

    A piece's rows are turned into an Arrow chunk at ``batch_rows`` (and the fullest pieces'
    when the bundle holds ``limit`` rows as dicts); its chunks are written as one row group at
    ``row_group_bytes`` (and the largest pieces' when the bundle holds ``max_bytes`` of chunks),
    else when the bundle finishes. At most ``max_open`` pieces are open files: past that, the
    least recently written one is finished (a backfill over years of dates must not run out of
    file handles) and a later row of its partition starts a new piece. Emits
    ``(PieceKey, Piece)`` per finished piece."""

    def __init__(self, output_dir: str, source: str, shards: int, batch_rows: int = 1024, limit: int = 4096,
                 row_group_bytes: int = 16 * 2**20, max_bytes: int = 64 * 2**20, max_open: int = 96,
                 small_bytes: int = 0) -> None:
        self._output_dir = output_dir.rstrip("/")
        self._source = source
        self._shards = shards
        self._batch_rows = batch_rows
        self._limit = limit
        self._row_group_bytes = row_group_bytes
        self._max_bytes = max_bytes
        self._max_open = max(1, max_open)
        self._small_bytes = small_bytes

    def start_bundle(self) -> None:
        self._tables = tables_of(self._source)
        self._pieces: dict[tuple[int, str, int], PieceWriter] = {}
        self._open: collections.OrderedDict[tuple[int, str, int], None] = collections.OrderedDict()
        self._held = 0  # rows held as dicts
        self._bytes = 0  # bytes held as Arrow chunks

    def _finished(self, key: tuple[int, str, int], writer: PieceWriter) -> list[tuple[PieceKey, Piece]]:
        self._held -= len(writer.held)
        self._bytes -= writer.chunk_bytes
        piece = writer.close()
        return [] if piece is None else [((self._tables[key[0]].name, key[1], key[2]), piece)]

    def _convert(self, writer: PieceWriter) -> None:
        self._held -= len(writer.held)
        self._bytes += writer.convert()

    def _spill(self, key: tuple[int, str, int]) -> Iterator[tuple[PieceKey, Piece]]:
        writer = self._pieces[key]
        self._held -= len(writer.held)
        self._bytes -= writer.chunk_bytes
        writer.spill()
        if not writer.is_open:
            return
        self._open[key] = None
        self._open.move_to_end(key)
        while len(self._open) > self._max_open:
            oldest, _ = self._open.popitem(last=False)
            yield from self._finished(oldest, self._pieces.pop(oldest))

    def process(self, record: dict) -> Iterator[tuple[PieceKey, Piece]]:
        partition, shard = source_key(self._source, record, self._shards)
        for i, table in enumerate(self._tables):
            rows = table.rows(record)
            if not rows:
                continue
            key = (i, partition, shard)
            writer = self._pieces.get(key)
            if writer is None:
                writer = self._pieces[key] = PieceWriter(table, temp_path(self._output_dir, table, partition or None))
            self._held += writer.add(rows)
            if len(writer.held) >= self._batch_rows:
                self._convert(writer)
                if writer.chunk_bytes >= self._row_group_bytes:
                    yield from self._spill(key)
        if self._held >= self._limit:
            for writer in sorted(self._pieces.values(), key=lambda w: -len(w.held)):
                self._convert(writer)
                if self._held <= self._limit // 2:
                    break
        if self._bytes >= self._max_bytes:
            for key in sorted(self._pieces, key=lambda k: -self._pieces[k].chunk_bytes):
                if key in self._pieces:  # not finished by an earlier spill of this loop
                    yield from self._spill(key)
                if self._bytes <= self._max_bytes // 2:
                    break

    def finish_bundle(self) -> Iterable[WindowedValue]:
        pieces, self._pieces, self._held, self._bytes = self._pieces, {}, 0, 0
        self._open.clear()
        for key, writer in sorted(pieces.items()):
            piece = writer.close(self._small_bytes)
            if piece is not None:
                item = ((self._tables[key[0]].name, key[1], key[2]), piece)
                yield WindowedValue(item, MIN_TIMESTAMP, [GlobalWindow()])


class _PublishPieces(beam.DoFn):
    """The committed pieces of one (table, partition, shard) -> its files."""

    def __init__(self, output_dir: str, compact_bytes: int) -> None:
        self._output_dir = output_dir.rstrip("/")
        self._compact_bytes = compact_bytes
        self._files = Metrics.counter("newsbeam.parquet", "files")
        self._rows = Metrics.counter("newsbeam.parquet", "rows")
        self._pieces = Metrics.counter("newsbeam.parquet", "pieces")

    def process(self, element: tuple[PieceKey, Iterable[Piece]]) -> Iterable[str]:
        (name, partition, shard), pieces = element
        pieces = list(pieces)
        self._pieces.inc(len(pieces))
        written = publish_pieces(self._output_dir, TABLE_BY_NAME[name], partition or None, shard, pieces,
                                 self._compact_bytes)
        for path, rows in written:
            self._files.inc()
            self._rows.inc(rows)
            yield path


class WriteParquet(beam.PTransform):
    """Write the analyst tables as Parquet under ``output``.

    Applied to the pipeline's outputs ``{"articles", "stories", "dead_letter"}``; returns
    the PCollection of written file paths. ``shards``: pieces per bundle, date and table (by a
    hash of the id); ``batch_rows``: rows of a piece held as dicts before they become an Arrow
    chunk; ``row_group_bytes``: Arrow bytes of a piece held before they are written as a row group;
    ``compact_bytes``: pieces under this size are merged (see ``parquetparts.plan_files``);
    ``max_open``: pieces a bundle keeps open as files."""

    def __init__(self, output: str, shards: int = 1, batch_rows: int = 1024, compact_bytes: int = COMPACT_BYTES,
                 max_open: int = 96, row_group_bytes: int = 16 * 2**20) -> None:
        super().__init__()
        self._output = output
        self._shards = max(1, shards)
        self._batch_rows = max(1, batch_rows)
        self._compact_bytes = max(0, compact_bytes)
        self._max_open = max(1, max_open)
        self._row_group_bytes = max(1, row_group_bytes)

    def expand(self, outputs: dict[str, beam.PCollection]) -> beam.PCollection:
        pieces = [
            outputs[source]
            | f"Write{_LABELS[source]}Tables" >> beam.ParDo(
                _WritePieces(self._output, source, self._shards, self._batch_rows, 4 * self._batch_rows,
                             self._row_group_bytes, 4 * self._row_group_bytes, self._max_open, self._compact_bytes)
            )
            for source in SOURCES
        ]
        return (
            pieces
            | "FlattenPieces" >> beam.Flatten()
            | "GroupPiecesByFile" >> beam.GroupByKey()
            | "PublishPieces" >> beam.ParDo(_PublishPieces(self._output, self._compact_bytes))
        )
