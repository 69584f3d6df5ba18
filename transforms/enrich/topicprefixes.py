"""What a topic pattern's matches begin with: the prefix analysis behind the topic matcher.

A pattern (a regex of the taxonomy) is split at its leading choices into alternatives
("pieces"), and each piece's matches are found to begin with one of a few case-folded
prefixes (up to ``SCAN_DEPTH`` characters) by walking CPython's parse of the regex. The
scan regex (:mod:`transforms.enrich.topicscan`) and the word index
(:mod:`transforms.enrich.topicwords`) file the pieces under these prefixes; case folding
follows the regex engine's own ``re.IGNORECASE`` equivalences (:func:`_fold`).

Pure; the results depend only on the pattern sources (and the Python version).
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, Iterable

from transforms.enrich.topicrules import _FLAGS

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
            if count < lo:  # stopped before the fewest repeats: every match goes on from these
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


def stem_groups(keys: frozenset[str] | None) -> list[tuple[str, list[str] | None]]:
    """:func:`_stems` with, for each stem, the prefixes filed under it (sorted; None when
    the prefixes are unknown): the word index tries a piece only where the text agrees
    with one of them, not just with the stem."""
    if keys is None:
        return [("", None)]
    groups: dict[str, list[str]] = {}
    for key in sorted(keys):
        groups.setdefault(key[0], []).append(key)
    return [(os.path.commonprefix(group), group) for group in groups.values()]


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
