"""The streaming job's "seen files" record: which watched files are done.

A watched file is *done* once every record it gave (articles, stories, dead
letters) is in a window file under ``--output``. :class:`RecordSeenFiles` writes,
per window, one small part file listing that window's watched files, and only
after the window's outputs were written; the next job skips exactly those
files. So a file seen by a stopped job is either in its outputs or read again.

Layout: ``<output>/_streaming/seen/<window start>-<window end>-<job>-<nonce>.seen``,
one JSON string (the path) per line, each part written under a temporary name and
renamed, so a part is whole or absent. :func:`compact` (at job start) folds the
parts into one. Counter ``newsbeam.streaming.seen_files``: paths committed.
"""

from __future__ import annotations

import json
import uuid
from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import window

from transforms.common.stage import namespace
from transforms.io.write import output_path, window_stamp

SEEN_DIR = ("_streaming", "seen")
SUFFIX = ".seen"
_KEY = "seen"  # one key per window: the commit needs every output of the window
_PATH, _WRITTEN = "path", "written"


class SeenFilesError(Exception):
    """A part of the seen-files record cannot be read (damaged by hand or by a disk)."""


def seen_folder(output: str) -> str:
    """Where the seen-files record of the streaming job writing ``output`` lives."""
    return output_path(output, *SEEN_DIR)


def _parts(folder: str) -> list[str]:
    """The part files under ``folder`` (none when it does not exist yet); a listing
    failure raises: guessing "nothing seen" would read every file again."""
    return sorted(m.path for m in FileSystems.match([output_path(folder, "*" + SUFFIX)])[0].metadata_list)


def _read_part(path: str) -> list[str]:
    with FileSystems.open(path) as fh:
        data = fh.read()
    try:
        paths = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SeenFilesError(
            f"{path} is damaged ({exc}); delete it to read that window's files again "
            "(their records may then appear twice)"
        ) from None
    if not all(isinstance(p, str) for p in paths):
        raise SeenFilesError(f"{path} is damaged (a line is not a path); delete it to read that window's files again")
    return paths


def read_seen(folder: str) -> set[str]:
    """Every path committed under ``folder`` (empty when there is none yet)."""
    seen: set[str] = set()
    for part in _parts(folder):
        seen.update(_read_part(part))
    return seen


def write_part(folder: str, name: str, paths: Iterable[str]) -> str:
    """Write one part atomically (temporary name, then rename); return its path."""
    final = output_path(folder, name + SUFFIX)
    temp = output_path(folder, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    if "://" not in folder:
        try:
            FileSystems.mkdirs(folder)
        except OSError:
            pass  # exists already
    body = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in sorted(set(paths)))
    with FileSystems.create(temp) as fh:
        fh.write(body.encode("utf-8"))
    FileSystems.rename([temp], [final])
    return final


def compact(folder: str) -> set[str]:
    """Fold all parts into one (written before the old ones are deleted, so a crash
    in between only repeats paths); return the committed paths. Raises
    :class:`SeenFilesError` naming a damaged part."""
    parts = _parts(folder)
    seen: set[str] = set()
    for part in parts:
        seen.update(_read_part(part))
    if len(parts) > 1:
        write_part(folder, f"compact-{uuid.uuid4().hex[:12]}", seen)
        FileSystems.delete(parts)
    return seen


def window_part_name(start: float, end: float, job: str) -> str:
    """The part name of one window: ``<start>-<end>-<job>-<nonce>`` (times as in the window files)."""
    return f"{window_stamp(start)}-{window_stamp(end)}-{job}-{uuid.uuid4().hex[:8]}"


class CommitSeenFn(beam.DoFn):
    """One grouped window -> one part listing the window's watched paths."""

    def __init__(self, folder: str, job: str) -> None:
        self._folder, self._job = folder, job
        self._committed = Metrics.counter(namespace("streaming"), "seen_files")

    def process(self, element: tuple[str, Iterable[tuple[str, str]]], w=beam.DoFn.WindowParam) -> Iterator[int]:
        _, items = element
        paths = sorted({value for kind, value in items if kind == _PATH})
        if not paths:
            return
        start, end = float(w.start.micros) / 1e6, float(w.end.micros) / 1e6
        write_part(self._folder, window_part_name(start, end, self._job), paths)
        self._committed.inc(len(paths))
        yield len(paths)


class RecordSeenFiles(beam.PTransform):
    """Apply to ``(paths, written)``: the watched file paths (timestamped at discovery,
    global window) and the flattened results of the window writes. Commits each
    window's paths once that window's writes are done: both go through one
    GroupByKey in the same windows, which fires only when the watermark has passed
    the window end on both inputs, i.e. after the writes of that window."""

    def __init__(self, folder: str, job: str, window_seconds: float, allowed_lateness: float = 0.0) -> None:
        super().__init__()
        self._folder, self._job = folder, job
        self._window_seconds, self._lateness = window_seconds, allowed_lateness

    def expand(self, pcolls: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        paths, written = pcolls
        windowfn = window.FixedWindows(self._window_seconds)
        keyed_paths = (
            paths
            | "WindowPaths" >> beam.WindowInto(windowfn, allowed_lateness=self._lateness)
            | "KeyPaths" >> beam.Map(lambda p: (_KEY, (_PATH, p)))
        )
        keyed_written = written | "KeyWritten" >> beam.Map(lambda r: (_KEY, (_WRITTEN, str(r.file_name))))
        return (
            (keyed_paths, keyed_written)
            | "FlattenPathsAndWrites" >> beam.Flatten()
            | "GroupByWindow" >> beam.GroupByKey()
            | "CommitSeen" >> beam.ParDo(CommitSeenFn(self._folder, self._job))
        )


class SkipSeenFiles(beam.DoFn):
    """Drop ``("file", path)`` pairs an earlier job committed (runners other than the
    DirectRunner, where ``fileio.MatchContinuously`` lists every file again)."""

    def __init__(self, folder: str) -> None:
        self._folder = folder
        self._seen: set[str] = set()

    def setup(self) -> None:
        self._seen = read_seen(self._folder)

    def process(self, item: tuple[str, str]) -> Iterator[tuple[str, str]]:
        if item[0] != "file" or item[1] not in self._seen:
            yield item
