"""Articles as Parquet, partitioned by publication date (``output.format: both``).

Beside the JSON Lines of ``articles/`` (the contract), the same records are
written with an explicit schema (:data:`ARTICLE_SCHEMA`) under::

    <output>/articles_parquet/published_date=YYYY-MM-DD/part-SSS.parquet
    <output>/articles_parquet/published_date=unknown/part-SSS.parquet   (no date)

Hive-style folders, so ``pyarrow.dataset``, BigQuery external tables, Spark and
DuckDB read ``published_date`` as a column. Each date is split into
``shards`` files by a stable hash of the article id, rows sorted by id: the same
input gives the same files. A file is written under a temporary name in its
folder and renamed when complete, so readers never see half a file.

Counters (namespace ``newsbeam.parquet``): ``files``, ``rows``.
"""

from __future__ import annotations

import io
import uuid
import zlib
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

PARQUET_DIR = "articles_parquet"
PARTITION_KEY = "published_date"
UNKNOWN_DATE = "unknown"


def _schema():
    import pyarrow as pa

    evidence = pa.struct([("field", pa.string()), ("text", pa.string()), ("start", pa.int32()), ("end", pa.int32())])
    topic = pa.struct([("name", pa.string()), ("score", pa.float64()), ("evidence", pa.list_(evidence))])
    place = pa.struct([("geonameid", pa.int64()), ("name", pa.string()), ("country", pa.string()),
                       ("kind", pa.string()), ("mentions", pa.int32()), ("evidence", pa.list_(evidence))])
    organisation = pa.struct([("id", pa.string()), ("name", pa.string()), ("mentions", pa.int32()),
                              ("evidence", pa.list_(evidence))])
    return pa.schema(
        [
            ("id", pa.string()),
            ("url", pa.string()),
            ("source", pa.string()),
            ("title", pa.string()),
            ("text", pa.string()),
            ("published_at", pa.timestamp("s", tz="UTC")),
            ("language", pa.string()),
            ("language_confidence", pa.float64()),
            ("dedup_status", pa.string()),
            ("dedup_duplicate_of", pa.string()),
            ("story_id", pa.string()),
            ("topics", pa.list_(topic)),
            ("mentions", pa.list_(topic)),
            ("places", pa.list_(place)),
            ("organisations", pa.list_(organisation)),
            ("origin", pa.string()),
            ("external_id", pa.string()),
            ("content_hash", pa.string()),
        ]
    )


ARTICLE_SCHEMA = _schema()


def partition_of(article: dict) -> str:
    """``YYYY-MM-DD`` of ``published_at`` (already UTC ISO 8601), or ``unknown``."""
    published = article.get("published_at")
    if isinstance(published, str) and len(published) >= 10 and published[4] == "-" and published[7] == "-":
        return published[:10]
    return UNKNOWN_DATE


def _timestamp(value: Any):
    if not value:
        return None
    import datetime as dt

    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def to_row(article: dict) -> dict:
    """One article as a row of :data:`ARTICLE_SCHEMA` (nested dedup flattened)."""
    dedup = article.get("dedup") or {}
    topics, mentions = (
        [
            {
                "name": t.get("name"),
                "score": float(t.get("score") or 0.0),
                "evidence": [
                    {"field": e.get("field", "text"), "text": e.get("text"), "start": int(e.get("start", 0)),
                     "end": int(e.get("end", 0))}
                    for e in t.get("evidence") or ()
                ],
            }
            for t in article.get(key) or ()
        ]
        for key in ("topics", "mentions")
    )
    return {
        "id": article.get("id"),
        "url": article.get("url"),
        "source": article.get("source"),
        "title": article.get("title"),
        "text": article.get("text"),
        "published_at": _timestamp(article.get("published_at")),
        "language": article.get("language"),
        "language_confidence": float(article.get("language_confidence") or 0.0),
        "dedup_status": dedup.get("status", "unique"),
        "dedup_duplicate_of": dedup.get("duplicate_of"),
        "story_id": article.get("story_id"),
        "topics": topics,
        "mentions": mentions,
        "places": [dict(p, evidence=list(p.get("evidence") or ())) for p in article.get("places") or ()],
        "organisations": [dict(o, evidence=list(o.get("evidence") or ())) for o in article.get("organisations") or ()],
        "origin": article.get("origin"),
        "external_id": article.get("external_id"),
        "content_hash": article.get("content_hash"),
    }


def shard_of(article_id: str, shards: int) -> int:
    return zlib.crc32(str(article_id).encode("utf-8")) % max(1, shards)


def parquet_bytes(rows: Iterable[dict]) -> bytes:
    """A Parquet file (zstd) of ``rows`` sorted by id, with :data:`ARTICLE_SCHEMA`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ordered = sorted(rows, key=lambda r: r["id"] or "")
    table = pa.Table.from_pylist(ordered, schema=ARTICLE_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def partition_file(output_dir: str, date: str, shard: int) -> str:
    return FileSystems.join(output_dir.rstrip("/"), f"{PARTITION_KEY}={date}", f"part-{shard:03d}.parquet")


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


class _WritePartition(beam.DoFn):
    def __init__(self, output_dir: str) -> None:
        self._output_dir = output_dir
        self._files = Metrics.counter("newsbeam.parquet", "files")
        self._rows = Metrics.counter("newsbeam.parquet", "rows")

    def process(self, element: tuple[tuple[str, int], Iterable[dict]]) -> Iterable[str]:
        (date, shard), articles = element
        rows = [to_row(a) for a in articles]
        path = partition_file(self._output_dir, date, shard)
        write_atomically(path, parquet_bytes(rows))
        self._files.inc()
        self._rows.inc(len(rows))
        yield path


class WriteParquet(beam.PTransform):
    """Write articles as Parquet under ``output_dir``, one folder per publication date;
    returns the PCollection of written file paths."""

    def __init__(self, output_dir: str, shards: int = 1) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._shards = max(1, shards)

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        shards = self._shards
        return (
            articles
            | "KeyByDateShard" >> beam.Map(lambda a: ((partition_of(a), shard_of(a.get("id"), shards)), a))
            | "GroupByDateShard" >> beam.GroupByKey()
            | "WriteParquetFiles" >> beam.ParDo(_WritePartition(self._output_dir))
        )
