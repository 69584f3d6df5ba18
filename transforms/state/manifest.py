"""Incremental scheduled runs: take only new inputs, commit outputs all at once.

A scheduled run (``--incremental``, with ``--state``) goes through four steps:

1. **Select**: match the ``--input`` patterns and drop every file already listed,
   with the same fingerprint (path, size, modification time), in a committed
   manifest under ``<state>/manifest/``. A file rewritten in place gets a new
   fingerprint and is read again.
2. **Name**: the run id is a hash of the selected fingerprints, so running the
   same run again (after a crash, or by a retrying scheduler) gets the same id,
   the same staging folder and the same final folder names.
3. **Stage**: the pipeline writes into ``<output>/_staging/<run_id>/``, outside
   ``articles/``, ``stories/`` and ``dead_letter/``; readers never look there.
4. **Commit**: the run's previous partitions (from an interrupted commit) are
   deleted, every staged file is renamed to
   ``<output>/<kind>/run=<run_id>/<file>`` (a rename publishes a complete file,
   never a half-written one), the manifest ``<state>/manifest/run-<run_id>.json``
   is written last (the commit marker), then the staging folder is removed.

A crash before the manifest leaves the inputs "new": the next run selects the
same files, gets the same run id and replaces whatever the crashed run had
published, so no record appears twice. A run with nothing new writes nothing.

All file access goes through Beam's ``FileSystems`` (local paths and ``gs://``).
The selection and naming functions are pure and take plain tuples.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from typing import Iterable, Sequence

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

MANIFEST_DIR = "manifest"
STAGING_DIR = "_staging"
RUN_PREFIX = "run="
COMMITTED_KINDS = (
    "articles", "stories", "dead_letter",
    "articles_parquet", "stories_parquet", "topics_parquet", "dead_letter_parquet",  # transforms/io/tables.py
)

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, order=True)
class InputFile:
    """A matched input file and what identifies this version of it."""

    path: str
    size: int
    mtime: float

    @property
    def fingerprint(self) -> tuple[str, int, float]:
        return (self.path, self.size, round(self.mtime, 3))

    def to_json(self) -> dict:
        return {"path": self.path, "size": self.size, "mtime": round(self.mtime, 3)}

    @classmethod
    def from_json(cls, data: dict) -> "InputFile":
        return cls(str(data["path"]), int(data["size"]), float(data["mtime"]))


# -- pure logic ---------------------------------------------------------------------------


def select_new(matched: Iterable[InputFile], done: Iterable[InputFile]) -> list[InputFile]:
    """The matched files whose fingerprint is in no committed manifest, sorted, unique."""
    seen = {f.fingerprint for f in done}
    unique = {f.fingerprint: f for f in matched}
    return sorted(f for fp, f in unique.items() if fp not in seen)


def run_id_for(files: Sequence[InputFile]) -> str:
    """A stable id for a run over exactly these file versions (order does not matter)."""
    digest = hashlib.sha256()
    for path, size, mtime in sorted(f.fingerprint for f in files):
        digest.update(f"{path}\0{size}\0{mtime:.3f}\n".encode("utf-8"))
    return digest.hexdigest()[:16]


def manifest_record(run_id: str, files: Sequence[InputFile], summary: dict | None, committed_at: str) -> dict:
    return {
        "run_id": run_id,
        "committed_at": committed_at,
        "files": [f.to_json() for f in sorted(files)],
        "summary": summary or {},
    }


def final_name(output: str, kind: str, run_id: str, staged_path: str) -> str:
    """Where a staged file of ``kind`` is published: ``<output>/<kind>/run=<id>/<rest>``."""
    marker = f"/{STAGING_DIR}/{run_id}/{kind}/"
    rest = staged_path.split(marker, 1)[1]
    return _join(output, kind, f"{RUN_PREFIX}{run_id}", rest)


# -- I/O through Beam's FileSystems -------------------------------------------------------


def _join(base: str, *parts: str) -> str:
    return FileSystems.join(base.rstrip("/"), *parts)


def _is_local(path: str) -> bool:
    return "://" not in path


def staging_dir(output: str, run_id: str) -> str:
    return _join(output, STAGING_DIR, run_id)


def manifest_path(state: str, run_id: str) -> str:
    return _join(state, MANIFEST_DIR, f"run-{run_id}.json")


def match_inputs(patterns: Sequence[str]) -> list[InputFile]:
    """Every file the patterns match now (patterns that match nothing give nothing)."""
    found: list[InputFile] = []
    for result in FileSystems.match(list(patterns)):
        for meta in result.metadata_list:
            found.append(InputFile(meta.path, int(meta.size_in_bytes), float(meta.last_updated_in_seconds or 0.0)))
    return sorted(set(found))


def _match_paths(pattern: str) -> list[str]:
    try:
        return [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    except BeamIOError:
        return []


def committed_files(state: str) -> list[InputFile]:
    """The input files of every committed run under ``<state>/manifest/``."""
    files: list[InputFile] = []
    for path in sorted(_match_paths(_join(state, MANIFEST_DIR, "run-*.json"))):
        with FileSystems.open(path) as fh:
            record = json.loads(fh.read().decode("utf-8"))
        files.extend(InputFile.from_json(f) for f in record.get("files", ()))
    return files


def _delete(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)


def _ensure_dir(path: str) -> None:
    if _is_local(path) and not FileSystems.exists(path):
        try:
            FileSystems.mkdirs(path)
        except IOError:
            if not FileSystems.exists(path):
                raise


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0]


def clear_staging(output: str, run_id: str) -> None:
    """Remove what an earlier attempt of this run staged (files and, locally, folders)."""
    folder = staging_dir(output, run_id)
    if _is_local(folder):
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        return
    _delete(_match_paths(_join(folder, "**")))


def commit(output: str, state: str, run_id: str, files: Sequence[InputFile], summary: dict | None) -> dict:
    """Publish the staged outputs of ``run_id`` and write its manifest; return the manifest."""
    for kind in COMMITTED_KINDS:
        # an interrupted earlier commit of this same run may have published some files
        _delete(_match_paths(_join(output, kind, f"{RUN_PREFIX}{run_id}", "**")))
    sources, targets = [], []
    for kind in COMMITTED_KINDS:
        for path in sorted(_match_paths(_join(staging_dir(output, run_id), kind, "**"))):
            sources.append(path)
            targets.append(final_name(output, kind, run_id, path))
    for target in sorted({_dirname(t) for t in targets}):
        _ensure_dir(target)
    if sources:
        FileSystems.rename(sources, targets)
    summary_staged = _join(staging_dir(output, run_id), "summary.json")
    if FileSystems.exists(summary_staged):
        runs_dir = _join(output, "runs", f"{RUN_PREFIX}{run_id}")
        _ensure_dir(runs_dir)
        _delete(_match_paths(_join(runs_dir, "summary.json")))
        FileSystems.rename([summary_staged], [_join(runs_dir, "summary.json")])
    committed_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = manifest_record(run_id, files, summary, committed_at)
    _ensure_dir(_join(state, MANIFEST_DIR))
    target = manifest_path(state, run_id)
    temp = target + ".tmp"
    with FileSystems.create(temp) as fh:
        fh.write(json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
    _delete(_match_paths(target))
    FileSystems.rename([temp], [target])  # the commit point
    clear_staging(output, run_id)
    _log.info("run %s committed: %d input files, %d output files", run_id, len(files), len(sources))
    return record
