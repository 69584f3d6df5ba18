"""Parquet pieces without Beam: a bundle's writer, the naming plan, and publishing them."""

import datetime as dt

import pyarrow.parquet as pq
import pytest

from tests.support.tables import article
from transforms.io.parquetparts import Piece, PieceWriter, file_names, plan_files, publish_pieces, temp_path
from transforms.io.tables import TABLE_BY_NAME, parquet_bytes

DAY = dt.date(2026, 3, 15)
ARTICLES = TABLE_BY_NAME["articles"]


def _piece(key, size, path=None):
    return Piece((key,), 1, size, path or f"/x/.tmp-{key}.parquet")


def _rows(n, start=0):
    return [r for i in range(start, start + n) for r in ARTICLES.rows(article(i, story=i, day=DAY))]


def _write(out, rows, batch):
    writer = PieceWriter(ARTICLES, temp_path(str(out), ARTICLES, DAY.isoformat()))
    for k in range(0, len(rows), batch):
        writer.add(rows[k:k + batch])
        if batch < len(rows):  # a row group per batch; else held until close (written whole, sorted)
            writer.spill()
    return writer.close()


def test_small_pieces_merge_in_key_order_large_ones_stay_alone():
    pieces = [_piece("c", 300), _piece("a", 100), _piece("b", 900), _piece("d", 200), _piece("e", 100)]
    plan = plan_files(pieces, compact_bytes=400)
    assert [[p.first_key[0] for p in f] for f in plan] == [["a"], ["b"], ["c"], ["d", "e"]]
    assert plan_files(list(reversed(pieces)), 400) == plan  # arrival order does not matter
    assert plan_files(pieces, 0) == [[p] for p in sorted(pieces)]  # 0: never merge
    assert len(plan_files(pieces, 10**6)) == 1


def test_file_names_keep_the_single_file_name():
    assert file_names(ARTICLES, "2026-03-15", 0, 1) == ["articles_parquet/published_date=2026-03-15/part-000.parquet"]
    assert file_names(ARTICLES, "2026-03-15", 2, 2) == [
        "articles_parquet/published_date=2026-03-15/part-002-000.parquet",
        "articles_parquet/published_date=2026-03-15/part-002-001.parquet",
    ]


def test_a_piece_in_one_batch_is_the_pure_file(tmp_path):
    rows = _rows(5)
    piece = _write(tmp_path, list(reversed(rows)), batch=100)
    assert piece.rows == 5 and piece.first_key == ("a000000",)
    assert piece.path.rsplit("/", 1)[-1].startswith(".tmp-")
    with open(piece.path, "rb") as fh:
        data = fh.read()
    assert data == parquet_bytes(ARTICLES, rows) and piece.size > 0 and piece.data is None


def test_a_spilled_piece_holds_every_row_in_row_groups(tmp_path):
    rows = _rows(7)
    piece = _write(tmp_path, rows, batch=3)
    meta = pq.ParquetFile(piece.path).metadata
    assert (meta.num_rows, meta.num_row_groups) == (7, 3)
    assert piece.size > 0 and piece.data is None
    assert sorted(r["id"] for r in pq.read_table(piece.path).to_pylist()) == [r["id"] for r in rows]
    assert PieceWriter(ARTICLES, temp_path(str(tmp_path), ARTICLES, "x")).close() is None  # no rows, no piece


def test_a_small_piece_crosses_as_data_and_merges_with_files(tmp_path):
    rows = _rows(6)
    writer = PieceWriter(ARTICLES, temp_path(str(tmp_path), ARTICLES, DAY.isoformat()))
    writer.add(rows[3:])
    small = writer.close(small_bytes=10**9)
    assert small.data is not None and small.path == "" and small.rows == 3
    assert not list(tmp_path.rglob("*.parquet"))  # no file for it
    written = _write(tmp_path, rows[:3], 1)  # a spilled piece (a file)
    out = publish_pieces(str(tmp_path), ARTICLES, DAY.isoformat(), 0, [small, written], compact_bytes=10**9)
    target = tmp_path / "articles_parquet" / "published_date=2026-03-15" / "part-000.parquet"
    assert out == [(str(target), 6)] and target.read_bytes() == parquet_bytes(ARTICLES, rows)
    assert not list(tmp_path.rglob(".tmp-*"))


def test_publish_merges_small_pieces_into_the_pure_file_and_can_be_repeated(tmp_path):
    rows = _rows(9)
    pieces = [_write(tmp_path, rows[6:], 2), _write(tmp_path, rows[:3], 10), _write(tmp_path, rows[3:6], 1)]
    written = publish_pieces(str(tmp_path), ARTICLES, DAY.isoformat(), 0, pieces, compact_bytes=10**7)
    target = tmp_path / "articles_parquet" / "published_date=2026-03-15" / "part-000.parquet"
    assert written == [(str(target), 9)]
    assert target.read_bytes() == parquet_bytes(ARTICLES, rows)
    assert not list(tmp_path.rglob(".tmp-*"))
    # a retried publication (the pieces are gone, the file is there) keeps the file
    assert publish_pieces(str(tmp_path), ARTICLES, DAY.isoformat(), 0, pieces, 10**7) == written
    assert target.read_bytes() == parquet_bytes(ARTICLES, rows)


def test_publish_renames_large_pieces(tmp_path):
    pieces = [_write(tmp_path, _rows(3, 10), 10), _write(tmp_path, _rows(3), 10)]
    written = publish_pieces(str(tmp_path), ARTICLES, DAY.isoformat(), 0, pieces, compact_bytes=0)
    folder = tmp_path / "articles_parquet" / "published_date=2026-03-15"
    assert [p for p, _ in written] == [str(folder / "part-000-000.parquet"), str(folder / "part-000-001.parquet")]
    assert (folder / "part-000-000.parquet").read_bytes() == parquet_bytes(ARTICLES, _rows(3))  # first key first
    assert not list(tmp_path.rglob(".tmp-*"))


def test_publish_is_loud_when_a_piece_and_its_file_are_missing(tmp_path):
    piece = _write(tmp_path, _rows(2), 10)
    (tmp_path / piece.path).unlink()
    with pytest.raises(IOError):
        publish_pieces(str(tmp_path), ARTICLES, DAY.isoformat(), 0, [piece], 10**7)


@pytest.mark.e2e  # starts the Cloud Storage emulator
def test_pieces_on_gcs_are_streamed_merged_and_renamed(gcs_emulator):
    from pipeline.gcs import configure_emulator

    configure_emulator()
    bucket = gcs_emulator.bucket("news-pieces")
    out = "gs://news-pieces/out"
    rows = _rows(9)
    pieces = [_write(out, rows[:4], 2), _write(out, rows[4:], 10)]  # a spilled piece (row groups) and a whole one
    assert all(p.path.startswith(out + "/articles_parquet/published_date=2026-03-15/.tmp-") for p in pieces)
    written = publish_pieces(out, ARTICLES, DAY.isoformat(), 0, pieces, compact_bytes=10**7)
    name = "out/articles_parquet/published_date=2026-03-15/part-000.parquet"
    assert written == [(f"gs://news-pieces/{name}", 9)]
    assert [b.name for b in gcs_emulator.client().list_blobs("news-pieces")] == [name]
    assert bucket.blob(name).download_as_bytes() == parquet_bytes(ARTICLES, rows)
