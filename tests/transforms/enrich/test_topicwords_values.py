"""The word index (:class:`transforms.enrich.topicwords.WordIndex`) on small filings built in
the test, no taxonomy: what it refuses, prefixes with spaces, an index with nothing filed,
chunks worked out once (the fold and the pattern compiler are called once per new chunk /
pattern set), and the bounds of its tables to the entry."""

from __future__ import annotations

import re

import pytest

from transforms.enrich import topicwords
from transforms.enrich.topicwords import WordIndex


class Calls:
    """A fold and a pattern compiler that record their calls."""

    def __init__(self) -> None:
        self.folded: list[str] = []
        self.compiled: list[tuple[int, tuple[int, ...]]] = []

    def fold(self, ch: str) -> str:
        self.folded.append(ch)
        return ch.lower()

    def compile(self, topic: int, patterns: tuple[int, ...]) -> re.Pattern[str]:
        self.compiled.append((topic, patterns))
        return re.compile("|".join(f"(?P<p{p}>t{topic}p{p})" for p in patterns))


def index(filings, calls: Calls | None = None) -> WordIndex:
    calls = calls or Calls()
    return WordIndex(filings, calls.fold, calls.compile)


def found(idx: WordIndex, text: str) -> list[tuple[int, list[tuple[int, str]]]]:
    return [(at, [(topic, regex.pattern) for topic, regex in tries]) for at, tries in idx.starts(text)]


@pytest.mark.parametrize("prefix", ["", " sanc", "\tx"])
def test_a_prefix_it_cannot_file_is_refused_by_name(prefix):
    with pytest.raises(ValueError, match=re.escape(f"prefix {prefix!r} is empty or begins with whitespace")):
        index([("sanc", 0, 0), (prefix, 1, 0)])


def test_a_prefix_with_spaces_is_filed_under_its_first_word():
    """A match starting in a chunk has only its first word there: "ab cd ef" is found at "ab"."""
    idx = index([("ab cd ef", 0, 0), ("xy z", 1, 2)])
    assert found(idx, "ab cd ef and xy z") == [(0, [(0, "(?P<p0>t0p0)")]), (13, [(1, "(?P<p2>t1p2)")])]
    assert found(idx, "cd ef") == []


def test_an_index_with_nothing_filed_finds_nothing():
    assert found(index([]), "sanctions were imposed") == []


def test_a_chunk_is_worked_out_once():
    """The fold is called for the characters of a new non-ASCII chunk only, not again when the
    chunk comes back; an ASCII chunk is lower-cased without it."""
    calls = Calls()
    idx = index([("санк", 0, 0)], calls)
    assert found(idx, "Санкції and санкції") == [(0, [(0, "(?P<p0>t0p0)")]), (12, [(0, "(?P<p0>t0p0)")])]
    assert calls.folded == list("Санкції") + list("санкції")
    assert found(idx, "санкції Санкції") == [(0, [(0, "(?P<p0>t0p0)")]), (8, [(0, "(?P<p0>t0p0)")])]
    assert calls.folded == list("Санкції") + list("санкції")  # both remembered


def test_a_topics_patterns_are_compiled_once_for_every_window_that_files_them():
    """"sanc" and "sanction" file the same pattern: windows "sanc..." and "sanction" file
    different lists of pairs but one regex of topic 0's pattern 0, compiled once."""
    calls = Calls()
    idx = index([("sanc", 0, 0), ("sanction", 0, 0), ("sanction", 1, 3), ("sanc", 0, 1)], calls)
    got = idx.starts("sancta sanctions")
    assert [(at, [t for t, _ in tries]) for at, tries in got] == [(0, [0]), (7, [0, 1])]
    assert calls.compiled == [(0, (0, 1)), (1, (3,))]
    assert got[0][1][0][1] is got[1][1][0][1]  # the same regex object
    assert got[0][1][0][1].pattern == "(?P<p0>t0p0)|(?P<p1>t0p1)"


def test_the_chunk_table_holds_max_chunks_and_starts_over_past_them(monkeypatch):
    monkeypatch.setattr(topicwords, "_MAX_CHUNKS", 2)
    idx = index([("ab", 0, 0)])
    idx.starts("ab cd")
    idx.starts("ab")  # two remembered: not over the bound yet
    assert set(idx._chunks) == {"ab", "cd"}
    idx.starts("ef")
    assert set(idx._chunks) == {"ab", "cd", "ef"}
    idx.starts("ab")  # three: over it, the table starts over
    assert set(idx._chunks) == {"ab"}


def test_the_window_table_holds_max_chunks_and_starts_over_past_them(monkeypatch):
    monkeypatch.setattr(topicwords, "_MAX_CHUNKS", 2)
    idx = index([("ab", 0, 0)])
    idx.starts("ab cd")
    assert set(idx._windows) == {"ab", "cd"}
    idx.starts("ef")  # two windows: not over the bound, kept
    assert set(idx._windows) == {"ab", "cd", "ef"}
    idx.starts("gh")  # three: over it, the window table starts over
    assert set(idx._windows) == {"gh"}


def test_chunks_up_to_max_remembered_characters_are_kept():
    n = topicwords._MAX_REMEMBERED
    idx = index([("ab", 0, 0)])
    kept, long = "ab" + "x" * (n - 2), "ab" + "x" * (n - 1)
    assert found(idx, f"{kept} {long}") == [(0, [(0, "(?P<p0>t0p0)")]), (n + 1, [(0, "(?P<p0>t0p0)")])]
    assert kept in idx._chunks and long not in idx._chunks
    assert [at for at, _ in idx._chunks[kept]] == [0]


def test_a_pattern_is_tried_only_where_the_text_agrees_with_one_of_its_prefixes():
    """Filed under "a" with the prefix "a barre" (every match starts so, any whitespace for the
    space): tried at "a barrel" (the chunk "a" ends, a space follows) and "a<LF>barrel", not at
    "accès" or "a-barrel"; at "a barbed" too (what follows the chunk is not looked at); a
    pattern filed without prefixes is tried wherever its stem begins a word."""
    idx = index([("a", 0, 0, ["a barre"]), ("sanction", 1, 0), ("ab", 2, 0)])
    a, ab = (0, "(?P<p0>t0p0)"), (2, "(?P<p0>t2p0)")
    assert found(idx, "a barrel") == [(0, [a])]
    assert found(idx, "a\nbarrel") == [(0, [a])]
    assert found(idx, "accès a-barrel abc a barbed") == [(15, [ab]), (19, [a])]
    assert found(idx, "x a") == [(2, [a])]  # the text ends: a space cannot follow, but nothing is lost by trying


def test_prefixes_and_text_are_compared_with_every_whitespace_a_space():
    from transforms.enrich.topicwords import spaced

    assert spaced("a\tb\nc\u00a0d\u2009e f") == "a b c d e f"
    assert spaced("abc") == "abc"


def test_a_window_as_long_as_the_longest_prefix_may_go_on_past_it():
    """Windows are as long as the longest filed stem (here "ab", 2): they cannot tell "abc" or
    "ab!" from "ab" and a space, so a pattern whose matches start "ab x" is tried at each."""
    idx = index([("ab", 0, 0, ["ab x"])])
    assert found(idx, "abc ab ab!") == [(0, [(0, "(?P<p0>t0p0)")]), (4, [(0, "(?P<p0>t0p0)")]),
                                        (7, [(0, "(?P<p0>t0p0)")])]
