"""The four analyst tables (articles, stories, topics, dead letters): schemas and row builders.

Pure functions from the pipeline's records to rows of an explicit Arrow schema, and the
file layout they are written in (``parquet.py`` is the Beam wrapper, ``pipeline.query``
reads them in DuckDB, BigQuery takes the same columns)::

    <output>/articles_parquet/published_date=YYYY-MM-DD/part-SSS.parquet     one row per article
    <output>/stories_parquet/published_date=YYYY-MM-DD/part-SSS.parquet      one row per story (first article's date)
    <output>/topics_parquet/published_date=YYYY-MM-DD/part-SSS.parquet       one row per article and topic
    <output>/dead_letter_parquet/part-SSS.parquet                            one row per rejected input (no date)

Hive-style folders (``published_date=unknown`` when there is no date), so DuckDB, pyarrow,
Spark and BigQuery external tables read ``published_date`` as a column. Rows are split into
shards by a stable hash of their key; a partition written by several bundles may have several
files (``part-SSS-KKK.parquet``, ``parquetparts.py``): the same input gives the same rows, a
file's rows sorted by their key within each row group.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zlib
from typing import Any, Callable, Iterable

import pyarrow as pa

from transforms.io.write import reason_class

PARTITION_KEY = "published_date"
UNKNOWN_DATE = "unknown"

_EVIDENCE = pa.struct([("field", pa.string()), ("text", pa.string()), ("start", pa.int32()), ("end", pa.int32())])
_TOPIC = pa.struct([("name", pa.string()), ("score", pa.float64()), ("evidence", pa.list_(_EVIDENCE))])
_TIME = pa.timestamp("s", tz="UTC")
_PLACE = pa.struct([("geonameid", pa.int64()), ("name", pa.string()), ("country", pa.string()),
                    ("kind", pa.string()), ("mentions", pa.int32()), ("evidence", pa.list_(_EVIDENCE))])
_ORGANISATION = pa.struct([("id", pa.string()), ("name", pa.string()), ("mentions", pa.int32()),
                           ("evidence", pa.list_(_EVIDENCE))])
_STORY_PLACE = pa.struct([("geonameid", pa.int64()), ("name", pa.string()), ("country", pa.string()),
                          ("kind", pa.string()), ("articles", pa.int32())])

ARTICLE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("published_at", _TIME),
        ("language", pa.string()),
        ("language_confidence", pa.float64()),
        ("dedup_status", pa.string()),
        ("dedup_duplicate_of", pa.string()),
        ("story_id", pa.string()),
        ("topics", pa.list_(_TOPIC)),
        ("mentions", pa.list_(_TOPIC)),
        ("places", pa.list_(_PLACE)),
        ("organisations", pa.list_(_ORGANISATION)),
        ("origin", pa.string()),
        ("external_id", pa.string()),
        ("content_hash", pa.string()),
    ]
)

STORY_SCHEMA = pa.schema(
    [
        ("story_id", pa.string()),
        ("headline", pa.string()),
        ("article_ids", pa.list_(pa.string())),
        ("article_count", pa.int32()),
        ("first_published_at", _TIME),
        ("last_published_at", _TIME),
        ("languages", pa.list_(pa.string())),
        ("sources", pa.list_(pa.string())),
        ("topics", pa.list_(pa.struct([("name", pa.string()), ("score", pa.float64())]))),
        ("places", pa.list_(_STORY_PLACE)),
    ]
)

TOPIC_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("story_id", pa.string()),
        ("topic", pa.string()),
        ("score", pa.float64()),
        ("evidence", pa.string()),  # the first evidence span's text: why the tag was given
        ("published_at", _TIME),
        ("language", pa.string()),
        ("source", pa.string()),
        ("dedup_status", pa.string()),
    ]
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("stage", pa.string()),
        ("error", pa.string()),
        ("reason", pa.string()),  # the error with numbers and quoted values folded, to count by
        ("excerpt", pa.string()),
    ]
)


def timestamp(value: Any) -> dt.datetime | None:
    """An ISO 8601 string (``Z`` or an offset) as an aware UTC datetime; None stays None."""
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def _topics(items: Iterable[dict] | None) -> list[dict]:
    return [
        {
            "name": t.get("name"),
            "score": float(t.get("score") or 0.0),
            "evidence": [
                {"field": e.get("field", "text"), "text": e.get("text"), "start": int(e.get("start", 0)),
                 "end": int(e.get("end", 0))}
                for e in t.get("evidence") or ()
            ],
        }
        for t in items or ()
    ]


def article_row(article: dict) -> dict:
    """One article as a row of :data:`ARTICLE_SCHEMA` (nested ``dedup`` flattened)."""
    dedup = article.get("dedup") or {}
    return {
        "id": article.get("id"),
        "url": article.get("url"),
        "source": article.get("source"),
        "title": article.get("title"),
        "text": article.get("text"),
        "published_at": timestamp(article.get("published_at")),
        "language": article.get("language"),
        "language_confidence": float(article.get("language_confidence") or 0.0),
        "dedup_status": dedup.get("status", "unique"),
        "dedup_duplicate_of": dedup.get("duplicate_of"),
        "story_id": article.get("story_id"),
        "topics": _topics(article.get("topics")),
        "mentions": _topics(article.get("mentions")),
        "places": [dict(p, evidence=list(p.get("evidence") or ())) for p in article.get("places") or ()],
        "organisations": [dict(o, evidence=list(o.get("evidence") or ())) for o in article.get("organisations") or ()],
        "origin": article.get("origin"),
        "external_id": article.get("external_id"),
        "content_hash": article.get("content_hash"),
    }


def topic_rows(article: dict) -> list[dict]:
    """One row of :data:`TOPIC_SCHEMA` per topic of ``article`` (none for an untagged one)."""
    topics = article.get("topics") or ()
    if not topics:
        return []
    published = timestamp(article.get("published_at"))
    status = (article.get("dedup") or {}).get("status", "unique")
    rows = []
    for t in topics:
        evidence = t.get("evidence") or ()
        rows.append(
            {
                "article_id": article.get("id"),
                "story_id": article.get("story_id"),
                "topic": t.get("name"),
                "score": float(t.get("score") or 0.0),
                "evidence": evidence[0].get("text") if evidence else None,
                "published_at": published,
                "language": article.get("language"),
                "source": article.get("source"),
                "dedup_status": status,
            }
        )
    return rows


def story_row(story: dict) -> dict:
    """One story record (``transforms/stories/records.py``) as a row of :data:`STORY_SCHEMA`."""
    return {
        "story_id": story.get("story_id"),
        "headline": story.get("headline"),
        "article_ids": list(story.get("article_ids") or ()),
        "article_count": int(story.get("article_count") or len(story.get("article_ids") or ())),
        "first_published_at": timestamp(story.get("first_published_at")),
        "last_published_at": timestamp(story.get("last_published_at")),
        "languages": list(story.get("languages") or ()),
        "sources": list(story.get("sources") or ()),
        "topics": [{"name": t.get("name"), "score": float(t.get("score") or 0.0)} for t in story.get("topics") or ()],
        "places": list(story.get("places") or ()),
    }


def dead_letter_row(record: dict) -> dict:
    """One dead-letter record as a row of :data:`DEAD_LETTER_SCHEMA`."""
    error = record.get("error") or ""
    return {
        "source": record.get("source"),
        "stage": record.get("stage"),
        "error": error,
        "reason": reason_class(error),
        "excerpt": record.get("excerpt"),
    }


def article_rows(article: dict) -> list[dict]:
    return [article_row(article)]


def story_rows(story: dict) -> list[dict]:
    return [story_row(story)]


def dead_letter_rows(record: dict) -> list[dict]:
    return [dead_letter_row(record)]


@dataclasses.dataclass(frozen=True)
class Table:
    """One analyst table: where its rows come from, their schema and their files."""

    name: str  # the DuckDB view and BigQuery table
    label: str  # CamelCase, in step labels
    folder: str  # under --output
    output: str  # the pipeline output it is built from: articles | stories | dead_letter
    schema: pa.Schema
    rows: Callable[[dict], list[dict]]
    order: tuple[str, ...]  # the columns rows are sorted by (unique together); sharded by the first
    date_column: str | None  # its date is the partition; None: not partitioned
    # the columns worth a Parquet dictionary (few distinct values); the others are written plain:
    # a dictionary tried on every column (pyarrow's default) costs ~40 % more CPU for the same bytes
    dictionary: tuple[str, ...] = ()


_TAGS = tuple(f"{c}.list.element.{f}" for c in ("topics", "mentions") for f in ("name", "evidence.list.element.field"))
_PLACES = tuple(f"places.list.element.{f}" for f in ("name", "country", "kind"))
TABLES = (
    Table("articles", "Articles", "articles_parquet", "articles", ARTICLE_SCHEMA,
          article_rows, ("id",), "published_at",
          ("source", "language", "dedup_status", *_TAGS, *_PLACES, "organisations.list.element.id",
           "organisations.list.element.name")),
    Table("stories", "Stories", "stories_parquet", "stories", STORY_SCHEMA,
          story_rows, ("story_id",), "first_published_at",
          ("languages.list.element", "sources.list.element", "topics.list.element.name", *_PLACES)),
    Table("topics", "Topics", "topics_parquet", "articles", TOPIC_SCHEMA, topic_rows, ("article_id", "topic"),
          "published_at", ("topic", "language", "source", "dedup_status")),
    Table("dead_letters", "DeadLetters", "dead_letter_parquet", "dead_letter", DEAD_LETTER_SCHEMA,
          dead_letter_rows, ("source", "stage", "error", "excerpt"), None, ("stage", "reason")),
)
TABLE_BY_NAME = {t.name: t for t in TABLES}
PARQUET_FOLDERS = tuple(t.folder for t in TABLES)


def partition_of(table: Table, row: dict) -> str | None:
    """``YYYY-MM-DD`` (UTC) of the row's date column, ``unknown`` without one, None when
    the table is not partitioned."""
    if table.date_column is None:
        return None
    moment = row.get(table.date_column)
    return moment.strftime("%Y-%m-%d") if moment is not None else UNKNOWN_DATE


# The pipeline output each table is built from: its date field (ISO 8601 UTC, as in the
# records) and its id field. A record's tables share its partition and shard, so one group
# of records writes all of them (articles -> articles and topics).
SOURCES = {
    "articles": ("published_at", "id"),
    "stories": ("first_published_at", "story_id"),
    "dead_letter": (None, "source"),
}


def date_of(value: Any) -> str:
    """``YYYY-MM-DD`` of an ISO 8601 UTC string (the records' dates), or ``unknown``."""
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value[:10]
    return UNKNOWN_DATE


def source_key(output: str, record: dict, shards: int) -> tuple[str, int]:
    """``(partition, shard)`` of a record of ``output`` ("" when its tables are not partitioned):
    the partition and shard of every row built from it."""
    date_field, id_field = SOURCES[output]
    partition = date_of(record.get(date_field)) if date_field else ""
    return partition, shard_of(record.get(id_field), shards)


def tables_of(output: str) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if t.output == output)


def shard_of(key: Any, shards: int) -> int:
    return zlib.crc32(str(key).encode("utf-8")) % max(1, shards)


def relative_path(table: Table, partition: str | None, shard: int) -> str:
    """The file of one partition and shard, relative to ``--output``."""
    parts = [table.folder] + ([f"{PARTITION_KEY}={partition}"] if partition is not None else [])
    return "/".join(parts + [f"part-{shard:03d}.parquet"])


def arrow_table(table: Table, rows: Iterable[dict]) -> pa.Table:
    """Rows as an Arrow table with the table's schema (a row that does not fit raises)."""
    return pa.Table.from_pylist(list(rows), schema=table.schema)


def write_options(table: Table) -> dict[str, Any]:
    """How every Parquet file of ``table`` is written (``pyarrow.parquet`` writer options)."""
    return {"compression": "zstd", "use_dictionary": list(table.dictionary)}


def sorted_arrow(table: Table, parts: Iterable[pa.Table]) -> pa.Table:
    """The rows of ``parts`` in one chunk, sorted by the table's order (nulls first)."""
    arrow = pa.concat_tables(list(parts) or [table.schema.empty_table()])
    try:  # pyarrow >= 25: null placement per key
        arrow = arrow.sort_by([(c, "ascending", "at_start") for c in table.order])
    except (TypeError, ValueError, pa.ArrowInvalid):  # older pyarrow: one placement for all keys
        arrow = arrow.sort_by([(c, "ascending") for c in table.order], null_placement="at_start")
    return arrow.combine_chunks()


def parquet_of(table: Table, parts: Iterable[pa.Table]) -> bytes:
    """One Parquet file (zstd) of the rows of ``parts``, sorted by the table's order (nulls as
    the smallest values), in one row group run: the same rows give the same bytes however
    they were split."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(sorted_arrow(table, parts), buffer, **write_options(table))
    return buffer.getvalue()


def parquet_bytes(table: Table, rows: Iterable[dict]) -> bytes:
    """A Parquet file of ``rows`` (see :func:`parquet_of`)."""
    return parquet_of(table, [arrow_table(table, rows)])
