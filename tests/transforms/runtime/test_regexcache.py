"""The on-disk cache of compiled regexes (transforms/runtime/regexcache.py), against plain re."""

from __future__ import annotations

import os
import re
import time

import pytest

from transforms.runtime import regexcache as recache
from transforms.runtime.regexcache import compile_cached, entry_key, prune

PATTERNS = [
    (r"(?<!\w)(?:(?P<p0>sanctions? (?:against|on) \w+)|(?P<p1>embargo\w*))(?!\w)", re.IGNORECASE),
    (r"\W(?=(?:[Ss](?:anction|teel)|[Кк]ремл)(?<=(?=\w+)[\s\S]))", 0),
    (r"(\d+)[.,](\d{3})", 0),
    (r"^[A-ZÀ-ÖØ-Þ][a-zà-ÿ]+$", re.MULTILINE),
    (r"café|naïve|пошлины", re.IGNORECASE),
]
TEXT = (
    "Sanctions against Russia. New EMBARGOES on oil; steel tariffs.\n"
    "Кремль ответил. Café naïve, ПОШЛИНЫ 1,000 and 2.500 units.\nParis\nberlin\n"
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "regex"
    monkeypatch.setenv(recache.ENV, str(directory))
    return directory


def _same(a: re.Pattern, b: re.Pattern) -> None:
    assert (a.pattern, a.flags, a.groups, a.groupindex) == (b.pattern, b.flags, b.groups, b.groupindex)
    assert [(m.span(), m.groups(), m.lastindex) for m in a.finditer(TEXT)] == [
        (m.span(), m.groups(), m.lastindex) for m in b.finditer(TEXT)
    ]


@pytest.mark.parametrize("source, flags", PATTERNS)
def test_a_cached_pattern_is_the_pattern_re_compiles_and_later_calls_read_it_from_disk(cache, monkeypatch, source, flags):
    first = compile_cached(source, flags)
    _same(first, re.compile(source, flags))
    assert (cache / entry_key(source, int(flags))).is_file()

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(recache._parser, "parse", no_parsing)  # a hit must not parse
    monkeypatch.setattr(re, "compile", no_parsing)
    second = compile_cached(source, flags)
    assert second is not first
    _same(second, first)


def test_the_patterns_find_something_so_the_comparison_means_something():
    assert all(re.compile(source, flags).search(TEXT) for source, flags in PATTERNS)


def test_the_key_changes_with_source_and_flags():
    keys = {entry_key(s, int(f)) for s, f in PATTERNS} | {entry_key(s, int(f) ^ re.IGNORECASE) for s, f in PATTERNS}
    assert len(keys) == 2 * len(PATTERNS)


def test_a_corrupt_entry_is_compiled_again_and_replaced(cache):
    source, flags = PATTERNS[0]
    compile_cached(source, flags)
    path = cache / entry_key(source, int(flags))
    good = path.read_bytes()
    for broken in (b"", b"not a pickle", good[: len(good) // 2]):
        path.write_bytes(broken)
        _same(compile_cached(source, flags), re.compile(source, flags))
        assert path.read_bytes() == good


def test_an_entry_of_another_pattern_or_with_altered_bytes_is_not_used(cache):
    (source, flags), (other, other_flags) = PATTERNS[0], PATTERNS[2]
    compile_cached(other, other_flags)
    foreign = (cache / entry_key(other, int(other_flags))).read_bytes()
    path = cache / entry_key(source, int(flags))
    path.write_bytes(foreign)  # another pattern's entry under this pattern's name
    _same(compile_cached(source, flags), re.compile(source, flags))
    good = path.read_bytes()
    assert good != foreign
    for at in (len(good) // 3, len(good) // 2, len(good) - 3):  # a flipped byte anywhere in the code
        altered = bytearray(good)
        altered[at] ^= 0x01
        path.write_bytes(bytes(altered))
        _same(compile_cached(source, flags), re.compile(source, flags))
        assert path.read_bytes() == good


def test_a_bad_regex_raises_re_error_as_re_compile_does(cache):
    with pytest.raises(re.error):
        compile_cached(r"(?P<x>unclosed")
    assert not cache.exists() or not list(cache.glob("*.sre"))


def test_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(recache.ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source, flags = PATTERNS[0]
    _same(compile_cached(source, flags), re.compile(source, flags))
    assert recache.cache_dir() is None
    assert not any(tmp_path.rglob("*"))


def test_the_default_place_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv(recache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert recache.cache_dir() == tmp_path / "newsbeam" / "regex"


def test_an_unwritable_place_only_costs_the_compile(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(recache.ENV, str(blocker / "regex"))
    source, flags = PATTERNS[1]
    _same(compile_cached(source, flags), re.compile(source, flags))


def test_changed_internals_fall_back_to_re_compile(cache, monkeypatch):
    def gone(*args, **kwargs):
        raise AttributeError("no _code here")

    monkeypatch.setattr(recache._compiler, "_code", gone)
    source, flags = PATTERNS[0]
    _same(compile_cached(source, flags), re.compile(source, flags))
    assert not cache.exists() or not list(cache.glob("*.sre"))


def test_prune_keeps_the_newest_entries(tmp_path):
    now = time.time()
    for i in range(6):
        path = tmp_path / f"{i:02d}.sre"
        path.write_bytes(b"x")
        os.utime(path, (now - 100 + i, now - 100 + i))
    (tmp_path / "other.txt").write_text("not an entry")
    assert prune(tmp_path, keep=4) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["02.sre", "03.sre", "04.sre", "05.sre", "other.txt"]


def test_derived_values_are_built_once_and_read_back(cache):
    calls = []

    def build():
        calls.append(1)
        return ["source", [[1, 2], []]]

    assert recache.derived("kind\0inputs", build) == ["source", [[1, 2], []]]
    assert recache.derived("kind\0inputs", build) == ["source", [[1, 2], []]]
    assert len(calls) == 1
    (entry,) = cache.glob("*.derived")
    entry.write_bytes(entry.read_bytes()[:-3] + b"xx}")  # altered: fails its checksum, built again
    assert recache.derived("kind\0inputs", build) == ["source", [[1, 2], []]] and len(calls) == 2
    assert recache.derived("kind\0other inputs", build) and len(calls) == 3


def test_derived_values_are_built_every_time_when_the_cache_is_off(monkeypatch):
    monkeypatch.setenv(recache.ENV, "off")
    calls = []
    recache.derived("x", lambda: calls.append(1) or 1)
    recache.derived("x", lambda: calls.append(1) or 1)
    assert calls == [1, 1]


def test_cached_arrays_are_mapped_read_only_and_rebuilt_when_truncated(cache):
    import numpy as np

    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(1000, dtype=np.uint32), "b": np.array(["en", "de"])}

    first = recache.cached_arrays("model\0v1", build)
    again = recache.cached_arrays("model\0v1", build)
    assert len(calls) == 1 and isinstance(again["a"], np.memmap) and not again["a"].flags.writeable
    assert again["a"].tolist() == first["a"].tolist() and again["b"].tolist() == ["en", "de"]
    (stored,) = cache.glob("arrays/*/a.npy")
    stored.write_bytes(stored.read_bytes()[:200])
    assert recache.cached_arrays("model\0v1", build)["a"].tolist() == list(range(1000)) and len(calls) == 2


def test_only_the_newest_array_entries_are_kept(cache):
    import numpy as np

    for version in range(recache.MAX_ARRAY_ENTRIES + 2):
        recache.cached_arrays(f"model\0v{version}", lambda: {"a": np.arange(3)})
        time.sleep(0.01)
    assert len([p for p in (cache / "arrays").iterdir() if p.is_dir()]) == recache.MAX_ARRAY_ENTRIES
