"""Where in a text a taxonomy's patterns can match, found word by word from a table.

The matcher (:mod:`transforms.enrich.topicscan`) files each pattern under the literal
prefixes (up to 8 case-folded characters) that its matches begin with. A text is split
on whitespace (in C); each distinct chunk (``sanctions,``, ``(Reuters)``, ``anti-war``)
is looked up in a table this process fills as it goes: for each word start inside the
chunk, the topics that can match there and, per topic, only the patterns whose prefix
begins the word there. A chunk met for the first time is worked out once; after that a
chunk costs one set lookup, and most chunks of an article name no topic at all. Only the
chunks that do are then found in the text (``str.find``), and only their patterns are
tried there, each topic's in its taxonomy order.

Why it finds what the topic's full regex finds: a pattern can match at a word start only
if its prefix begins the word there (the prefixes are those of every match); the
patterns left out could not have matched, so the first pattern that matches is the one
the full alternation would have taken, with the same end. The same holds for the full
prefixes (whitespace included) every match starts with: a pattern whose prefixes all
disagree with the text at a word start (``a\s+barrel`` at ``accès``, a digit followed by
``%`` at ``1835``) is not tried there (most failed tries were such, ~190 an article). A match has to start inside a
chunk for this (``Matcher`` uses its scan regex where a prefix is unknown or starts with
whitespace). Measured: ``docs/performance.md#topic-step-word-index-issue-17-round-5``.
"""

from __future__ import annotations

import itertools
import operator
import re
from typing import Callable, Iterable, Sequence

_WORD_START = re.compile(r"(?<!\w).", re.S)  # in a chunk (its first character follows a space): a word start
_SPACE = re.compile(r"\s")
_MAX_CHUNKS = 50_000  # chunks remembered per language set (~8 MB); beyond that the table starts over
_MAX_REMEMBERED = 64  # a longer chunk (a URL, a text without spaces) is worked out each time, not kept

Tries = tuple[tuple[int, re.Pattern[str]], ...]  # (topic index, regex of its patterns that can start here)


def spaced(text: str) -> str:
    """``text`` with every whitespace character a plain space: the form in which prefixes
    are compared with the text (a pattern's ``\s`` makes ~25 prefixes of one; comparing
    both sides so keeps every pattern that could match, and some that cannot)."""
    return _SPACE.sub(" ", text)


def fileable(prefix: str) -> bool:
    """A prefix the table can file: a match then starts inside a chunk (not empty, not
    beginning with whitespace)."""
    return bool(prefix) and not prefix[0].isspace()


class WordIndex:
    """For one set of active languages: which topics, and which of their patterns, can
    match at each word start of a text (:meth:`starts`).

    ``filings`` are ``(prefix, topic index, pattern index[, keys])``, each prefix case-folded
    with ``fold`` (one character to its case-folded representative, as the regex engine
    compares them under ``re.IGNORECASE``), :func:`fileable`; ``keys``, when given, are the
    folded beginnings (up to 8 characters, whitespace included, :func:`spaced`) that every
    match filed there starts with, and the pattern is tried only where the text agrees with one;
    ``compile_patterns(topic, pattern indexes)`` is the bounded regex of those patterns
    of the topic, in order, each in a group ``p<index>``."""

    def __init__(
        self,
        filings: Iterable[Sequence],
        fold: Callable[[str], str],
        compile_patterns: Callable[[int, tuple[int, ...]], re.Pattern[str]],
    ) -> None:
        # filed under what comes before its first whitespace character: that much of a
        # match lies inside the chunk where it starts
        self._prefixes: dict[str, list[tuple[int, int, tuple[str, ...] | None]]] = {}
        for filing in filings:
            prefix, topic, pattern = filing[:3]
            keys = filing[3] if len(filing) > 3 else None
            if not fileable(prefix):
                raise ValueError(f"prefix {prefix!r} is empty or begins with whitespace")
            self._prefixes.setdefault(prefix.split(maxsplit=1)[0], []).append(
                (topic, pattern, None if keys is None else tuple(keys))
            )
        self._lengths = sorted({len(prefix) for prefix in self._prefixes})
        self._width = self._lengths[-1] if self._lengths else 0
        self._fold = fold
        self._compile = compile_patterns
        self._regexes: dict[tuple[int, tuple[int, ...]], re.Pattern[str]] = {}
        # chunk -> ((offset of a word start in it, tries), ...); replaced, never cleared, so
        # that a thread still reading the old table sees it whole
        self._chunks: dict[str, tuple[tuple[int, Tries], ...]] = {}
        self._windows: dict[str, Tries] = {}  # a word start's first _width folded characters -> tries
        self._by_pairs: dict[tuple[tuple[int, int], ...], Tries] = {}  # bounded by the taxonomy's prefixes

    def starts(self, text: str) -> list[tuple[int, Tries]]:
        """``(position, tries)`` for each word start of ``text`` where some pattern can
        match, in order: at each, the topics to try (ascending) with the regex of their
        patterns that can."""
        chunks = self._chunks
        if len(chunks) > _MAX_CHUNKS:
            chunks = self._chunks = {}
        parts = text.split(" ")  # chunks between single spaces: the cheapest split
        entries = list(map(chunks.get, parts))
        if None in entries:  # chunks met for the first time
            for i, part in enumerate(parts):
                if entries[i] is None:
                    entries[i] = self._learn(part, chunks)
        # where each chunk starts: the lengths before it, plus one space per chunk before it
        offsets = map(operator.add, itertools.accumulate(map(len, parts), initial=0), itertools.count())
        return [
            (at + offset, tries)
            for at, named in itertools.compress(zip(offsets, entries), entries)
            for offset, tries in named
        ]

    def _learn(self, chunk: str, chunks: dict) -> tuple[tuple[int, Tries], ...]:
        folded = chunk.lower() if chunk.isascii() else "".join(map(self._fold, chunk))  # ASCII: lower() is the fold
        # a chunk of word characters only (most of them: \w is what isalnum() says, and _)
        # has one word start, its first character; else the regex finds them
        starts = (0,) if chunk.isalnum() else [m.start() for m in _WORD_START.finditer(chunk)]
        windows = self._windows
        if len(windows) > _MAX_CHUNKS:
            windows = self._windows = {}
        entries = []
        for at in starts:
            # what can match at a word start depends only on the longest prefix's worth of
            # folded characters from there ("commissi" for Commission, commission.)
            window = folded[at : at + self._width]
            tries = windows.get(window)
            if tries is None:
                tries = windows[window] = self._window_tries(window)
            if tries:
                entries.append((at, tries))
        found = tuple(entries)
        if len(chunk) <= _MAX_REMEMBERED:
            chunks[chunk] = found
        return found

    def _window_tries(self, window: str) -> Tries:
        """The tries at a word start whose folded text begins with ``window`` (as long as
        the longest prefix, or what is left of the chunk)."""
        pairs: list[tuple[int, int]] = []
        # what the text holds from the word start, as far as the window shows: a window
        # shorter than the longest prefix ends with its chunk, which a space (or the
        # text's end, where nothing longer can match) follows
        seen = spaced(window if len(window) >= self._width else window + " ")
        for length in self._lengths:
            if length > len(window):
                break
            for topic, pattern, keys in self._prefixes.get(window[:length], ()):
                # every match of the pattern begins with one of its prefixes: one that
                # disagrees with the text here (the "a" of "a barrel" at "accès") rules it out
                if keys is None or any(seen.startswith(key) or key.startswith(seen) for key in keys):
                    pairs.append((topic, pattern))
        if not pairs:
            return ()
        key = tuple(pairs)  # many windows file the same pairs (sanctions, sanctioned, sanctioning)
        tries = self._by_pairs.get(key)
        if tries is None:
            tries = self._by_pairs[key] = self._tries(pairs)
        return tries

    def _tries(self, pairs: list[tuple[int, int]]) -> Tries:
        by_topic: dict[int, set[int]] = {}
        for topic, pattern in pairs:
            by_topic.setdefault(topic, set()).add(pattern)
        tries = []
        for topic, patterns in sorted(by_topic.items()):
            key = (topic, tuple(sorted(patterns)))
            regex = self._regexes.get(key)
            if regex is None:
                regex = self._regexes[key] = self._compile(*key)
            tries.append((topic, regex))
        return tuple(tries)
