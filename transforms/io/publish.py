"""Atomic outputs of a plain batch run: stage, then publish with a completion marker.

A run writes everything (``articles/``, ``stories/``, ``dead_letter/``, Parquet,
``summary.json``) into ``<output>/_staging/<run id>/``; the previous run's outputs are
not touched while it runs, so a run that fails or is killed leaves them as they
were. When the pipeline has succeeded, :func:`publish`:

1. writes the journal ``<staging>/_PUBLISHING`` (the staged files, the previous
   run's files to remove, the counts): from here on the run is complete, and if the
   publication is interrupted the next run finishes it (:func:`recover`);
2. removes ``<output>/_SUCCESS``, then ``<output>/summary.json``: readers see that the
   folder is being replaced;
3. moves every staged file to the same path under ``<output>`` (on disk a rename,
   which replaces a file atomically; on Cloud Storage a copy, then a delete);
4. deletes the previous run's files the new run did not overwrite;
5. writes ``_SUCCESS`` (run id, time, counts, the list of files), then
   ``summary.json`` (with the run id): the folder is complete when ``_SUCCESS``
   exists and names the same run as ``summary.json``;
6. removes the staging folder.

Between 2 and 5 (milliseconds on disk; on GCS the time to copy the files) the
folder mixes old and new files and has no marker. :func:`recover`, run by the next
run while it holds the ``--output`` lock, finishes a journaled publication and
deletes every other staging folder (failed or killed runs).

All file access goes through Beam's ``FileSystems`` (local paths and ``gs://``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import uuid
from typing import Iterable

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from transforms.io.write import OUTPUT_DIRS, SUMMARY_FILE
from transforms.state.manifest import STAGING_DIR

SUCCESS_FILE = "_SUCCESS"
JOURNAL_FILE = "_PUBLISHING"
MARKER_FORMAT = 1
# what newsbeam wrote before _SUCCESS listed the files (removed when a run replaces them)
LEGACY_PATTERNS = tuple(f"{d}/{d}-*-of-*" for d in OUTPUT_DIRS) + ("articles_parquet/published_date=*/part-*.parquet",)

_TEMP = (".", "beam-temp-")
_WINDOW = re.compile(r"\d{4}-\d\d-\d\dT\d\d[:-]?\d\d")

_log = logging.getLogger(__name__)


def _join(base: str, *parts: str) -> str:
    return FileSystems.join(base.rstrip("/"), *parts)


def _is_local(path: str) -> bool:
    return "://" not in path


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id(now: dt.datetime | None = None) -> str:
    """A run id that sorts by start time: ``20261207T055012Z-1a2b3c4d``."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    return f"{moment.astimezone(dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def staging_dir(output: str, run_id: str) -> str:
    return _join(output, STAGING_DIR, run_id)


def _match(pattern: str) -> list[str]:
    try:
        return [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    except BeamIOError:
        return []


def _relative(base: str, path: str) -> str:
    prefix = base.rstrip("/") + "/"
    if _is_local(base):
        return os.path.relpath(path, base).replace(os.sep, "/")
    return path[len(prefix):] if path.startswith(prefix) else path


def staged_files(folder: str) -> list[str]:
    """The files under ``folder`` (relative, sorted), leaving out temporary files
    (Beam's ``beam-temp-*`` folders, Parquet's ``.tmp-*``) and the journal."""
    found = []
    for path in _match(_join(folder, "**")):
        rel = _relative(folder, path)
        if rel == JOURNAL_FILE or any(part.startswith(_TEMP) for part in rel.split("/")):
            continue
        found.append(rel)
    return sorted(found)


def _write_json(path: str, record: dict) -> None:
    """One JSON object written whole: a temp file and a rename on disk, one object write on GCS."""
    data = (json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    if not _is_local(path):
        with FileSystems.create(path, mime_type="application/json") as fh:
            fh.write(data)
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        _remove_quietly(temp)
        raise


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def read_json(path: str) -> dict | None:
    """A JSON object file, or None when it does not exist; ValueError when it is not one."""
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path, compression_type="uncompressed") as fh:
            raw = fh.read()
    except BeamIOError:
        return None
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def read_marker(output: str) -> dict | None:
    """The ``_SUCCESS`` of the last published run, or None (none yet, or damaged)."""
    try:
        return read_json(_join(output, SUCCESS_FILE))
    except ValueError:
        return None


def previous_files(output: str) -> list[str]:
    """What the last published run wrote (from its ``_SUCCESS``; for folders written
    before the marker existed, the files under newsbeam's own names)."""
    marker = read_marker(output)
    files = set(marker.get("files", ())) if marker else set()
    for pattern in LEGACY_PATTERNS:  # streaming windows (names with their times) are not a batch run's
        files.update(_relative(output, p) for p in _match(_join(output, pattern)) if not _WINDOW.search(p.rsplit("/", 1)[-1]))
    return sorted(f for f in files if isinstance(f, str) and f and not f.startswith(".."))


def _delete(paths: Iterable[str]) -> None:
    paths = [p for p in paths if FileSystems.exists(p)]
    if paths:
        FileSystems.delete(paths)


def _move(source: str, target: str) -> None:
    if _is_local(source):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(source, target)
    else:
        FileSystems.rename([source], [target])  # copy, then delete


def remove_tree(folder: str) -> None:
    """Delete a folder and everything in it (on GCS: every object under the prefix)."""
    if _is_local(folder):
        shutil.rmtree(folder, ignore_errors=True)
    else:
        _delete(_match(_join(folder, "**")))


def publish(output: str, run_id: str, summary: dict) -> dict:
    """Publish the staged run ``run_id`` under ``output``; return its ``_SUCCESS`` record."""
    staging = staging_dir(output, run_id)
    files = [f for f in staged_files(staging) if f != SUMMARY_FILE]
    new = set(files)
    journal = {
        "run_id": run_id,
        "files": files,
        "remove": [f for f in previous_files(output) if f not in new],
        "summary": {**summary, "run_id": run_id},
    }
    _write_json(_join(staging, JOURNAL_FILE), journal)
    return _finish(output, staging, journal)


def _finish(output: str, staging: str, journal: dict) -> dict:
    """Steps 2-6 of the publication, from the journal; safe to repeat."""
    _delete([_join(output, SUCCESS_FILE), _join(output, SUMMARY_FILE)])
    for rel in journal["files"]:
        source = _join(staging, rel)
        if FileSystems.exists(source):
            _move(source, _join(output, rel))
    _delete(_join(output, rel) for rel in journal["remove"])
    summary = journal["summary"]
    marker = {
        "format": MARKER_FORMAT,
        "run_id": journal["run_id"],
        "completed_at": _now(),
        "counts": {k: summary.get(k) for k in ("inputs", "articles", "stories", "dead_letters")},
        "files": journal["files"],
    }
    _write_json(_join(output, SUCCESS_FILE), marker)
    _write_json(_join(output, SUMMARY_FILE), summary)
    remove_tree(staging)
    _remove_empty_root(output)
    _log.info("run %s published: %d files", journal["run_id"], len(journal["files"]))
    return marker


def staging_runs(output: str) -> list[str]:
    """The run ids with a folder under ``<output>/_staging/``."""
    root = _join(output, STAGING_DIR)
    if _is_local(root):
        return sorted(os.listdir(root)) if os.path.isdir(root) else []
    return sorted({_relative(root, p).split("/", 1)[0] for p in _match(_join(root, "**"))})


def recover(output: str, keep: Iterable[str] = ()) -> list[str]:
    """Under the ``--output`` lock, before a run: finish a journaled publication that
    was interrupted, delete the staging folders of failed or killed runs (but those
    in ``keep``); return the run ids handled."""
    handled = []
    for run_id in staging_runs(output):
        if run_id in keep:
            continue
        staging = staging_dir(output, run_id)
        try:
            journal = read_json(_join(staging, JOURNAL_FILE))
        except ValueError:
            journal = None  # a journal half-written: the publication had not started
        if journal and journal.get("run_id") == run_id:
            _log.warning("finishing the interrupted publication of run %s", run_id)
            _finish(output, staging, journal)
        else:
            _log.warning("removing the staging folder of run %s (it failed or was stopped)", run_id)
            remove_tree(staging)
        handled.append(run_id)
    _remove_empty_root(output)
    return handled


def _remove_empty_root(output: str) -> None:
    root = _join(output, STAGING_DIR)
    try:
        if _is_local(root) and os.path.isdir(root) and not os.listdir(root):
            os.rmdir(root)
    except OSError:  # another file appeared: not empty, leave it
        pass
