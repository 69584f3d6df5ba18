"""Compiled regexes kept on disk between processes (CPython's own compiled form).

The topic taxonomy compiles to one scan regex per language set (~100,000
characters each) and a regex per topic; ``re.compile`` parses and compiles them
in Python, ~3.4 s in every worker process at start-up, every run. What it builds
is a list of integers that CPython's regex engine runs: this module stores that
list the first time a pattern is compiled on a machine and gives later processes
the pattern straight from it (~5 ms for a scan regex instead of ~0.3 s).

How: :func:`compile_cached` does what ``re.compile`` does (``re._parser.parse``,
``re._compiler._code``, ``_sre.compile``: see ``re/_compiler.py``) and keeps the
arguments of the last call, keyed by a hash of the source, the flags and the
interpreter's version and regex-engine magic. ``_sre.compile`` checks the code it
with the pattern's source and a checksum of the whole entry: a missing,
unreadable, truncated or altered entry, or one of another pattern, fails those
checks (or ``_sre``'s own check of the code) and costs the compile, never a wrong
regex. (Like ``__pycache__``, the directory is trusted not to be written by
others: ``_sre`` does not prove that code does what its source says.) Outside
CPython, or when the internals it relies on are missing, it is ``re.compile``.

Where: ``$NEWSBEAM_REGEX_CACHE``; else ``$XDG_CACHE_HOME/newsbeam/regex`` or
``~/.cache/newsbeam/regex``. ``NEWSBEAM_REGEX_CACHE=off`` turns it off. Entries
are written atomically (a process reading while another writes sees a whole file
or none); the directory is pruned to the newest :data:`MAX_ENTRIES`. Deleting it
is always safe.
"""

from __future__ import annotations

import array
import hashlib
import logging
import os
import pickle
import re
import sys
import tempfile
from pathlib import Path

_log = logging.getLogger(__name__)

ENV = "NEWSBEAM_REGEX_CACHE"
OFF = ("off", "0", "false", "no", "")
MAX_ENTRIES = 2000  # a taxonomy makes ~150 per language set; pruned on write beyond this
_SUFFIX = ".sre"

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
    """Where entries live, or None when caching is off or not possible here."""
    if not (_INTERNALS and _CODE_TYPE):
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


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


def _load(path: Path, source: str) -> re.Pattern[str] | None:
    try:
        with open(path, "rb") as fh:
            checksum, payload = pickle.load(fh)
        if checksum != _checksum(payload):
            return None
        stored_source, flags, code, groups, groupindex, indexgroup = pickle.loads(payload)
        if stored_source != source:
            return None
        words = array.array(_CODE_TYPE)
        words.frombytes(code)
        return _sre.compile(source, flags, words.tolist(), groups, groupindex, indexgroup)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - unreadable, truncated or rejected by _sre: compile again
        _log.debug("regex cache: entry %s not usable", path, exc_info=True)
        return None


def _store(path: Path, source: str, args: tuple) -> None:
    flags, code, groups, groupindex, indexgroup = args
    try:
        payload = pickle.dumps(
            (source, flags, array.array(_CODE_TYPE, code).tobytes(), groups, groupindex, indexgroup),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        blob = pickle.dumps((_checksum(payload), payload), protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune_once(path.parent)
    except Exception:  # noqa: BLE001 - a cache that cannot be written is only slower
        _log.debug("regex cache: cannot write %s", path, exc_info=True)


_pruned: set[Path] = set()


def _prune_once(directory: Path) -> None:
    """:func:`prune` the first time this process writes to ``directory``."""
    if directory not in _pruned:
        _pruned.add(directory)
        prune(directory)


def prune(directory: Path, keep: int = MAX_ENTRIES) -> int:
    """Delete all but the ``keep`` most recently written entries; returns how many went."""

    def written(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    entries = list(directory.glob("*" + _SUFFIX))
    removed = 0
    for stale in sorted(entries, key=written)[: max(0, len(entries) - keep)]:
        try:
            stale.unlink()
            removed += 1
        except OSError:
            pass
    return removed
