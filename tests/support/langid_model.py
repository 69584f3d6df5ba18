"""py3langid's model file decoded once per test process, not once per identifier built.

The language tests build py3langid's identifier afresh many times (a fresh ``FastIdentifier``
so a change to its class is what runs, ``_load_identifier`` with and without the cache, a
reference ``LanguageIdentifier``): each decodes the 4.6 MB xz model (~0.55 s of CPU), ~13 times
per run of the two files, and ``make mutate`` runs them for every mutant of the identifier.
py3langid is not the code under test: its decoded arrays are the same each time, so the
decoding is kept per file (path, size, modification time). Only py3langid's reading of the file
is memoised; every identifier is still built by the code under test.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

_DECODED: dict[tuple[str, int, int], Any] = {}


def decode_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``py3langid.langid._load_model_file`` (what ``from_model_file`` calls) decode each
    model file once in this process."""
    import py3langid.langid

    decode = py3langid.langid._load_model_file

    def decoded(path: Any) -> Any:
        info = os.stat(path)
        key = (os.fspath(path), info.st_size, info.st_mtime_ns)
        if key not in _DECODED:
            _DECODED[key] = decode(path)
        return _DECODED[key]

    monkeypatch.setattr(py3langid.langid, "_load_model_file", decoded)
