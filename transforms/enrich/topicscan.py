"""The topic matcher: finds where a taxonomy's patterns match in a text, fast.

For each set of active languages (the article's language plus English, or every
language for ``und``/unknown), the word index (:mod:`transforms.enrich.topicwords`)
lists the word starts where some pattern can match, from the literal prefixes of the
patterns' matches (:mod:`transforms.enrich.topicprefixes`), with the topics and the
patterns to try there; a regex of those patterns of the topic tells which one matches
(the first in the taxonomy's order), so a phrase can count for several topics. A
taxonomy with a pattern whose prefix is unknown or starts with whitespace uses one scan
regex instead: a prefix trie of the patterns' literal beginnings written as
case-sensitive character classes, checking the patterns filed where a prefix ends, so
the regex engine rather than Python rejects other word starts; then one combined regex
per topic that can match there. Word boundaries are Unicode-aware (``\\w`` covers
Cyrillic), and a literal space in a pattern matches any run of whitespace (see
:mod:`transforms.enrich.taxonomy`).

Pure: :class:`Matcher` (built by :meth:`Taxonomy.matcher`) and its ``find``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from typing import Any, Iterable

from transforms.enrich import topicprefixes, topicrules
from transforms.enrich.topicprefixes import _case_class, _fold, _scan_pieces, _stems, stem_groups
from transforms.enrich.topicrules import _FLAGS, ANY_LANGUAGE, Pattern, TaxonomyError, Topic
from transforms.enrich.topicwords import WordIndex, fileable, spaced
from transforms.runtime.regexcache import code_fingerprint, compile_cached, derived


@dataclasses.dataclass(frozen=True)
class _TopicMatcher:
    name: str
    regex: re.Pattern[str]
    patterns: tuple[Pattern, ...]  # indexed by the group name "p<i>"
    exclude: re.Pattern[str] | None
    requires: re.Pattern[str] | None
    window: int | None  # None: the window passed to find()


def _bounded(alternatives: Iterable[str]) -> str:
    return r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)"


def _topic_matcher(topic: Topic, pats: list[Pattern], excl: list[str], reqs: list[str]) -> _TopicMatcher:
    return _TopicMatcher(
        topic.name,
        compile_cached(_bounded(f"(?P<p{i}>{p.source})" for i, p in enumerate(pats)), _FLAGS),
        tuple(pats),
        context_regex(excl) if excl else None,
        context_regex(reqs) if reqs else None,
        topic.window,
    )


def context_regex(sources: list[str]) -> re.Pattern[str]:
    """A regex whose ``search(text, lo, hi)`` finds a match of one of ``sources``
    (between word boundaries) exactly when ``_bounded(sources)`` does, ~30 % faster.

    It starts with a plain class of the characters a match can start with, so the
    regex engine skips every other character in C; at a word start of that class,
    a lookbehind holding the prefix trie (:func:`_scan_regex`) checks the
    alternatives from there. When some alternative can start anywhere, it is the
    plain regex. Its source is built once per machine (:func:`_built`), not in every process."""
    source, flags = _built("context", sources, lambda: _context_source(sources))
    return compile_cached(source, flags)


def _context_source(sources: list[str]) -> tuple[str, int]:
    root = _Node()
    for source in sources:
        _file(root, source, 0)
    if root.pieces or not root.children:
        return _bounded(sources), _FLAGS
    body, _ = _trie_source(root)
    return _case_class(root.children) + r"(?<!\w.)(?<=(?=" + body + r").)", 0


def _built(kind: str, inputs: Any, build: Any) -> Any:
    """``build()`` (a regex source and what goes with it, a pure function of ``inputs``),
    kept on disk by the regex cache when it is on (``regexcache.derived``), keyed by
    ``inputs``, the code of this module, ``topicprefixes`` and ``topicrules`` and the Python
    version (its regex parser reads the patterns): the same value, without parsing ~2,000
    patterns again in every process."""
    fingerprint = code_fingerprint(__file__, topicprefixes.__file__, topicrules.__file__)
    return derived(f"{kind}\0{sys.version}\0{fingerprint}\0{json.dumps(inputs)}", build)


class _Node:
    """A node of the prefix trie: alternatives filed under the prefix that leads here."""

    __slots__ = ("children", "pieces", "owners")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.pieces: dict[str, None] = {}  # ordered set
        self.owners: set[int] = set()  # topic indexes


def _file(root: _Node, source: str, owner: int) -> None:
    """File the pieces of ``source`` in the trie at ``root`` for topic ``owner``."""
    for piece, keys in _scan_pieces(source):
        for key in _stems(keys):
            node = root
            for ch in key:
                child = node.children.get(ch)
                if child is None:
                    child = node.children[ch] = _Node()
                node = child
            node.pieces[piece] = None
            node.owners.add(owner)


def _scan_regex(root: _Node) -> tuple[re.Pattern[str], tuple[tuple[int, ...], ...]] | None:
    """One regex that, run on ``" " + text``, matches the character before each word
    start of ``text`` where some alternative in the trie matches (so a match's start
    is that word start in ``text``), and, per capturing group, the topics to try
    when it is the last one set.

    It spells the trie out with case-sensitive character classes (the regex engine
    skips a branch that starts with a class on one test), and where prefixes end it
    checks the alternatives filed there from the word start (a lookbehind over the
    prefix just read, holding a lookahead). Children come before a node's own
    check, so the empty group that marks success belongs to the deepest node on the
    text's path whose check passed; every deeper node failed, so the topics to try
    are those filed at that node or above it. Siblings with identical subtries are
    merged into one class."""
    if not root.children and not root.pieces:
        return None
    return _compile_scan(*_trie_source(root))


def _compile_scan(body: str, marks: tuple[tuple[int, ...], ...]) -> tuple[re.Pattern[str], tuple[tuple[int, ...], ...]]:
    # r"\W(?=...)" on " " + text, not r"(?<!\w)(?=...)" on the text: the same word starts
    # (a match's start in the padded text is the word start in the text), but a
    # pattern that starts with a class lets the regex engine skip the characters
    # inside words in C instead of testing a lookbehind at each (~11 % faster scans)
    scan = compile_cached(r"\W(?=" + body + ")")
    if scan.groups != len(marks) - 1:  # pragma: no cover - a piece with a capturing group
        raise TaxonomyError("internal error: the scan regex has unexpected groups")
    return scan, marks


_FAN = 8  # alternatives the regex engine tries one after the other at a word start


def _class_tree(branches: list[tuple[list[str], str]]) -> list[tuple[list[str], str]]:
    """``(first characters, regex)`` alternatives regrouped into at most ``_FAN``
    groups, recursively, each behind the class of all its first characters.

    The regex engine tries the alternatives of a group one by one (a class test
    each): a word start faced ~300 first-level tests, now a few per level (~20 %
    faster scans). A group reads its character and re-reads the alternatives from
    the word start in a one-character lookbehind; their order, and so the order of
    the capturing groups inside, is kept."""
    if len(branches) <= _FAN:
        return branches
    size = -(-len(branches) // _FAN)
    grouped = []
    for start in range(0, len(branches), size):
        part = _class_tree(branches[start : start + size])
        chars = [c for first, _ in part for c in first]
        inner = part[0][1] if len(part) == 1 else "(?:" + "|".join(branch for _, branch in part) + ")"
        grouped.append((chars, _case_class(chars) + r"(?<=(?=" + inner + r")[\s\S])"))
    return grouped


def _trie_source(root: _Node) -> tuple[str, tuple[tuple[int, ...], ...]]:
    """The regex source of the trie at ``root`` (see :func:`_scan_regex`) and, per
    capturing group, the topics to try when it is the last one set."""
    ids: dict[Any, int] = {}
    signatures: dict[int, int] = {}

    def signature(node: _Node) -> int:
        groups: dict[int, list[str]] = {}
        for ch, child in node.children.items():
            groups.setdefault(signature(child), []).append(ch)
        key = (
            tuple(node.pieces),
            tuple(sorted(node.owners)),
            tuple(sorted((s, tuple(sorted(c))) for s, c in groups.items())),
        )
        sig = signatures[id(node)] = ids.setdefault(key, len(ids))
        return sig

    signature(root)
    marks: list[tuple[int, ...]] = [()]  # group number -> topic indexes

    def emit(node: _Node, depth: int, above: frozenset[int]) -> str:
        own = above | node.owners
        groups: dict[int, list[str]] = {}
        first: dict[int, _Node] = {}
        for ch, child in node.children.items():
            sig = signatures[id(child)]
            groups.setdefault(sig, []).append(ch)
            first.setdefault(sig, child)
        ordered = sorted(groups.items(), key=lambda item: (len(item[1]) > 1, min(item[1])))
        branches = [(chars, _case_class(chars) + emit(first[sig], depth + 1, own)) for sig, chars in ordered]
        if depth == 0:
            branches = _class_tree(branches)
        branches = [branch for _, branch in branches]
        if node.pieces:
            check = r"(?=(?i:" + "|".join(node.pieces) + r")(?!\w))"
            if depth:
                check = rf"(?<={check}[\s\S]{{{depth}}})"
            branches.append(check + "()")
            marks.append(tuple(sorted(own)))
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    body = emit(root, 0, frozenset())
    return body, tuple(marks)


class Matcher:
    """Compiled regexes for one set of active languages.

    The word index (or, for a taxonomy it cannot file, one scan regex that follows
    each pattern's literal prefix in a trie of character classes) gives the word
    starts where some pattern can match and the topics that can; there a regex of
    the topic's patterns finds its first matching one (case-insensitively, bounded
    by non-word characters), so a phrase can count for several topics. Everything
    is built on first use: a process touches few language sets.
    """

    def __init__(self, topics: Iterable[Topic], languages: tuple[str, ...]) -> None:
        ctx_langs = (*languages, ANY_LANGUAGE)
        self._topics: list[tuple[Topic, list[Pattern], list[str], list[str]]] = []
        for topic in topics:
            pats = [p for lang in languages for p in topic.patterns.get(lang, ())]
            if pats:
                self._topics.append(
                    (
                        topic,
                        pats,
                        [s for lang in ctx_langs for s in topic.exclude.get(lang, ())],
                        [s for lang in ctx_langs for s in topic.requires.get(lang, ())],
                    )
                )
        # built on first use; a race between threads builds them twice and keeps either
        self._scan: tuple[re.Pattern[str], tuple[tuple[int, ...], ...]] | None | bool = False
        self._index: WordIndex | None | bool = False
        self._matchers: list[_TopicMatcher | None] = [None] * len(self._topics)

    def _build_scan(self) -> tuple[re.Pattern[str], tuple[tuple[int, ...], ...]] | None:
        filed = [(index, p.source) for index, (_, pats, _, _) in enumerate(self._topics) for p in pats]

        def source() -> tuple[str, list[list[int]]] | None:
            root = _Node()
            for index, pattern in filed:
                _file(root, pattern, index)
            if not root.children and not root.pieces:
                return None
            body, marks = _trie_source(root)
            return body, [list(m) for m in marks]

        built = _built("scan", filed, source)  # the source from the disk cache, as _scan_regex builds it
        scan = None if built is None else _compile_scan(built[0], tuple(tuple(m) for m in built[1]))
        self._scan = scan
        return scan

    def _build_index(self) -> WordIndex | None:
        """The word index (:mod:`.topicwords`), or None when some pattern's prefix is
        unknown or starts with whitespace (then the scan regex finds the candidates)."""
        filed = [(index, p.source) for index, (_, pats, _, _) in enumerate(self._topics) for p in pats]

        def filings() -> list[tuple[str, int, int, list[str] | None]]:
            return [
                (stem, index, number, None if keys is None else sorted({spaced(key) for key in keys}))
                for index, (_, pats, _, _) in enumerate(self._topics)
                for number, p in enumerate(pats)
                for _, piece_keys in _scan_pieces(p.source)
                for stem, keys in stem_groups(piece_keys)
            ]

        built = _built("words", filed, filings)
        index = WordIndex(built, _fold, self._patterns_regex) if all(fileable(f[0]) for f in built) else None
        self._index = index
        return index

    def _patterns_regex(self, index: int, numbers: tuple[int, ...]) -> re.Pattern[str]:
        pats = self._topics[index][1]
        return re.compile(_bounded(f"(?P<p{i}>{pats[i].source})" for i in numbers), _FLAGS)

    def _topic(self, index: int) -> _TopicMatcher:
        matcher = self._matchers[index] = _topic_matcher(*self._topics[index])
        return matcher

    def candidates(self, text: str) -> dict[str, list[tuple[int, int, Pattern, _TopicMatcher]]]:
        """Per topic, every place where one of its patterns matches, in order, before the
        overlap, ``exclude`` and ``requires`` rules (:meth:`accept` applies them).

        The tagger bounds a topic's score from these and checks the context windows
        only of topics that can still reach a mention: most candidates never need it."""
        found: dict[str, list[tuple[int, int, Pattern, _TopicMatcher]]] = {}
        if not text:
            return found
        index = self._index
        if index is False:
            index = self._build_index()
        matchers = self._matchers
        if index is not None:
            for start, tries in index.starts(text):  # type: ignore[union-attr]
                for topic, regex in tries:
                    m = regex.match(text, start)
                    if m is not None:
                        tm = matchers[topic] or self._topic(topic)
                        pattern = tm.patterns[int(m.lastgroup[1:])]  # type: ignore[index]
                        found.setdefault(tm.name, []).append((start, m.end(), pattern, tm))
            return found
        scan = self._scan
        if scan is False:
            scan = self._build_scan()
        if scan is None:
            return found
        regex, marks = scan  # type: ignore[misc]
        for cand in regex.finditer(" " + text):  # see _scan_regex: starts are word starts in text
            start = cand.start()
            for index in marks[cand.lastindex]:  # type: ignore[index]
                tm = matchers[index] or self._topic(index)
                m = tm.regex.match(text, start)
                if m is not None:
                    pattern = tm.patterns[int(m.lastgroup[1:])]  # type: ignore[index]
                    found.setdefault(tm.name, []).append((start, m.end(), pattern, tm))
        return found

    @staticmethod
    def accept(
        text: str, candidates: Iterable[tuple[int, int, Pattern, _TopicMatcher]], window: int
    ) -> list[tuple[int, int, Pattern]]:
        """One topic's :meth:`candidates` that stand: not overlapping an earlier accepted
        match, no ``exclude`` within the window, a ``requires`` within it for a weak cue."""
        kept: list[tuple[int, int, Pattern]] = []
        n = len(text)
        for start, end, pattern, tm in candidates:
            if kept and kept[-1][1] > start:
                continue  # overlaps an earlier match of the same topic
            w = window if tm.window is None else tm.window
            lo, hi = max(0, start - w), min(n, end + w)
            if tm.exclude is not None and tm.exclude.search(text, lo, hi):
                continue
            if pattern.weak and (tm.requires is None or not tm.requires.search(text, lo, hi)):
                continue
            kept.append((start, end, pattern))
        return kept

    def find(self, text: str, window: int) -> dict[str, list[tuple[int, int, Pattern]]]:
        """Per topic, accepted (start, end, pattern) matches, non-overlapping, in order."""
        found = {}
        for name, cands in self.candidates(text).items():
            kept = self.accept(text, cands, window)
            if kept:
                found[name] = kept
        return found
