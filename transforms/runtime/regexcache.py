"""Compiled regexes kept on disk between processes (CPython's own compiled form).

The topic taxonomy compiles to large regexes (~100,000 characters for a language's
scan) that ``re.compile`` builds in Python, seconds in every worker at start-up. What
it builds is a list of integers that CPython's regex engine runs: :func:`compile_cached`
does what ``re.compile`` does (``re._parser.parse``, ``re._compiler._code``,
``_sre.compile``) and stores those integers, keyed by a hash of the source, the flags
and the interpreter, so later processes skip the compile.

An entry is plain data, never pickle: a magic line, a checksum, a JSON header (the
source, flags and groups) and the code as raw integers. A missing, truncated or altered
entry, or one of another pattern, fails the checks (or ``_sre``'s own check of the code)
and costs a compile, never a wrong regex. Like ``__pycache__``, the directory is trusted
not to be written by others. Outside the CPython versions in
:data:`transforms.runtime.TESTED_PYTHON`, or without the internals, it is ``re.compile``.

Building a scan regex's source from the taxonomy (a prefix trie of ~2,000 patterns, each
parsed) costs more than compiling it: ~0.2 s per language, ~2 s for a worker's first articles.
:func:`derived` keeps such pure results (JSON values: the source and its group marks) the same
way, keyed by a hash of everything they are built from, the building code included, so a
small run does not pay for them in every process.

:func:`cached_arrays` keeps py3langid's decoded model the same way (~0.9 s per process to
decompress and convert; memory-mapped from the cache it takes milliseconds, and the worker
processes share its ~130 MB of pages).

Switched by ``tuning.regex_cache`` (:mod:`transforms.runtime`) and by
``$NEWSBEAM_REGEX_CACHE``: a directory, or ``off``; the default directory is
``$XDG_CACHE_HOME/newsbeam/regex`` or ``~/.cache/newsbeam/regex``. Entries are written
atomically and pruned to the newest :data:`MAX_ENTRIES`; deleting them is always safe.
"""

from __future__ import annotations

import array
import hashlib
import logging
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from transforms import runtime

_log = logging.getLogger(__name__)

ENV = "NEWSBEAM_REGEX_CACHE"
OFF = ("off", "0", "false", "no", "")
MAX_ENTRIES = 2000  # a taxonomy makes ~150 per language set; pruned on write beyond this
_SUFFIX = ".sre"
_DERIVED_SUFFIX = ".derived"

try:  # the internals re.compile itself uses (CPython 3.11+ names)
    import _sre
    from re import _compiler, _parser

    _INTERNALS = (
        sys.implementation.name == "cpython"
        and callable(getattr(_sre, "compile", None))
        and callable(getattr(_compiler, "_code", None))
        and callable(getattr(_parser, "parse", None))
    )
    _VERSION = f"{sys.version}|{_sre.MAGIC}|{_sre.CODESIZE}"
    _CODE_TYPE = {2: "H", 4: "I"}.get(_sre.CODESIZE, "")
except ImportError:  # pragma: no cover - not CPython
    _INTERNALS = False
    _VERSION = _CODE_TYPE = ""


def cache_dir() -> Path | None:
    """Where entries live, or None when caching is off (``tuning.regex_cache``,
    ``$NEWSBEAM_REGEX_CACHE=off``) or not possible here."""
    if not (_INTERNALS and _CODE_TYPE and runtime.active().regex_cache):
        return None
    configured = os.environ.get(ENV)
    if configured is not None:
        return None if configured.strip().lower() in OFF else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "newsbeam" / "regex"


def entry_key(source: str, flags: int) -> str:
    """The file name of a pattern's entry: it changes with the source, the flags and
    the interpreter (version and regex-engine magic)."""
    digest = hashlib.sha256(f"{_VERSION}\0{int(flags)}\0{source}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:40] + _SUFFIX


def compile_cached(source: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(source, flags)`` for a str pattern, from the disk cache when the
    same pattern was compiled before by this interpreter (see the module doc)."""
    directory = cache_dir()
    if directory is None:
        return re.compile(source, flags)
    flags = int(flags)
    path = directory / entry_key(source, flags)
    found = _load(path, source)
    if found is not None:
        return found
    try:
        parsed = _parser.parse(source, flags)
        code = _compiler._code(parsed, flags)
        groupindex = dict(parsed.state.groupdict)
        indexgroup = [None] * parsed.state.groups
        for name, index in groupindex.items():
            indexgroup[index] = name
        args = (flags | parsed.state.flags, code, parsed.state.groups - 1, groupindex, tuple(indexgroup))
        pattern = _sre.compile(source, *args)
    except Exception:  # noqa: BLE001 - internals changed: the public way
        _log.debug("regex cache: compiling %r the plain way", source[:60], exc_info=True)
        return re.compile(source, flags)
    _store(path, source, args)
    return pattern


def derived(inputs: str, build: Callable[[], Any]) -> Any:
    """``build()``, a JSON value that depends on ``inputs`` only (which must name the code
    that builds it, e.g. with :func:`code_fingerprint`), from the disk cache when a process
    built it before. Off (or unwritable): ``build()`` every time. An entry that does not
    check out is built again, never used."""
    directory = cache_dir()
    if directory is None:
        return build()
    digest = hashlib.sha256(inputs.encode("utf-8", "surrogatepass")).hexdigest()
    path = directory / (digest[:40] + _DERIVED_SUFFIX)
    try:
        blob = path.read_bytes()
        checksum, payload = blob[len(_DERIVED_MAGIC) : len(_DERIVED_MAGIC) + 16], blob[len(_DERIVED_MAGIC) + 16 :]
        if blob.startswith(_DERIVED_MAGIC) and checksum == _checksum(payload):
            entry = json.loads(payload)
            if entry["key"] == digest:
                return entry["value"]
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001 - unreadable or altered: build it again
        _log.debug("regex cache: entry %s not usable", path, exc_info=True)
    value = build()
    payload = json.dumps({"key": digest, "value": value}, ensure_ascii=True).encode("ascii")
    _write(path, _DERIVED_MAGIC + _checksum(payload) + payload, _DERIVED_SUFFIX)
    return value


def code_fingerprint(*paths: str) -> str:
    """A hash of the files at ``paths`` (the modules whose code builds a :func:`derived`
    value), read once per process: editing the code retires its cached results."""
    key = tuple(paths)
    found = _fingerprints.get(key)
    if found is None:
        digest = hashlib.sha256()
        for path in paths:
            with open(path, "rb") as fh:
                digest.update(fh.read())
        found = _fingerprints[key] = digest.hexdigest()
    return found


def cached_arrays(inputs: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """Named numpy arrays that depend on ``inputs`` only (which must name the data and the
    code they come from), mapped read-only from ``.npy`` files in the cache, so processes
    share their pages instead of each decoding them; ``build()`` makes and stores them on
    a miss. None when the cache is off (the caller loads the plain way). A missing or
    truncated entry is built again; like the regexes, entries are trusted not to be
    altered by others (no checksum: reading ~130 MB to check it would cost what it saves)."""
    directory = cache_dir()
    if directory is None:
        return None
    import numpy as np

    digest = hashlib.sha256(inputs.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    folder = directory / "arrays" / digest
    try:
        names = json.loads((folder / "names.json").read_text(encoding="ascii"))
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in names}
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001 - truncated or unreadable: build it again
        _log.debug("regex cache: arrays %s not usable", folder, exc_info=True)
        shutil.rmtree(folder, ignore_errors=True)
    arrays = build()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
        for name, value in arrays.items():
            np.save(tmp / f"{name}.npy", np.asarray(value), allow_pickle=False)
        (tmp / "names.json").write_text(json.dumps(sorted(arrays)), encoding="ascii")  # written last: complete
        try:
            os.replace(tmp, folder)
        except OSError:  # another process stored it first
            shutil.rmtree(tmp, ignore_errors=True)
        _prune_folders(folder.parent, MAX_ARRAY_ENTRIES)
    except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
        _log.debug("regex cache: cannot write arrays %s", folder, exc_info=True)
    return arrays


MAX_ARRAY_ENTRIES = 6  # entries kept (py3langid ~130 MB and langdetect ~40 MB per code version); a new one retires the oldest


def _prune_folders(directory: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently written array entries (and stale temporaries)."""
    def written(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    entries = sorted((p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".tmp-")), key=written)
    for stale in entries[: max(0, len(entries) - keep)]:
        shutil.rmtree(stale, ignore_errors=True)


_fingerprints: dict[tuple[str, ...], str] = {}
_DERIVED_MAGIC = b"newsbeam-derived 1\n"


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


_MAGIC = b"newsbeam-sre 2\n"  # an entry: magic, checksum, JSON header line, code bytes


def _load(path: Path, source: str) -> re.Pattern[str] | None:
    try:
        blob = path.read_bytes()
        if not blob.startswith(_MAGIC):
            return None
        checksum, payload = blob[len(_MAGIC) : len(_MAGIC) + 16], blob[len(_MAGIC) + 16 :]
        if checksum != _checksum(payload):
            return None
        header, code = payload.split(b"\n", 1)
        meta = json.loads(header)
        if meta["source"] != source:
            return None
        words = array.array(_CODE_TYPE)
        words.frombytes(code)
        groupindex = {str(k): int(v) for k, v in meta["groupindex"].items()}
        indexgroup = tuple(None if g is None else str(g) for g in meta["indexgroup"])
        return _sre.compile(source, int(meta["flags"]), words.tolist(), int(meta["groups"]), groupindex, indexgroup)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - unreadable, truncated or rejected by _sre: compile again
        _log.debug("regex cache: entry %s not usable", path, exc_info=True)
        return None


def _store(path: Path, source: str, args: tuple) -> None:
    flags, code, groups, groupindex, indexgroup = args
    try:
        header = {"source": source, "flags": flags, "groups": groups, "groupindex": groupindex, "indexgroup": list(indexgroup)}
        payload = json.dumps(header, ensure_ascii=True).encode("ascii") + b"\n" + array.array(_CODE_TYPE, code).tobytes()
    except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
        _log.debug("regex cache: cannot encode %s", path, exc_info=True)
        return
    _write(path, _MAGIC + _checksum(payload) + payload, _SUFFIX)


def _write(path: Path, blob: bytes, suffix: str) -> None:
    """Write an entry atomically; prune its kind the first time this process writes one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune_once(path.parent, suffix)
    except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
        _log.debug("regex cache: cannot write %s", path, exc_info=True)


_pruned: set[tuple[Path, str]] = set()


def _prune_once(directory: Path, suffix: str = _SUFFIX) -> None:
    """:func:`prune` the first time this process writes an entry of ``suffix`` to ``directory``."""
    if (directory, suffix) not in _pruned:
        _pruned.add((directory, suffix))
        prune(directory, suffix=suffix)


def prune(directory: Path, keep: int = MAX_ENTRIES, suffix: str = _SUFFIX) -> int:
    """Delete all but the ``keep`` most recently written entries (of the kind ``suffix``:
    compiled regexes, or ``.derived`` values); returns how many went."""

    def written(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    entries = list(directory.glob("*" + suffix))
    removed = 0
    for stale in sorted(entries, key=written)[: max(0, len(entries) - keep)]:
        try:
            stale.unlink()
            removed += 1
        except OSError:
            pass
    return removed
