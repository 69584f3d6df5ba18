"""Parquet files written where the rows are, then named: pieces, and how they become the tables' files.

A bundle gathers its rows of each (table, partition, shard) in a :class:`PieceWriter`: rows as
dicts, turned into Arrow chunks every ``batch_rows``, written as a row group of a Parquet file
under a temporary name (``.tmp-<uuid>.parquet`` beside the final file, which readers and the
publication skip) when the chunks pass ``row_group_bytes``. When the bundle finishes, a share
of 1 MiB or more (as Arrow) is written to that file, so article texts never cross a shuffle; a
smaller share becomes a :class:`Piece` carrying its rows (LZ4 Arrow IPC), so a small run still
gets one file per date without writing and reading back pieces (reading a piece back costs
more than the shuffle of its rows). Only pieces cross the shuffle.

Once every bundle is committed, :func:`plan_files` names the files of a (table, partition, shard):
pieces under ``compact_bytes`` are merged, in key order, into files of up to ``compact_bytes``
(rows sorted), larger ones are renamed as they are. One file is ``part-SSS.parquet`` (the
name of a single-file partition, as before); several are ``part-SSS-KKK.parquet``. Only the pieces
of committed bundles are named: a retried bundle's files stay temporary and go with the staging
folder.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.io.tables import Table, arrow_table, parquet_of, relative_path, sorted_arrow, write_options

TEMP_PREFIX = ".tmp-"


@dataclasses.dataclass(frozen=True, order=True)
class Piece:
    """One bundle's rows of a (table, partition, shard): a temporary Parquet file (``path``), or,
    when small, the rows themselves (``data``, Arrow IPC bytes) to be merged with others."""

    first_key: tuple[str, ...]  # the smallest value of its rows' first order column ("" for None): pieces sort by it
    rows: int
    size: int  # bytes of its rows as Arrow (the same measure for files and data)
    path: str = ""  # its temporary path
    data: bytes | None = dataclasses.field(default=None, compare=False, repr=False)


def ipc_bytes(arrow: pa.Table) -> bytes:
    """An Arrow table as LZ4-compressed IPC stream bytes (how a small piece crosses the shuffle)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, arrow.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(arrow)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


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

    ``add`` holds rows as dicts; ``convert`` turns them into an Arrow chunk (compact: an
    article's text without the dict around it); ``spill`` writes the chunks as one row group
    (sorted), opening the file on the first spill; ``close`` writes the rest and returns the
    :class:`Piece` (None when it got no rows). Row groups of a few rows cost far more per row
    (a few ms of fixed cost per group and column chunk), hence chunks before row groups."""

    def __init__(self, table: Table, path: str) -> None:
        self.table = table
        self.path = path
        self.held: list[dict] = []
        self.chunks: list[pa.Table] = []
        self.chunk_bytes = 0
        self._rows = 0
        self._bytes = 0  # Arrow bytes of every row written or held
        self._first: str | None = None
        self._writer: pq.ParquetWriter | None = None
        self._file: _Counting | None = None

    def add(self, rows: Iterable[dict]) -> int:
        before = len(self.held)
        self.held.extend(rows)
        return len(self.held) - before

    @property
    def is_open(self) -> bool:
        """Whether its file is open (it has spilled and is not closed)."""
        return self._writer is not None and not self._file.closed

    def convert(self) -> int:
        """The held rows as an Arrow chunk; return the chunk's bytes."""
        if not self.held:
            return 0
        chunk = arrow_table(self.table, self.held)
        self.held = []
        first = pc.min(chunk.column(self.table.order[0])).as_py()
        if first is not None and (self._first is None or first < self._first):
            self._first = first
        self.chunks.append(chunk)
        self.chunk_bytes += chunk.nbytes
        self._bytes += chunk.nbytes
        return chunk.nbytes

    def spill(self) -> int:
        """Write the held rows and chunks as one row group; return the chunk bytes written."""
        self.convert()
        if not self.chunks:
            return 0
        if self._writer is None:
            self._file = _Counting(_create(self.path))
            self._writer = pq.ParquetWriter(self._file, self.table.schema, **write_options(self.table))
        arrow = sorted_arrow(self.table, self.chunks)
        self._writer.write_table(arrow, row_group_size=max(1, arrow.num_rows))
        written = self.chunk_bytes
        self._rows += arrow.num_rows
        self.chunks, self.chunk_bytes = [], 0
        return written

    def close(self, small_bytes: int = 0) -> Piece | None:
        """Finish the piece. Never spilled and under ``small_bytes``: its rows as data, no file;
        never spilled: one sorted file, as ``tables.parquet_bytes`` writes it."""
        self.convert()
        first = ("" if self._first is None else str(self._first),)
        if self._writer is None:
            if not self.chunks:
                return None
            rows = sum(c.num_rows for c in self.chunks)
            if self._bytes < small_bytes:
                data = ipc_bytes(pa.concat_tables(self.chunks))
                self.chunks, self.chunk_bytes = [], 0
                return Piece(first, rows, self._bytes, data=data)
            data = parquet_of(self.table, self.chunks)
            with _create(self.path) as fh:
                fh.write(data)
            self.chunks, self.chunk_bytes = [], 0
        else:
            self.spill()
            self._writer.close()
            self._file.close()
            rows = self._rows
        return Piece(first, rows, self._bytes, self.path)


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


def _read(table: Table, piece: Piece) -> pa.Table:
    """A piece's rows: its data, or its file read back with its table's schema (Parquet keeps
    second timestamps as ms)."""
    if piece.data is not None:
        return from_ipc(piece.data)
    with FileSystems.open(piece.path, compression_type="uncompressed") as fh:
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
        sources = [p.path for p in group if p.data is None]
        present = [FileSystems.exists(p) for p in sources]
        if not all(present):  # an earlier attempt got this far
            if not FileSystems.exists(target):
                raise IOError(f"{target}: pieces missing ({', '.join(s for s, ok in zip(sources, present) if not ok)})")
            _delete(sources)
        elif len(group) == 1 and group[0].data is None:
            if FileSystems.exists(target):
                FileSystems.delete([target])
            FileSystems.rename(sources, [target])
        else:
            data = parquet_of(table, [_read(table, p) for p in group])
            temp = temp_path(output_dir, table, partition)
            with _create(temp) as fh:
                fh.write(data)
            if FileSystems.exists(target):
                FileSystems.delete([target])
            FileSystems.rename([temp], [target])
            _delete(sources)
        written.append((target, sum(p.rows for p in group)))
    return written
