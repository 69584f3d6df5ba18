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
4. **Commit**: a journal ``<staging>/_COMMITTING`` names every staged file and holds
   the manifest record; files of the run's partitions that the journal does not
   name (from an earlier attempt) are deleted, every staged file is renamed to
   ``<output>/<kind>/run=<run_id>/<file>`` (a rename publishes a complete file,
   never a half-written one), the manifest ``<state>/manifest/run-<run_id>.json``
   is written (the commit point), then ``<output>/runs/run=<run_id>/_SUCCESS``
   (the completion marker readers and ``pipeline.verify`` use), and the staging
   folder is removed.

A crash before the journal leaves the inputs "new": the next run selects the
same files, gets the same run id and replaces whatever the crashed run had
staged. A crash after it is finished by the next run (:func:`recover_commits`,
under the ``--output`` lock) before it selects anything, so no record is lost or
appears twice even when new files arrived in between. A run with nothing new
writes nothing. Every manifest carries a checksum; a damaged one stops the run
with a :class:`~transforms.state.integrity.StateError`.

All file access goes through Beam's ``FileSystems`` (local paths and ``gs://``).
The selection and naming functions are pure and take plain tuples.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
from typing import Iterable, Sequence

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from transforms.state.integrity import StateError, load_sealed, seal

MANIFEST_DIR = "manifest"
STAGING_DIR = "_staging"
RUN_PREFIX = "run="
COMMITTED_KINDS = (
    "articles", "stories", "dead_letter",
    "articles_parquet", "stories_parquet", "topics_parquet", "dead_letter_parquet",  # transforms/io/tables.py
)
RUNS_DIR = "runs"
COMMIT_JOURNAL = "_COMMITTING"
SUCCESS_FILE = "_SUCCESS"

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


def read_manifest(path: str) -> dict:
    """A committed manifest, checked; StateError naming the file when it is damaged."""
    run = path.rstrip("/").rsplit("/", 1)[-1][len("run-"):-len(".json")]
    recovery = (f"restore it from a backup, or delete it so its input files are read again "
                f"(then also delete <output>/*/run={run}/, or their records appear twice)")
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        record = load_sealed(fh.read(), path, recovery)
    try:
        files = [InputFile.from_json(f) for f in record["files"]]
    except (KeyError, TypeError, ValueError):
        raise StateError(f"{path} is damaged (no valid list of files); {recovery}") from None
    return {**record, "files": files}


def committed_files(state: str) -> list[InputFile]:
    """The input files of every committed run under ``<state>/manifest/``."""
    files: list[InputFile] = []
    for path in sorted(_match_paths(_join(state, MANIFEST_DIR, "run-*.json"))):
        files.extend(read_manifest(path)["files"])
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


def _write_json(path: str, record: dict) -> None:
    """One JSON object written whole (a temp file and a rename; one object write on GCS)."""
    data = json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
    if not _is_local(path):
        with FileSystems.create(path) as fh:
            fh.write(data)
        return
    _ensure_dir(_dirname(path))
    temp = path + ".tmp"
    with FileSystems.create(temp) as fh:
        fh.write(data)
    FileSystems.rename([temp], [path])


def _staged(output: str, run_id: str) -> list[str]:
    """The staged files of ``run_id`` to publish, relative to its staging folder."""
    staging = staging_dir(output, run_id)
    found = []
    for kind in COMMITTED_KINDS:
        for path in sorted(_match_paths(_join(staging, kind, "**"))):
            rel = path[len(staging.rstrip("/")) + 1:]
            if not any(part.startswith((".", "beam-temp-")) for part in rel.split("/")):  # temp files
                found.append(rel)
    return found


def commit(output: str, state: str, run_id: str, files: Sequence[InputFile], summary: dict | None) -> dict:
    """Publish the staged outputs of ``run_id`` and write its manifest; return the manifest."""
    committed_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = seal(manifest_record(run_id, files, summary, committed_at))
    journal = {"run_id": run_id, "state": state, "files": _staged(output, run_id), "manifest": record}
    _write_json(_join(staging_dir(output, run_id), COMMIT_JOURNAL), journal)
    return finish_commit(output, journal)


def finish_commit(output: str, journal: dict) -> dict:
    """The commit of a journaled run, from its journal; safe to repeat after a crash."""
    run_id, state, record = journal["run_id"], journal["state"], journal["manifest"]
    staging = staging_dir(output, run_id)
    targets = {rel: final_name(output, rel.split("/", 1)[0], run_id, _join(staging, rel)) for rel in journal["files"]}
    wanted = {_normal(t) for t in targets.values()}
    for kind in COMMITTED_KINDS:  # files of an earlier attempt of this run that this one does not write
        _delete([p for p in _match_paths(_join(output, kind, f"{RUN_PREFIX}{run_id}", "**")) if _normal(p) not in wanted])
    for rel, target in targets.items():
        source = _join(staging, rel)
        if FileSystems.exists(source):
            _ensure_dir(_dirname(target))
            FileSystems.rename([source], [target])
    runs_dir = _join(output, RUNS_DIR, f"{RUN_PREFIX}{run_id}")
    summary_staged = _join(staging, "summary.json")
    if FileSystems.exists(summary_staged):
        _ensure_dir(runs_dir)
        _delete(_match_paths(_join(runs_dir, "summary.json")))
        FileSystems.rename([summary_staged], [_join(runs_dir, "summary.json")])
    _ensure_dir(_join(state, MANIFEST_DIR))
    _write_json(manifest_path(state, run_id), record)  # the commit point
    summary = record.get("summary") or {}
    _write_json(_join(runs_dir, SUCCESS_FILE), {
        "run_id": run_id,
        "completed_at": record["committed_at"],
        "counts": {k: summary.get(k) for k in ("inputs", "articles", "stories", "dead_letters")},
        "files": sorted(t[len(output.rstrip("/")) + 1:] for t in targets.values()),
    })
    clear_staging(output, run_id)
    _log.info("run %s committed: %d input files, %d output files", run_id, len(record["files"]), len(targets))
    return record


def _normal(path: str) -> str:
    return os.path.normpath(path) if _is_local(path) else path


def recover_commits(output: str) -> list[str]:
    """Finish the commits that were interrupted after their journal was written (under
    the ``--output`` lock, before a run selects its files); return their run ids."""
    root = _join(output, STAGING_DIR)
    done = []
    for path in sorted(_match_paths(_join(root, "*", COMMIT_JOURNAL))):
        with FileSystems.open(path, compression_type="uncompressed") as fh:
            try:
                journal = json.loads(fh.read().decode("utf-8"))
            except ValueError:
                continue  # half-written: the commit had not started; the staging folder is removed
        _log.warning("finishing the interrupted commit of run %s", journal["run_id"])
        finish_commit(output, journal)
        done.append(journal["run_id"])
    return done
