"""Parquet files written where the rows are, then named: pieces, and how they become the tables' files.

A bundle writes each (table, partition, shard) it has rows for straight to one *piece*, a Parquet
file under a temporary name (``.tmp-<uuid>.parquet``, beside the final file, which readers and the
publication skip): rows are held in small batches and written as row groups, so article texts
never cross a shuffle and a bundle holds at most a few thousand rows. A piece whose rows all fit in
one batch is written whole and sorted by the table's order (the bytes ``tables.parquet_bytes``
gives). What crosses the shuffle is a :class:`Piece`: its temporary path, rows, bytes and first key.

Once every bundle is committed, :func:`plan_files` names the files of a (table, partition, shard):
pieces under ``compact_bytes`` are merged, in key order, into files of up to ``compact_bytes``
(rows sorted), larger ones are renamed as they are. One file is ``part-SSS.parquet`` (the
name of a single-file partition, as before); several are ``part-SSS-KKK.parquet``. Only the pieces
of committed bundles are named: a retried bundle's pieces stay temporary and go with the staging
folder.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.io.tables import Table, arrow_table, parquet_of, relative_path, write_options

TEMP_PREFIX = ".tmp-"


@dataclasses.dataclass(frozen=True, order=True)
class Piece:
    """A temporary Parquet file of one bundle: what its publication needs to know."""

    first_key: tuple[str, ...]  # the smallest order key of its rows ("" for None): pieces sort by it
    rows: int
    size: int  # bytes
    path: str  # its temporary path


def order_key(table: Table, row: dict) -> tuple[str, ...]:
    return tuple("" if row.get(c) is None else str(row.get(c)) for c in table.order)


def temp_path(output_dir: str, table: Table, partition: str | None) -> str:
    """A fresh temporary file in the folder of ``table``'s ``partition``."""
    folder = FileSystems.join(output_dir.rstrip("/"), relative_path(table, partition, 0).rsplit("/", 1)[0])
    return FileSystems.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}.parquet")


def _create(path: str):
    if "://" not in path:
        folder = path.rsplit("/", 1)[0]
        if not FileSystems.exists(folder):
            try:
                FileSystems.mkdirs(folder)
            except IOError:
                if not FileSystems.exists(folder):
                    raise
    return FileSystems.create(path, mime_type="application/octet-stream")


class _Counting:
    """A writable file that counts the bytes through it (the piece's size, without a stat)."""

    def __init__(self, fh) -> None:
        self._fh = fh
        self.size = 0
        self.closed = False

    def write(self, data) -> int:
        self._fh.write(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


class PieceWriter:
    """The rows of one table, partition and shard in one bundle, written to one piece.

    ``add`` holds rows; ``spill`` writes the held rows as a row group (sorted among
    themselves), opening the file on the first spill; ``close`` writes the rest and returns
    the :class:`Piece` (None when it got no rows)."""

    def __init__(self, table: Table, path: str) -> None:
        self.table = table
        self.path = path
        self.held: list[dict] = []
        self._rows = 0
        self._first: tuple[str, ...] | None = None
        self._writer: pq.ParquetWriter | None = None
        self._file: _Counting | None = None

    def add(self, rows: Iterable[dict]) -> int:
        count = 0
        for row in rows:
            key = order_key(self.table, row)
            if self._first is None or key < self._first:
                self._first = key
            self.held.append(row)
            count += 1
        return count

    @property
    def is_open(self) -> bool:
        """Whether its file is open (it has spilled and is not closed)."""
        return self._writer is not None and not self._file.closed

    def _sorted(self) -> pa.Table:
        return arrow_table(self.table, sorted(self.held, key=lambda r: order_key(self.table, r)))

    def spill(self) -> int:
        """Write the held rows as one row group; return how many were written."""
        if not self.held:
            return 0
        arrow = self._sorted()
        if self._writer is None:
            self._file = _Counting(_create(self.path))
            self._writer = pq.ParquetWriter(self._file, self.table.schema, **write_options(self.table))
        self._writer.write_table(arrow)
        written = len(self.held)
        self._rows += written
        self.held = []
        return written

    def close(self) -> Piece | None:
        if self._writer is None:  # never spilled: one sorted file, as tables.parquet_bytes writes it
            if not self.held:
                return None
            data = parquet_of(self.table, [arrow_table(self.table, self.held)])
            with _create(self.path) as fh:
                fh.write(data)
            rows, size = len(self.held), len(data)
            self.held = []
        else:
            self.spill()
            self._writer.close()
            self._file.close()
            rows, size = self._rows, self._file.size
        return Piece(self._first or (), rows, size, self.path)


def plan_files(pieces: Iterable[Piece], compact_bytes: int) -> list[list[Piece]]:
    """The files of one (table, partition, shard), each as the pieces it is made of, in key
    order: consecutive pieces under ``compact_bytes`` merged up to ``compact_bytes`` together,
    larger pieces alone. The same pieces give the same plan whatever order they came in."""
    files: list[list[Piece]] = []
    run: list[Piece] = []
    run_bytes = 0
    for piece in sorted(pieces):
        if piece.size >= compact_bytes:
            if run:
                files.append(run)
                run, run_bytes = [], 0
            files.append([piece])
            continue
        if run and run_bytes + piece.size > compact_bytes:
            files.append(run)
            run, run_bytes = [], 0
        run.append(piece)
        run_bytes += piece.size
    if run:
        files.append(run)
    return files


def file_names(table: Table, partition: str | None, shard: int, count: int) -> list[str]:
    """The relative paths of ``count`` files: ``part-SSS.parquet`` alone, else ``part-SSS-KKK.parquet``."""
    single = relative_path(table, partition, shard)
    if count == 1:
        return [single]
    stem = single[: -len(".parquet")]
    return [f"{stem}-{k:03d}.parquet" for k in range(count)]


def _read(table: Table, path: str) -> pa.Table:
    """A piece read back with its table's schema (Parquet keeps second timestamps as ms)."""
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        return pq.read_table(pa.BufferReader(fh.read())).cast(table.schema)


def _delete(paths: Sequence[str]) -> None:
    present = [p for p in paths if FileSystems.exists(p)]
    if present:
        FileSystems.delete(present)


def publish_pieces(output_dir: str, table: Table, partition: str | None, shard: int, pieces: Iterable[Piece],
                   compact_bytes: int) -> list[tuple[str, int]]:
    """Turn the committed pieces of one (table, partition, shard) into its files under
    ``output_dir``; return ``(path, rows)`` per file. Safe to repeat after an interruption:
    a file already in place whose pieces are gone is kept."""
    plan = plan_files(pieces, compact_bytes)
    names = file_names(table, partition, shard, len(plan))
    written = []
    for group, name in zip(plan, names):
        target = FileSystems.join(output_dir.rstrip("/"), name)
        sources = [p.path for p in group]
        present = [FileSystems.exists(p) for p in sources]
        if not all(present):  # an earlier attempt got this far
            if not FileSystems.exists(target):
                raise IOError(f"{target}: pieces missing ({', '.join(s for s, ok in zip(sources, present) if not ok)})")
            _delete(sources)
        elif len(group) == 1:
            if FileSystems.exists(target):
                FileSystems.delete([target])
            FileSystems.rename(sources, [target])
        else:
            data = parquet_of(table, [_read(table, p) for p in sources])
            temp = temp_path(output_dir, table, partition)
            with _create(temp) as fh:
                fh.write(data)
            if FileSystems.exists(target):
                FileSystems.delete([target])
            FileSystems.rename([temp], [target])
            _delete(sources)
        written.append((target, sum(p.rows for p in group)))
    return written
