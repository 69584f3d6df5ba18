"""The topic matcher: finds where a taxonomy's patterns match in a text, fast.

For each set of active languages (the article's language plus English, or every
language for ``und``/unknown) one scan regex finds every position where some
pattern matches: a prefix trie of the patterns' literal beginnings written as
case-sensitive character classes, checking the patterns filed where a prefix
ends, so the regex engine rather than Python rejects other word starts. Wherever
it hits, one combined regex per topic that can match there tells which of that
topic's patterns matches, so a phrase can count for several topics. Word
boundaries are Unicode-aware (``\\w`` covers Cyrillic), and a literal space in a
pattern matches any run of whitespace (see :mod:`transforms.enrich.taxonomy`).

Pure: :class:`Matcher` (built by :meth:`Taxonomy.matcher`) and its ``find``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import sys
from typing import Any, Iterable

from transforms.enrich.topicrules import _FLAGS, ANY_LANGUAGE, Pattern, TaxonomyError, Topic
from transforms.enrich import topicrules
from transforms.runtime.regexcache import code_fingerprint, compile_cached, derived


try:  # the regex parser, used only to learn which characters a pattern can start with
    from re import _constants as _sre_c, _parser as _sre_parse  # Python >= 3.11
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_ZERO_WIDTH = {_sre_c.AT, _sre_c.ASSERT, _sre_c.ASSERT_NOT}
_REPEATS = {_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, getattr(_sre_c, "POSSESSIVE_REPEAT", _sre_c.MAX_REPEAT)}
_DIGIT_CATEGORIES = {_sre_c.CATEGORY_DIGIT, _sre_c.CATEGORY_UNI_DIGIT}
_SPACE_CATEGORIES = {_sre_c.CATEGORY_SPACE, _sre_c.CATEGORY_UNI_SPACE}
_WHITESPACE = frozenset(c for c in map(chr, range(0x3001)) if re.match(r"\s", c))
_MAX_PREFIXES = 4096  # prefixes of one length a piece may have before it counts as unknown
SCAN_DEPTH = 8  # longest prefix of a pattern the scan regex spells out character by character
_MAX_KEYS = 64  # prefixes per piece for a prefix length above 1
_MAX_PIECES = 256  # a pattern that splits into more alternatives stays whole in the scan
_CASED_LIMIT = 0x20000  # no cased or decimal-digit character lies above this code point


class _Unknown(Exception):
    """The prefix analysis met a construct it cannot enumerate (e.g. \\w)."""


@functools.lru_cache(maxsize=1)
def _decimal_digits() -> frozenset[str]:
    """Every character ``\\d`` matches in a str pattern (Unicode category Nd)."""
    return frozenset(c for c in map(chr, range(_CASED_LIMIT)) if c.isdecimal())


@functools.lru_cache(maxsize=1)
def _case_tables() -> tuple[dict[str, str], dict[str, str]]:
    """How ``re.IGNORECASE`` compares characters: a character matches another when
    their simple lower-case forms fall in one group of the regex engine's extra
    equivalences (e.g. s/ſ, k/K, в/ᲀ). Returns ``char -> representative`` and
    ``representative -> every character of the group``, for cased characters only."""
    try:
        from _sre import unicode_tolower  # the engine's own case mapping
    except ImportError:  # pragma: no cover - other interpreters

        def unicode_tolower(code: int) -> int:
            low = chr(code).lower()
            return ord(low) if len(low) == 1 else code

    try:
        from re._casefix import _EXTRA_CASES as extra  # Python >= 3.11
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            from sre_compile import _ignorecase_fixes as extra  # type: ignore[no-redef]
        except ImportError:
            extra = {}
    canonical: dict[str, str] = {}
    members: dict[str, set[str]] = {}
    for code in range(_CASED_LIMIT):
        low = unicode_tolower(code)
        if low == code and code not in extra:
            continue
        rep = chr(min((low, *extra.get(low, ()))))
        canonical[chr(code)] = rep
        members.setdefault(rep, {rep}).add(chr(code))
    return canonical, {rep: "".join(sorted(chars)) for rep, chars in members.items()}


def _fold(ch: str) -> str:
    return _case_tables()[0].get(ch, ch)


def _case_class(reps: Iterable[str]) -> str:
    """A case-sensitive character class matching exactly what the case-insensitive
    regex engine takes for any of the representatives ``reps`` (``\\d`` and ``\\s``
    stand for all digits and all whitespace: one test instead of a range list)."""
    members = _case_tables()[1]
    chars = {c for rep in reps for c in members.get(rep, rep)}
    head = ""
    for category, covered in ((r"\d", _decimal_digits()), (r"\s", _WHITESPACE)):
        if covered <= chars:
            chars -= covered
            head += category
    return "[" + head + "".join(re.escape(c) for c in sorted(chars)) + "]"


def _charset(op: Any, av: Any) -> frozenset[str] | set[str]:
    """The case-folded characters one item of a parsed regex can match."""
    if op is _sre_c.LITERAL:
        return {_fold(chr(av))}
    if op is _sre_c.CATEGORY and av in _DIGIT_CATEGORIES:
        return _decimal_digits()  # digits and whitespace have no case
    if op is _sre_c.CATEGORY and av in _SPACE_CATEGORIES:
        return _WHITESPACE
    if op is _sre_c.IN:
        chars: set[str] = set()
        for sub_op, sub_av in av:
            if sub_op is _sre_c.LITERAL:
                chars.add(_fold(chr(sub_av)))
            elif sub_op is _sre_c.RANGE and sub_av[1] - sub_av[0] < 2048:
                chars.update(map(_fold, map(chr, range(sub_av[0], sub_av[1] + 1))))
            elif sub_op is _sre_c.CATEGORY and sub_av in _DIGIT_CATEGORIES:
                chars.update(_decimal_digits())
            elif sub_op is _sre_c.CATEGORY and sub_av in _SPACE_CATEGORIES:
                chars.update(_WHITESPACE)
            else:
                raise _Unknown
        return chars
    raise _Unknown


def _extend(items: Any, prefixes: set[str], k: int, limit: int = _MAX_PREFIXES) -> set[str]:
    """All strings of length <= k that a match of ``items`` can begin with, case-
    folded (see :func:`_fold`), given that the text matched so far begins with one
    of ``prefixes``; raises _Unknown rather than list more than ``limit``."""
    for op, av in items:
        open_ = {p for p in prefixes if len(p) < k}
        if not open_:
            return prefixes
        done = prefixes - open_
        if op in _ZERO_WIDTH:
            continue
        if op is _sre_c.SUBPATTERN:
            prefixes = done | _extend(av[-1], open_, k, limit)
        elif op is getattr(_sre_c, "ATOMIC_GROUP", None):
            prefixes = done | _extend(av, open_, k, limit)
        elif op is _sre_c.BRANCH:
            prefixes = done | set().union(*(_extend(branch, open_, k, limit) for branch in av[1]))
        elif op in _REPEATS:
            lo, hi, sub = av
            result: set[str] = set()
            current = open_
            for count in range(min(hi, k + 1) + 1):
                if count >= lo:
                    result |= current
                if count == min(hi, k + 1) or not any(len(p) < k for p in current):
                    break
                current = _extend(sub, current, k, limit)
            if lo > k + 1:
                result |= current
            prefixes = done | result
        else:
            chars = _charset(op, av)
            if len(open_) * len(chars) > limit:
                raise _Unknown
            prefixes = done | {p + c for p in open_ for c in chars}
        if len(prefixes) > limit:
            raise _Unknown
    return prefixes


def _structure(source: str) -> tuple[list[int], dict[int, int]] | None:
    """Offsets of the top-level ``|`` of a regex and, per ``(``, its ``)``; None
    when the source is not plain enough to split safely."""
    if "(?#" in source or re.search(r"\(\?[a-zA-Z-]*x", source):  # comments, verbose mode
        return None
    bars: list[int] = []
    opened: list[int] = []
    closing: dict[int, int] = {}
    i, n, in_class = 0, len(source), False
    while i < n:
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            i += 1
            if i < n and source[i] == "^":
                i += 1
            if i < n and source[i] == "]":  # a literal ']' first in the class
                i += 1
            continue
        elif ch == "(":
            opened.append(i)
        elif ch == ")":
            if not opened:
                return None
            closing[opened.pop()] = i
        elif ch == "|" and not opened:
            bars.append(i)
        i += 1
    return None if opened or in_class else (bars, closing)


def _alternatives(source: str) -> list[str] | None:
    found = _structure(source)
    if found is None:
        return None
    bounds = [-1, *found[0], len(source)]
    return [source[a + 1 : b] for a, b in zip(bounds, bounds[1:])]


def _distribute(source: str, out: list[str]) -> bool:
    """Append to ``out`` alternatives whose union matches what ``source`` matches,
    each starting with something other than a choice: ``a|b`` gives ``a`` and
    ``b``; ``(?:a|b)?c`` gives ``ac``, ``bc`` and ``c``. False if not possible."""
    alternatives = _alternatives(source)
    if alternatives is None:
        return False
    for alt in alternatives:
        if len(out) > _MAX_PIECES:
            return False
        found = _structure(alt) if alt.startswith("(?:") else None
        if found is None:
            out.append(alt)
            continue
        end = found[1][0]
        inner, after = alt[3:end], alt[end + 1 :]
        optional = after[:1] == "?" and after[1:2] != "+"  # greedy or lazy, not possessive
        if optional:
            after = after[2:] if after[1:2] == "?" else after[1:]
        elif after[:1] in ("*", "+", "?", "{"):
            out.append(alt)
            continue
        options = _alternatives(inner)
        if options is None:
            return False
        for option in [*options, *([""] if optional else [])]:
            if not _distribute(option + after, out):
                return False
    return True


@functools.lru_cache(maxsize=8192)
def _scan_pieces(source: str) -> tuple[tuple[str, frozenset[str] | None], ...]:
    """``source`` as alternatives for the scan regex, each with the case-folded
    prefixes its matches can start with (None: unknown, try it everywhere).

    Splitting a pattern at its leading choices lets each alternative be filed
    under its own long prefix, so the scan tries it only where it can match."""
    pieces: list[str] = []
    if not _distribute(source, pieces) or len(pieces) > _MAX_PIECES:
        pieces = [source]
    analysed = []
    for piece in dict.fromkeys(pieces):
        try:
            parsed = _sre_parse.parse(piece, _FLAGS)
        except Exception:  # noqa: BLE001 - a piece that does not parse: keep the pattern whole
            if piece == source:
                raise
            return _scan_pieces_whole(source)
        analysed.append((piece, _piece_keys(parsed)))
    return tuple(analysed)


def _scan_pieces_whole(source: str) -> tuple[tuple[str, frozenset[str] | None], ...]:
    return ((source, _piece_keys(_sre_parse.parse(source, _FLAGS))),)


def _piece_keys(parsed: Any) -> frozenset[str] | None:
    """Case-folded prefixes of the longest length (<= SCAN_DEPTH) that a match of
    ``parsed`` always has and that can be listed (at most _MAX_KEYS of them)."""
    best = None
    for k in range(1, SCAN_DEPTH + 1):
        try:
            prefixes = _extend(parsed, {""}, k, _MAX_PREFIXES if k == 1 else _MAX_KEYS)
        except _Unknown:
            break
        except Exception:  # noqa: BLE001 - analysis is an optimisation only; shorter prefixes stay right
            break
        if not prefixes or any(len(p) != k for p in prefixes):
            break
        best = frozenset(prefixes)
    return best


def _stems(keys: frozenset[str] | None) -> list[str]:
    """Where to file a piece in the trie: per first character of its prefixes, their
    longest common prefix. A piece whose prefixes fan out (``gas(?:preis|krise)``)
    is then checked once at ``gas``, not once per prefix: a smaller regex, and the
    check itself rejects ``gasket`` at once."""
    if keys is None:
        return [""]
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key[0], []).append(key)
    return [os.path.commonprefix(group) for group in groups.values()]


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
    ``inputs``, the code of this module and of ``topicrules`` and the Python version (its
    regex parser reads the patterns): the same value, without parsing ~2,000 patterns
    again in every process."""
    fingerprint = code_fingerprint(__file__, topicrules.__file__)
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

    One scan regex finds every position where some pattern matches (case-
    insensitively, bounded by non-word characters); it follows each pattern's
    literal prefix (up to SCAN_DEPTH characters) in a trie of character classes,
    so the regex engine, not Python, rejects the other word starts. At each hit,
    one regex per topic that can match there (the scan says which) finds that
    topic's first matching pattern, so a phrase can count for several topics.
    Everything is compiled on first use: a process touches few language sets.
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
        scan = self._scan
        if scan is False:
            scan = self._build_scan()
        if scan is None:
            return found
        regex, marks = scan  # type: ignore[misc]
        matchers = self._matchers
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
