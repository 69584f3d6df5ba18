"""Phrases in plain words, matched in their inflected forms: phrase -> regex.

A taxonomy ``phrases`` entry is written as words, e.g. ``send|deploy ... troops``:

- words separated by spaces follow each other (any whitespace between them);
- ``a|b`` is a choice of words at one place;
- ``...`` lets up to 3 other words come between two words, ``...N`` up to N;
- a plain word matches its inflected forms: its Snowball stem (snowballstemmer,
  one algorithm per language) followed by up to ``suffix`` letters of the
  language, so ``troop`` matches troops, ``санкция`` санкции/санкций/санкциями;
  for a language without a Snowball stemmer the taxonomy lists the ``endings``
  its stem is found by stripping;
- ``=word`` matches the word exactly (case aside); ``word*`` the word and any
  continuation (a German or Dutch compound: ``waffenliefer*``).

Words may hold letters, digits, ``-``, ``'``/``’`` and ``.``; anything else is a
:class:`TaxonomyError` naming the entry. Stemming happens once when the taxonomy
is loaded, never per article.
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Mapping, Sequence

from transforms.enrich.topicrules import TaxonomyError

SNOWBALL = {
    "en": "english", "fr": "french", "de": "german", "es": "spanish", "it": "italian",
    "nl": "dutch", "pl": "polish", "ru": "russian", "pt": "portuguese", "sv": "swedish",
    "da": "danish", "no": "norwegian", "fi": "finnish", "cs": "czech", "ro": "romanian",
    "hu": "hungarian", "tr": "turkish", "el": "greek", "ca": "catalan", "lt": "lithuanian",
}  # fmt: skip
DEFAULT_SUFFIX = 4  # letters an inflected form may add to the stem, unless the taxonomy says
MIN_STEM = 4  # a shorter stem would match too much: the word is then matched as written
GAP_WORDS = 3  # what "..." allows between two words
_WORD = re.compile(r"^[^\W_](?:[\w'’.-]*\w)?\.?$")
_GAP = re.compile(r"^\.\.\.(\d{0,2})$")
# a word a gap may skip: a comma may end it, a full stop only an abbreviation (U.S.), so that
# a gap stays within its sentence ("... stationed there. Troops ..." is no frame). Possessive
# (++): only the whole word can be followed by the space, so giving letters back is futile
# work the regex engine would do at each word of each gap (a third of the frames' cost)
# A number written in digit groups ("10 000", "1 500": French, Polish, Russian...) is one word.
_GAP_WORD = r"(?:(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})++,?|[\w'’.,-]++(?<![^.\s]{2}\.)) )"
# Snowball's German stemmer writes umlauts and ß plainly; the text has them
_SNOWBALL_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u"})


@functools.lru_cache(maxsize=None)
def _snowball(lang: str) -> Callable[[str], str] | None:
    name = SNOWBALL.get(lang)
    if name is None:
        return None
    import snowballstemmer  # BSD-3; pure Python, no data files

    return snowballstemmer.stemmer(name).stemWord


_stems: dict[tuple[str, str], str] = {}  # (language, word) -> Snowball's stem, as the stemmer gives it


def snowball_stems() -> list[list[str]]:
    """The Snowball stems this process has computed, ``[language, word, stem]`` each (JSON)."""
    return [[lang, word, stemmed] for (lang, word), stemmed in _stems.items()]


def remember_stems(stems: list[list[str]]) -> None:
    """Take stems from :func:`snowball_stems` of an earlier process (the regex cache keeps
    them with the taxonomy, ~0.15 s of stemming per process), as if computed here."""
    for lang, word, stemmed in stems:
        _stems[(lang, word)] = stemmed


def snowball_version() -> str:
    """The installed snowballstemmer's version, part of the regex cache's key for a taxonomy and
    its stems (another Snowball may stem otherwise). The package has no ``__version__``: its
    distribution's metadata says it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("snowballstemmer")
    except PackageNotFoundError:  # pragma: no cover - not installed as a distribution
        import snowballstemmer

        return str(getattr(snowballstemmer, "__version__", ""))


def _strip_endings(word: str, endings: Sequence[str]) -> str:
    for ending in sorted(endings, key=len, reverse=True):
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def stem(word: str, lang: str, endings: Sequence[str] = ()) -> str | None:
    """The part of ``word`` (lower-cased) that all its inflected forms share: the
    Snowball stem mapped back onto the word's own letters (the German stemmer
    writes ``ä`` as ``a``), or the word without its longest listed ending; None
    when the stemmer changed letters (then only the word as written matches)."""
    low = word.lower()
    if endings:
        return _strip_endings(low, endings)
    stemmer = _snowball(lang)
    if stemmer is None:
        return low
    stemmed = _stems.get((lang, low))
    if stemmed is None:
        stemmed = _stems[(lang, low)] = stemmer(low)
    # walk the word and its stemmer-spelled form side by side (German: ä is a, ß is ss)
    n = matched = 0
    for ch in low:
        spelled = (ch.replace("ß", "ss").translate(_SNOWBALL_FOLD)) if lang == "de" else ch
        if stemmed[matched : matched + len(spelled)] != spelled:
            break
        matched += len(spelled)
        n += 1
    # a stem that is not the start of the word (Dutch "sturen" -> "stuur") is no guide to its forms
    return low[:n] if matched == len(stemmed) else None


def word_regex(word: str, lang: str, suffix: int, endings: Sequence[str] = ()) -> str:
    """The regex for one word of a phrase (see the module docstring)."""
    if word.startswith("="):
        return re.escape(word[1:].lower())
    if word.endswith("*"):
        return re.escape(word[:-1].lower()) + r"\w*"
    low = word.lower()
    base = stem(low, lang, endings)
    if base is None or len(base) < MIN_STEM:
        return re.escape(low)
    extra = max(suffix, len(low) - len(base))
    if lang == "en" and base.endswith("e") and len(base) >= MIN_STEM:  # move: moving, moved
        return "(?:%s\\w{0,%d}|%s(?:ing|ed))" % (re.escape(base), extra, re.escape(base[:-1]))
    return re.escape(base) + (r"\w{0,%d}" % extra if extra else "")


def phrase_regex(phrase: str, lang: str, inflection: Mapping[str, object], where: str) -> str:
    """The regex of a phrase entry; a bad word or gap is a TaxonomyError naming ``where``."""
    suffix = int(inflection.get("suffix", DEFAULT_SUFFIX))  # type: ignore[call-overload]
    endings = tuple(inflection.get("endings") or ())  # type: ignore[call-overload]
    parts: list[str] = []
    pending_gap = 0
    tokens = phrase.split()
    if not tokens:
        raise TaxonomyError(f"{where}: empty phrase")
    for i, token in enumerate(tokens):
        gap = _GAP.match(token)
        if gap:
            if i == 0 or i == len(tokens) - 1 or pending_gap:
                raise TaxonomyError(f"{where}: phrase {phrase!r}: '...' must stand between two words")
            pending_gap = int(gap.group(1) or GAP_WORDS)
            continue
        choices = []
        for word in token.split("|"):
            bare = word[1:] if word.startswith("=") else word[:-1] if word.endswith("*") else word
            if not bare or not _WORD.match(bare):
                raise TaxonomyError(
                    f"{where}: phrase {phrase!r}: bad word {word!r} (words are letters, digits, - ' . ; "
                    "'a|b' is a choice, '...' a gap, '=w' exact, 'w*' a prefix)"
                )
            choices.append(word_regex(word, lang, suffix, endings))
        alternatives = list(dict.fromkeys(choices))
        slot = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        if parts:
            parts.append(" " + (_GAP_WORD + "{0,%d}" % pending_gap if pending_gap else ""))
        parts.append(slot)
        pending_gap = 0
    return "".join(parts)
