"""The generations of the ``--state`` memory: which one a run reads, the one it writes,
and the pointer that switches between them.

Each run writes a new generation ``<state>/memory/gen-<run time>-<token>/``; when the
whole run has succeeded, :func:`commit` replaces the small pointer
``<state>/memory/CURRENT`` in one write. The pointer records every shard's size and
checksum and carries a checksum of its own (``transforms/state/integrity.py``), so
:func:`plan_run` finds a damaged pointer or shard at launch and stops the run with
a :class:`StateError` saying how to recover, instead of reading less. Generations other
than the current one and the one it replaced are orphans of failed runs (runs
sharing a ``--state`` hold its lock) and are deleted at each commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid
from typing import Iterable

from apache_beam.io.filesystems import FileSystems

from transforms.state.integrity import StateError, file_checksum, load_sealed, seal

MEMORY_DIR = "memory"
POINTER = "CURRENT"
GENERATION_PREFIX = "gen-"
SHARD_PREFIX = "memory"
SHARD_SUFFIX = ".jsonl.gz"
FORMAT_VERSION = 2  # 2: CURRENT lists the generation's files with checksums and carries its own
READABLE_FORMATS = (1, 2)
DEFAULT_RETENTION_DAYS = 7.0

_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- time


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))



# --------------------------------------------------------------------------- plan and commit


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
    """What a run reads and writes under ``<state>/memory/``, resolved at launch."""

    state: str
    run_time: str  # ISO 8601 UTC: first_seen of this run's articles and "now" for retention
    generation: str  # the generation this run writes (a folder name)
    previous: str | None = None  # the committed generation it reads, None on a first run
    retention_days: float = DEFAULT_RETENTION_DAYS
    sketch: str = ""  # MinHash settings the signatures are made with (see sketch_id)
    reuse_signatures: bool = True  # the previous generation's signatures match ``sketch``
    files: tuple[str, ...] = ()  # the previous generation's shards, checked against CURRENT


def sketch_id(num_perm: int, seed: int, shingle_k: int, min_shingles: int) -> str:
    """The MinHash settings a signature depends on; signatures made with others are not comparable."""
    return f"minhash:{num_perm}:{seed}:{shingle_k}:{min_shingles}"


def memory_dir(state: str) -> str:
    return FileSystems.join(state.rstrip("/"), MEMORY_DIR)


def generation_dir(state: str, generation: str) -> str:
    return FileSystems.join(memory_dir(state), generation)


def generation_pattern(state: str, generation: str) -> str:
    return FileSystems.join(generation_dir(state, generation), f"{SHARD_PREFIX}-*")


def pointer_path(state: str) -> str:
    return FileSystems.join(memory_dir(state), POINTER)


def generation_name(run_time: str, token: str | None = None) -> str:
    stamp = _parse_iso(run_time).strftime("%Y%m%dT%H%M%SZ")
    return f"{GENERATION_PREFIX}{stamp}-{token or uuid.uuid4().hex[:8]}"


_RESTART = "delete CURRENT to start with an empty memory (every article is then new)"


def read_pointer(state: str) -> dict | None:
    """The committed pointer (``CURRENT``), checked, or None when no run has committed yet."""
    path = pointer_path(state)
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path, compression_type="uncompressed") as fh:
            raw = fh.read()
    except Exception as exc:  # noqa: BLE001 - any failure means the state is unusable
        raise StateError(f"cannot read {path}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    pointer = load_sealed(raw, path, f"restore it from a backup, or {_RESTART}")
    name = pointer.get("generation")
    if not isinstance(name, str) or not name.startswith(GENERATION_PREFIX) or "/" in name:
        raise StateError(f"{path} is damaged (names no generation); {_RESTART}")
    if pointer.get("format") not in READABLE_FORMATS:
        raise StateError(f"{path}: memory format {pointer.get('format')!r} is not one of {READABLE_FORMATS}")
    files = pointer.get("files")
    if pointer.get("format") >= 2 and (not isinstance(files, dict) or not all(
        isinstance(k, str) and "/" not in k and isinstance(v, dict) for k, v in files.items()
    )):
        raise StateError(f"{path} is damaged (no list of memory files); {_RESTART}")
    return pointer


def verified_files(state: str, pointer: dict) -> tuple[str, ...]:
    """The shard paths of the generation ``pointer`` names, each checked against the size
    and checksum recorded when it was committed (format 1 pointers recorded none: the
    files found are read as they are). StateError names the first damaged file."""
    generation = pointer["generation"]
    previous = pointer.get("previous")
    advice = (f"restore it from a backup, set \"generation\" in CURRENT back to {previous} (and drop its "
              f"\"checksum\"), or {_RESTART}") if previous else f"restore it from a backup, or {_RESTART}"
    if "files" not in pointer:
        try:
            found = FileSystems.match([generation_pattern(state, generation)])[0].metadata_list
        except Exception:  # noqa: BLE001 - a failed match means nothing is there
            found = []
        if not found:
            raise StateError(f"{pointer_path(state)} points at {generation}, which has no memory files; {_RESTART}")
        return tuple(sorted(m.path for m in found))
    paths = []
    for name, expected in sorted(pointer["files"].items()):
        path = FileSystems.join(generation_dir(state, generation), name)
        try:
            meta = FileSystems.match([path])[0].metadata_list
        except Exception:  # noqa: BLE001 - missing
            meta = []
        if not meta:
            raise StateError(f"memory file {path} is missing; {advice}")
        if meta[0].size_in_bytes != expected.get("size") or file_checksum(path) != expected.get("checksum"):
            raise StateError(f"memory file {path} is damaged (size or checksum differs from CURRENT); {advice}")
        paths.append(path)
    return tuple(paths)


def plan_run(
    state: str,
    *,
    retention_days: float = DEFAULT_RETENTION_DAYS,
    sketch: str = "",
    now: dt.datetime | None = None,
    token: str | None = None,
) -> MemoryPlan:
    """Resolve ``CURRENT`` at launch: the generation to read (its files checked) and
    the name of the one to write. ``StateError`` when the state is damaged."""
    run_time = iso_utc(now or dt.datetime.now(dt.timezone.utc))
    pointer = read_pointer(state)
    previous = None
    reuse = True
    files: tuple[str, ...] = ()
    if pointer is not None:
        previous = pointer["generation"]
        files = verified_files(state, pointer)
        reuse = pointer.get("sketch") == sketch
        if not reuse:
            _log.warning(
                "memory %s was sketched with %s, this run uses %s: remembered signatures are ignored",
                previous, pointer.get("sketch"), sketch,
            )
    return MemoryPlan(
        state=state,
        run_time=run_time,
        generation=generation_name(run_time, token),
        previous=previous,
        retention_days=retention_days,
        sketch=sketch,
        reuse_signatures=reuse,
        files=files,
    )


def _write_atomically(path: str, data: bytes) -> None:
    if "://" in path:  # object stores: one object write is atomic
        with FileSystems.create(path) as fh:
            fh.write(data)
        return
    temp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with FileSystems.create(temp, compression_type="uncompressed") as fh:
            fh.write(data)
        FileSystems.rename([temp], [path])  # os.rename: replaces the old pointer atomically
    except BaseException:
        if FileSystems.exists(temp):
            FileSystems.delete([temp])
        raise


def generation_files(state: str, generation: str) -> dict[str, dict]:
    """``{shard name: {size, checksum}}`` of a generation as written now."""
    found = FileSystems.match([generation_pattern(state, generation)])[0].metadata_list
    return {
        m.path.rstrip("/").rsplit("/", 1)[-1]: {"size": m.size_in_bytes, "checksum": file_checksum(m.path)}
        for m in found
    }


def commit(plan: MemoryPlan) -> dict:
    """Point ``CURRENT`` at the generation this run wrote (after the pipeline
    succeeded), recording each shard's size and checksum, then delete every other
    generation but the one it replaced; return the pointer written."""
    files = generation_files(plan.state, plan.generation)
    if not files:
        raise StateError(f"generation {plan.generation} has no files; CURRENT left on {plan.previous}")
    pointer = seal({
        "format": FORMAT_VERSION,
        "generation": plan.generation,
        "previous": plan.previous,
        "run_time": plan.run_time,
        "retention_days": plan.retention_days,
        "sketch": plan.sketch,
        "files": files,
    })
    _write_atomically(pointer_path(plan.state), (json.dumps(pointer, indent=1) + "\n").encode("utf-8"))
    clean_generations(plan.state, plan.generation, plan.previous)
    return pointer


def discard(plan: MemoryPlan) -> None:
    """Delete the generation a failed run was writing (never the committed one)."""
    pointer = None
    try:
        pointer = read_pointer(plan.state)
    except StateError:
        pass
    if pointer is not None and pointer.get("generation") == plan.generation:
        return
    _delete_generation(plan.state, plan.generation)


def generations(state: str) -> list[str]:
    """The generation folders under ``<state>/memory/`` that hold files, sorted by name (= by time)."""
    pattern = FileSystems.join(memory_dir(state), f"{GENERATION_PREFIX}*", "**")
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - nothing matched
        return []
    names = set()
    prefix = memory_dir(state).rstrip("/") + "/"
    for meta in found:
        rest = meta.path[len(prefix):] if meta.path.startswith(prefix) else ""
        name = rest.split("/", 1)[0]
        if name.startswith(GENERATION_PREFIX):
            names.add(name)
    return sorted(names)


def stale_generations(names: Iterable[str], current: str, previous: str | None = None) -> list[str]:
    """The generations to delete once ``current`` is committed: every one except
    ``current`` and ``previous`` (the generation it replaced, kept as a fallback).
    Runs sharing a ``--state`` hold its lock, so any other generation is an orphan of
    a run that failed or was killed."""
    return sorted(n for n in names if n != current and n != previous)


def _delete_generation(state: str, name: str) -> None:
    path = generation_dir(state, name)
    try:
        if "://" in path:
            found = FileSystems.match([path + "/**"])[0].metadata_list
            if found:
                FileSystems.delete([m.path for m in found])
        elif FileSystems.exists(path):
            FileSystems.delete([path])
    except Exception as exc:  # noqa: BLE001 - a leftover generation is harmless, say so
        _log.warning("could not delete memory generation %s: %s", path, exc)


def clean_generations(state: str, current: str, previous: str | None = None) -> list[str]:
    stale = stale_generations(generations(state), current, previous)
    for name in stale:
        _delete_generation(state, name)
    # temp files of interrupted pointer writes
    try:
        temps = FileSystems.match([pointer_path(state) + ".tmp-*"])[0].metadata_list
        if temps:
            FileSystems.delete([m.path for m in temps])
    except Exception:  # noqa: BLE001 - nothing to clean
        pass
    return stale
