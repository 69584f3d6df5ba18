"""The language data of story features, read from ``configs/story_lexicon.yaml``.

Transliteration tables, the concept lexicon, month names, scale and percent words
and stopwords are data, edited without touching code; this module reads them
once (:func:`lexicon`) and checks every entry, so a bad one stops the import with
a :class:`LexiconError` naming the file and the key instead of silently changing
the features. The file is package data of ``configs`` (``setup.py`` ships it, so workers that
install newsbeam find it through ``importlib.resources`` too).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, NamedTuple

import yaml

import configs

LEXICON_PATH = configs.path("story_lexicon.yaml")
VERSION = 1
_SECTIONS = ("version", "transliteration", "concepts", "months", "scales", "percent", "stopwords")
_TRANSLITERATION = ("common", "uk", "ru", "ukrainian_letters")


class LexiconError(ValueError):
    """A missing or malformed story lexicon; the message names the file and the key."""


class Lexicon(NamedTuple):
    """The tables of ``configs/story_lexicon.yaml``, as story features use them."""

    cyrillic_uk: dict[str, str]  # Cyrillic letter (lower case) -> Latin, Ukrainian rules
    cyrillic_ru: dict[str, str]  # the same, Russian rules
    ukrainian_letters: set[str]  # letters only Ukrainian has
    concepts: dict[str, tuple[str, ...]]  # concept -> words ("*": a prefix), in file order
    months: dict[int, tuple[str, ...]]  # 1..12 -> month names
    scales: dict[float, tuple[str, ...]]  # 1e3, 1e6... -> scale words
    percent: tuple[str, ...]  # words that make a number a percentage
    stopwords: tuple[str, ...]  # words of no feature, all languages


@lru_cache(maxsize=None)
def lexicon() -> Lexicon:
    """The lexicon of ``configs/story_lexicon.yaml``, read once per process."""
    return read_lexicon(LEXICON_PATH)


def read_lexicon(path: str) -> Lexicon:
    """Read and check a story lexicon file; :class:`LexiconError` when it is bad."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise LexiconError(f"story lexicon not found: {path}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise LexiconError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_lexicon(raw, path)


def parse_lexicon(raw: Any, source: str = "<story lexicon>") -> Lexicon:
    """Check a parsed lexicon document and build its tables."""

    def fail(key: str, expected: str, got: Any) -> LexiconError:
        return LexiconError(f"{source}: '{key}' must be {expected}, got {got!r}")

    def mapping(key: str, value: Any, known: tuple[str, ...]) -> Mapping:
        if not isinstance(value, Mapping):
            raise fail(key, "a mapping", value)
        missing = [k for k in known if k not in value]
        unknown = sorted(str(k) for k in value if k not in known)
        if missing or unknown:
            where = f"'{key}'" if key else "the top level"
            what = f"lacks {', '.join(missing)}" if missing else f"has unknown {', '.join(unknown)}"
            raise LexiconError(f"{source}: {where} {what} (expected: {', '.join(known)})")
        return value

    def words(key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise fail(key, "a non-empty list of words", value)
        for i, word in enumerate(value):
            if not isinstance(word, str) or not word.rstrip("*") or any(ch.isspace() for ch in word):
                raise fail(f"{key}[{i}]", "a word (text without spaces, '*' at the end for a prefix)", word)
        return tuple(value)

    def letters(key: str, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise fail(key, "a mapping of letters to their Latin spelling", value)
        for letter, latin in value.items():
            if not isinstance(letter, str) or len(letter) != 1:
                raise fail(f"{key}.{letter}", "keyed by a single letter", letter)
            if not isinstance(latin, str) or not latin.isascii() or any(ch.isspace() for ch in latin):
                raise fail(f"{key}.{letter}", "Latin letters (or \"\" for none)", latin)
        return dict(value)

    if not isinstance(raw, Mapping):
        raise LexiconError(f"{source}: the top level must be a mapping of {', '.join(_SECTIONS)}")
    top = mapping("", raw, _SECTIONS)
    if top["version"] != VERSION:
        raise fail("version", str(VERSION), top["version"])
    translit = mapping("transliteration", top["transliteration"], _TRANSLITERATION)
    common = letters("transliteration.common", translit["common"])
    uk_letters = translit["ukrainian_letters"]
    if not isinstance(uk_letters, str) or not uk_letters or any(ch.isspace() for ch in uk_letters):
        raise fail("transliteration.ukrainian_letters", "the letters written one after the other", uk_letters)

    concepts_raw = top["concepts"]
    if not isinstance(concepts_raw, Mapping) or not concepts_raw:
        raise fail("concepts", "a mapping of concepts to their words", concepts_raw)
    concepts = {}
    for concept, value in concepts_raw.items():
        if not isinstance(concept, str) or not concept.replace("_", "").isalnum():
            raise fail(f"concepts.{concept}", "named by letters, digits and _", concept)
        concepts[concept] = words(f"concepts.{concept}", value)

    months_raw = top["months"]
    if not isinstance(months_raw, Mapping):
        raise fail("months", "a mapping of month numbers to names", months_raw)
    months = {}
    for month, value in months_raw.items():
        if type(month) is not int or not 1 <= month <= 12:
            raise fail(f"months.{month}", "keyed by a month number 1 to 12", month)
        months[month] = words(f"months.{month}", value)

    scales_raw = top["scales"]
    if not isinstance(scales_raw, Mapping):
        raise fail("scales", "a mapping of numbers to scale words", scales_raw)
    scales = {}
    for scale, value in scales_raw.items():
        if type(scale) not in (int, float) or not scale > 1:
            raise fail(f"scales.{scale}", "keyed by a number above 1 (1000, 1000000...)", scale)
        scales[float(scale)] = words(f"scales.{scale}", value)

    stopwords_raw = top["stopwords"]
    if not isinstance(stopwords_raw, Mapping) or not stopwords_raw:
        raise fail("stopwords", "a mapping of languages to their stopwords", stopwords_raw)
    stopwords: list[str] = []
    for language, text in stopwords_raw.items():
        if not isinstance(text, str) or not text.split():
            raise fail(f"stopwords.{language}", "the words separated by spaces", text)
        stopwords.extend(text.split())

    return Lexicon(
        cyrillic_uk=dict(common, **letters("transliteration.uk", translit["uk"])),
        cyrillic_ru=dict(common, **letters("transliteration.ru", translit["ru"])),
        ukrainian_letters=set(uk_letters),
        concepts=concepts,
        months=months,
        scales=scales,
        percent=words("percent", top["percent"]),
        stopwords=tuple(stopwords),
    )
