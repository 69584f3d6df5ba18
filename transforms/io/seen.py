"""The streaming job's "seen files" record: which watched files are done.

A watched file is *done* once every record it gave (articles, stories, dead
letters) is in a window file under ``--output``. :class:`RecordSeenFiles` writes,
per window, one small part file listing that window's watched files, and only
after the window's outputs were written; the next job skips exactly those
files. So a file seen by a stopped job is either in its outputs or read again.

A job stopped without draining (second signal, drain deadline, kill -9) can leave
window files whose part was never written; their inputs are read again, so at
start :func:`set_aside_uncommitted` moves those files to
``<output>/_streaming/uncommitted/<kind>/<name>.uncommitted`` (kept, out of the readers' way):
every input's records then stay in the outputs exactly once.

Layout: ``<output>/_streaming/seen/<window start>-<window end>-<job>-<nonce>.seen``,
one JSON value per line: a string is a watched path, ``{"window": key}`` a
committed window (``<start>-<end>-<job>``, as in the window file names), ``{"item": key}``
a committed feed entry or Pub/Sub message (:mod:`transforms.io.items`). Each part
is written under a temporary name and renamed, so it is whole or absent.
:func:`compact` (at job start) folds the parts into one. Counter
``newsbeam.streaming.seen_files``: paths committed.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Callable, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import window

from transforms.common.stage import namespace
from transforms.io.write import OUTPUT_DIRS, output_path, window_stamp

SEEN_DIR = ("_streaming", "seen")
UNCOMMITTED_DIR = ("_streaming", "uncommitted")
UNCOMMITTED_SUFFIX = ".uncommitted"
_STAMP = r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ"
WINDOW_DIRS = (*OUTPUT_DIRS, "summary")  # a window's records and its summary (streaming stories)
_WINDOW_FILE = re.compile(rf"^(?:{'|'.join(WINDOW_DIRS)})-({_STAMP}-{_STAMP}-[0-9a-f]{{8}})-\d{{5}}-of-\d{{5}}\.jsonl(?:\.gz)?$")
SUFFIX = ".seen"
_KEY = "seen"  # one key per window: the commit needs every output of the window
_PATH, _WRITTEN, _ITEM = "path", "written", "item"


class SeenFilesError(Exception):
    """A part of the seen-files record cannot be read (damaged by hand or by a disk)."""


def seen_folder(output: str) -> str:
    """Where the seen-files record of the streaming job writing ``output`` lives."""
    return output_path(output, *SEEN_DIR)


def _parts(folder: str) -> list[str]:
    """The part files under ``folder`` (none when it does not exist yet); a listing
    failure raises: guessing "nothing seen" would read every file again."""
    return sorted(m.path for m in FileSystems.match([output_path(folder, "*" + SUFFIX)])[0].metadata_list)


def _read_part(path: str) -> tuple[list[str], list[str], list[str]]:
    """``(paths, committed window keys, committed item keys)`` of one part."""
    with FileSystems.open(path) as fh:
        data = fh.read()
    try:
        values = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SeenFilesError(
            f"{path} is damaged ({exc}); delete it to read that window's files again "
            "(their records may then appear twice)"
        ) from None
    paths = [v for v in values if isinstance(v, str)]
    tagged = [v for v in values if isinstance(v, dict) and len(v) == 1 and isinstance(next(iter(v.values())), str)]
    windows = [v["window"] for v in tagged if "window" in v]
    items = [v["item"] for v in tagged if "item" in v]
    if len(paths) + len(windows) + len(items) != len(values):
        raise SeenFilesError(f"{path} is damaged (a line is not a path); delete it to read that window's files again")
    return paths, windows, items


def read_full(folder: str) -> tuple[set[str], set[str], set[str]]:
    """``(committed paths, committed window keys, committed item keys)`` under ``folder``."""
    paths: set[str] = set()
    windows: set[str] = set()
    items: set[str] = set()
    for part in _parts(folder):
        p, w, i = _read_part(part)
        paths.update(p)
        windows.update(w)
        items.update(i)
    return paths, windows, items


def read_record(folder: str) -> tuple[set[str], set[str]]:
    """``(committed paths, committed window keys)`` under ``folder`` (empty when none yet)."""
    paths, windows, _ = read_full(folder)
    return paths, windows


def read_items(folder: str) -> set[str]:
    """Every feed entry / Pub/Sub message key committed under ``folder``."""
    return read_full(folder)[2]


def read_seen(folder: str) -> set[str]:
    """Every path committed under ``folder`` (empty when there is none yet)."""
    return read_record(folder)[0]


def write_part(folder: str, name: str, paths: Iterable[str], windows: Iterable[str] = (), items: Iterable[str] = ()) -> str:
    """Write one part atomically (temporary name, then rename); return its path."""
    final = output_path(folder, name + SUFFIX)
    temp = output_path(folder, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    if "://" not in folder:
        try:
            FileSystems.mkdirs(folder)
        except OSError:
            pass  # exists already
    body = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in sorted(set(paths)))
    body += "".join(json.dumps({"window": w}) + "\n" for w in sorted(set(windows)))
    body += "".join(json.dumps({"item": i}, ensure_ascii=False) + "\n" for i in sorted(set(items)))
    with FileSystems.create(temp) as fh:
        fh.write(body.encode("utf-8"))
    FileSystems.rename([temp], [final])
    return final


def compact(folder: str) -> tuple[set[str], set[str]]:
    """Fold all parts into one (written before the old ones are deleted, so a crash
    in between only repeats lines); return ``(paths, window keys)``. Raises
    :class:`SeenFilesError` naming a damaged part."""
    parts = _parts(folder)
    paths, windows, items = read_full(folder)
    if len(parts) > 1:
        write_part(folder, f"compact-{uuid.uuid4().hex[:12]}", paths, windows, items)
        FileSystems.delete(parts)
    return paths, windows


def window_key(start: float, end: float, job: str) -> str:
    """``<start>-<end>-<job>``: the part of a window file's name naming its window and job."""
    return f"{window_stamp(start)}-{window_stamp(end)}-{job}"


def window_part_name(start: float, end: float, job: str) -> str:
    """The part name of one window: ``<start>-<end>-<job>-<nonce>`` (times as in the window files)."""
    return f"{window_key(start, end, job)}-{uuid.uuid4().hex[:8]}"


def uncommitted_files(names: Iterable[str], windows: set[str]) -> list[str]:
    """The window file names (``articles-<start>-<end>-<job>-SSSSS-of-NNNNN.jsonl``) whose
    window was not committed; other names (batch outputs, older jobs' names) never."""
    found = []
    for name in names:
        m = _WINDOW_FILE.match(name)
        if m and m.group(1) not in windows:
            found.append(name)
    return found


def set_aside_uncommitted(output: str, windows: set[str]) -> list[str]:
    """Move the window files of uncommitted windows to ``<output>/_streaming/uncommitted/<kind>/``;
    return their new paths. Their inputs were not committed, so this job reads them again."""
    moved = []
    for kind in WINDOW_DIRS:
        listed = FileSystems.match([output_path(output, kind, f"{kind}-*-of-*")])[0].metadata_list
        by_name = {m.path.rsplit("/", 1)[-1]: m.path for m in listed}
        names = uncommitted_files(by_name, windows)
        if not names:
            continue
        target = output_path(output, *UNCOMMITTED_DIR, kind)
        if "://" not in output:
            try:
                FileSystems.mkdirs(target)
            except OSError:
                pass  # exists already
        sources = [by_name[n] for n in names]
        destinations = [output_path(target, n + UNCOMMITTED_SUFFIX) for n in names]  # no reader's *.jsonl
        FileSystems.rename(sources, destinations)
        moved.extend(destinations)
    return moved


class CommitSeenFn(beam.DoFn):
    """One grouped window -> one part listing the window's watched paths and item keys;
    then ``on_commit(item keys)`` (acknowledges the window's Pub/Sub messages)."""

    def __init__(self, folder: str, job: str, on_commit: Callable[[list[str]], object] | None = None) -> None:
        self._folder, self._job, self._on_commit = folder, job, on_commit
        self._committed = Metrics.counter(namespace("streaming"), "seen_files")
        self._items = Metrics.counter(namespace("streaming"), "seen_items")

    def process(self, element: tuple[str, Iterable[tuple[str, str]]], w=beam.DoFn.WindowParam) -> Iterator[int]:
        _, values = element
        values = list(values)
        paths = sorted({value for kind, value in values if kind == _PATH})
        items = sorted({value for kind, value in values if kind == _ITEM})
        start, end = float(w.start.micros) / 1e6, float(w.end.micros) / 1e6
        # written even without paths (a window of feed or Pub/Sub records): its files are committed too
        write_part(
            self._folder, window_part_name(start, end, self._job), paths, [window_key(start, end, self._job)], items
        )
        self._committed.inc(len(paths))
        self._items.inc(len(items))
        if items and self._on_commit is not None:
            self._on_commit(items)
        yield len(paths)


class RecordSeenFiles(beam.PTransform):
    """Apply to ``(written, paths[, items])`` or ``(written,)``: the flattened results of the
    window writes, the watched file paths and the item keys of feed entries and Pub/Sub
    messages (:mod:`transforms.io.items`; both timestamped at discovery, global window).
    Commits each window (its key, paths and items) once that window's writes are done:
    all go through one GroupByKey in the same windows, which fires only when the
    watermark has passed the window end on every input, i.e. after the writes; then
    calls ``on_commit`` with the window's item keys."""

    def __init__(
        self,
        folder: str,
        job: str,
        window_seconds: float,
        allowed_lateness: float = 0.0,
        on_commit: Callable[[list[str]], object] | None = None,
    ) -> None:
        super().__init__()
        self._folder, self._job = folder, job
        self._window_seconds, self._lateness = window_seconds, allowed_lateness
        self._on_commit = on_commit

    def expand(self, pcolls: tuple[beam.PCollection, ...]) -> beam.PCollection:
        written = pcolls[0]
        keyed = [written | "KeyWritten" >> beam.Map(lambda r: (_KEY, (_WRITTEN, str(r.file_name))))]
        windowfn = window.FixedWindows(self._window_seconds)
        for label, kind, pcoll in (("Paths", _PATH, pcolls[1:2]), ("Items", _ITEM, pcolls[2:3])):
            for p in pcoll:
                keyed.append(
                    p
                    | f"Window{label}" >> beam.WindowInto(windowfn, allowed_lateness=self._lateness)
                    | f"Key{label}" >> beam.Map(lambda v, kind=kind: (_KEY, (kind, v)))
                )
        return (
            keyed
            | "FlattenPathsAndWrites" >> beam.Flatten()
            | "GroupByWindow" >> beam.GroupByKey()
            | "CommitSeen" >> beam.ParDo(CommitSeenFn(self._folder, self._job, self._on_commit))
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
