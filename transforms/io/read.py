"""ReadArticles: input patterns -> ``(raw_articles, dead_letters)``.

Patterns (local paths, globs with ``**``, directories, ``gs://``) are matched
through Beam FileSystems, a path matched by several patterns is read once, and
each file is read as a stream by :func:`transforms.io.fileformats.read_file`
in :class:`ReadFileFn` (which streaming runs also use for watched files).
A local file name that is not UTF-8 travels as ``bytes`` (a ``str`` with
``surrogateescape`` code points cannot cross a Beam coder) and is shown with
``\\xNN`` escapes in origins and dead letters (:func:`path_element`).
Counters in ``newsbeam.read``: ``files``, ``articles``, ``rejected``, ``bytes``.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes, FileSystem
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.common.records import DEFAULT_MAX_DEAD_LETTERS, Rejected, reject
from transforms.common.stage import DEAD_LETTER, MAIN, namespace
from transforms.common.unicode import display_path, valid_unicode
from transforms.io.fieldmap import FieldMap
from transforms.io.fileformats import (
    DEFAULT_MAX_ARTICLE_BYTES,
    DEFAULT_MAX_FILE_BYTES,
    STAGE,
    CountingStream,
    read_file,
)

__all__ = ["ReadArticles", "ReadFileFn", "expand_pattern", "path_element", "open_path", "output_inside_inputs"]

_log = logging.getLogger(__name__)


_GLOB_CHARS = re.compile(r"[*?\[]")


def expand_pattern(pattern: str) -> list[str]:
    """The Beam match patterns for one ``--input`` pattern: ``dir/**/*.x`` also
    matches files directly in ``dir`` (as a shell's globstar does), and a
    directory means every file under it."""
    if not _GLOB_CHARS.search(pattern) and (pattern.endswith("/") or os.path.isdir(pattern)):
        return [pattern.rstrip("/") + "/**"]
    patterns = [pattern]
    if "/**/" in pattern:
        patterns.append(pattern.replace("/**/", "/", 1))
    return patterns


def path_element(path: str) -> str | bytes:
    """A matched path as a Beam element: itself, or its bytes when it is not valid
    Unicode (a local file name that is not UTF-8)."""
    if valid_unicode(path)[1] == 0:
        return path
    try:
        return path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return valid_unicode(path)[0]


def open_path(element: str | bytes) -> tuple[str, str]:
    """``(path to open, path to show)`` of a :func:`path_element`."""
    if isinstance(element, bytes):
        return element.decode("utf-8", "surrogateescape"), display_path(element)
    return element, element


# Paths a run writes under --output and --state (one of each shape), to test patterns against.
_WRITTEN = {
    "output": (
        "articles/articles-00000-of-00001.jsonl", "articles/articles-00000-of-00001.jsonl.gz",
        "articles/run=r/articles-00000-of-00001.jsonl", "stories/stories-00000-of-00001.jsonl",
        "dead_letter/dead_letter-00000-of-00001.jsonl", "_staging/r/articles/articles-00000-of-00001.jsonl",
        "summary.json", "runs/run=r/summary.json", "articles_parquet/published_date=unknown/part-000.parquet",
    ),
    "state": ("memory/gen-r/memory-00000-of-00001.jsonl.gz", "manifest/run-r.json", "feeds/feed_cache.json"),
}


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def output_inside_inputs(patterns: Iterable[str], folder: str, kind: str = "output") -> str | None:
    """The first input pattern that would match a file the run writes under ``folder``
    (its ``--output``, or with ``kind="state"`` its ``--state``), or None."""
    base = _absolute(folder).rstrip("/")
    written = [f"{base}/{rel}" for rel in _WRITTEN[kind]]
    for pattern in patterns:
        if pattern.startswith("pubsub://"):
            continue
        for expanded in expand_pattern(pattern):
            regex = re.compile(FileSystem.translate_pattern(_absolute(expanded)))
            if any(regex.match(path) for path in written):
                return pattern
    return None


class _MatchPattern(beam.DoFn):
    """A pattern -> the paths it matches; no match or a failing filesystem
    becomes a dead letter."""

    def __init__(self) -> None:
        self._rejected = Metrics.counter(namespace(STAGE), "rejected")

    def process(self, element: str | bytes) -> Iterable[Any]:
        pattern, shown = open_path(element)
        try:
            paths: set[str] = set()
            for result in FileSystems.match(expand_pattern(pattern)):
                paths.update(m.path for m in result.metadata_list)
        except Exception as exc:  # noqa: BLE001 - becomes a dead letter with the reason
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER, reject(shown, STAGE, f"cannot match '{shown}': {type(exc).__name__}: {exc}").to_record()
            )
            return
        if not paths:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, reject(shown, STAGE, f"no file matches '{shown}'").to_record())
            return
        for path in sorted(paths):
            yield path_element(path)


class ReadFileFn(beam.DoFn):
    """A path -> its RawArticles; rejected parts and unreadable files go to
    ``DEAD_LETTER``. Streams: articles are emitted as they are read."""

    def __init__(
        self,
        max_article_bytes: int,
        max_file_bytes: int,
        max_dead_letters: int = DEFAULT_MAX_DEAD_LETTERS,
        fields: FieldMap | None = None,
    ) -> None:
        self._max_article_bytes = max_article_bytes
        self._max_file_bytes = max_file_bytes
        self._max_dead_letters = max_dead_letters
        self._fields = fields
        ns = namespace(STAGE)
        self._files = Metrics.counter(ns, "files")
        self._articles = Metrics.counter(ns, "articles")
        self._rejected = Metrics.counter(ns, "rejected")
        self._bytes = Metrics.counter(ns, "bytes")

    def _dead(self, rejected: Rejected) -> beam.pvalue.TaggedOutput:
        self._rejected.inc(rejected.count)
        return beam.pvalue.TaggedOutput(DEAD_LETTER, rejected.to_record())

    def process(self, element: str | bytes) -> Iterable[Any]:
        self._files.inc()
        real_path, path = open_path(element)
        try:
            stream = FileSystems.open(real_path, compression_type=CompressionTypes.UNCOMPRESSED)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is a dead letter
            yield self._dead(reject(path, STAGE, f"cannot open file: {type(exc).__name__}: {exc}"))
            return
        counter = CountingStream(stream)
        articles = 0
        try:
            for item in read_file(
                path,
                counter,
                max_article_bytes=self._max_article_bytes,
                max_file_bytes=self._max_file_bytes,
                max_dead_letters=self._max_dead_letters,
                fields=self._fields,
            ):
                if isinstance(item, Rejected):
                    yield self._dead(item)
                else:
                    articles += 1
                    self._articles.inc()
                    yield item
        except Exception as exc:  # noqa: BLE001 - I/O failure mid-file: the rest is a dead letter
            _log.debug("reading %s failed", path, exc_info=True)
            yield self._dead(
                reject(path, STAGE, f"read failed after {articles} articles: {type(exc).__name__}: {exc}")
            )
        finally:
            self._bytes.inc(counter.count)
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closing a read stream cannot lose data
                pass


class ReadArticles(beam.PTransform):
    """Read every file matched by ``patterns`` (local paths, globs, ``gs://``).

    Applied to the pipeline root; returns ``(raw_articles, dead_letters)``.
    A path matched by several patterns is read once; a pattern matching
    nothing, an unreadable file, and every bad line/item/entry is one dead
    letter (stage ``read``), up to ``max_dead_letters`` per file (then one that
    counts the rest). ``fields`` maps JSON field names (default: the ``auto``
    preset). Counters ``newsbeam.read``: files, articles, rejected, bytes.
    """

    def __init__(
        self,
        patterns: list[str],
        max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        label: str | None = None,
        *,
        max_dead_letters: int = DEFAULT_MAX_DEAD_LETTERS,
        fields: FieldMap | None = None,
    ) -> None:
        super().__init__(label)
        if isinstance(patterns, str):
            patterns = [patterns]
        self._patterns = [path_element(p) if isinstance(p, str) else p for p in patterns]
        self._max_article_bytes = max_article_bytes
        self._max_file_bytes = max_file_bytes
        self._max_dead_letters = max_dead_letters
        self._fields = fields

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, beam.PCollection]:
        matched = (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "MatchPatterns" >> beam.ParDo(_MatchPattern()).with_outputs(DEAD_LETTER, main=MAIN)
        )
        read = (
            matched[MAIN]
            | "DistinctPaths" >> beam.Distinct()
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadFiles"
            >> beam.ParDo(
                ReadFileFn(self._max_article_bytes, self._max_file_bytes, self._max_dead_letters, self._fields)
            ).with_outputs(DEAD_LETTER, main=MAIN)
        )
        dead = (matched[DEAD_LETTER], read[DEAD_LETTER]) | "MergeDeadLetters" >> beam.Flatten()
        return read[MAIN], dead
