"""Story features: an article as a bag of language-neutral features.

Taken from the title (counted ``title_repeat`` times) and the lead of the text:

- ``w:<key>`` content words as phonetic keys (:mod:`transforms.stories.spelling`);
  a word capitalised inside a sentence (a name) is ``W:<key>`` and weighs ``entity_weight``
  (the same feature as ``w:<key>`` to every comparison, :func:`feature_key`; the capital
  marks it as language-neutral, like every feature but ``w:``);
- ``c:<concept>`` key news terms and country names of the 9 languages
  (``séisme``, ``Erdbeben``, ``землетрус``: ``c:earthquake``);
- ``n:<value>`` numbers across separators and scale words (``1,5 Milliarden`` =
  ``1.5 billion`` = ``n:1.5e+09``), small counts (< 13) left out; ``y:<year>`` years;
- ``d:<month>-<day>`` calendar dates in any of the languages (``15 mars``, ``March 15``);
- ``p:<geonameid>`` cities and ``k:<country code>`` countries the article names, in any
  language and script (``Charkowie``, ``Харкові``, ``Kharkiv``), from its ``places``
  (:mod:`transforms.stories.entities`; the whole text, every mention), weighing ``place_weight``;
  ``o:<id>`` organisations likewise (``organisation_weight``, 0 by default).

The word lists are data: ``configs/story_lexicon.yaml`` (:mod:`transforms.stories.lexicon`).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Iterable, Mapping, NamedTuple

import numpy as np

from transforms.stories.entities import entity_fields
from transforms.stories.lexicon import lexicon
from transforms.stories.params import StoryParams
from transforms.stories.spelling import fold_token, norm_token, transliterate, word_key

# --------------------------------------------------------------------------- word lists


def _compile(entries: Mapping[object, Iterable[str]]) -> tuple[dict[str, object], dict[str, object], int]:
    """``(exact words, prefixes, longest prefix)`` of a word list, for :func:`_lookup`:
    words normalised like tokens, the first entry listing a word keeps it."""
    exact: dict[str, object] = {}
    prefix: dict[str, object] = {}
    for concept, words in entries.items():
        for word in words:
            is_prefix = word.endswith("*")
            norm = norm_token(word.rstrip("*"))
            if not norm:
                continue
            (prefix if is_prefix and len(norm) >= 3 else exact).setdefault(norm, concept)
    longest = max((len(k) for k in prefix), default=0)
    return exact, prefix, longest


def _lookup(token: str, exact: dict, prefix: dict, longest: int) -> object | None:
    """The entry of a normalised token in a :func:`_compile`'d list: the exact word, else the longest prefix."""
    hit = exact.get(token)
    if hit is not None:
        return hit
    for n in range(min(len(token), longest), 2, -1):
        hit = prefix.get(token[:n])
        if hit is not None:
            return hit
    return None


_CONCEPTS = _compile(lexicon().concepts)
_PERCENT_LEX = _compile({"%": lexicon().percent})
_MONTH_LEX = _compile(lexicon().months)
_SCALE_LEX = _compile(lexicon().scales)


# the words next to numbers, looked up once per spelling (news repeats them: "million", "per")
@lru_cache(maxsize=100_000)
def _scale(token: str) -> object | None:
    return _lookup(token, *_SCALE_LEX)


@lru_cache(maxsize=100_000)
def _month(token: str) -> object | None:
    return _lookup(token, *_MONTH_LEX)


@lru_cache(maxsize=100_000)
def _percent(token: str) -> bool:
    return _lookup(token, *_PERCENT_LEX) is not None
_STOPWORDS = frozenset(norm_token(w) for w in lexicon().stopwords)

# --------------------------------------------------------------------------- features

_TOKEN = re.compile(r"\d+(?:[.,\u00a0\u202f]\d+|[ ]\d{3}(?!\d))*%?|[^\W\d_]+")


class StoryFeatures(NamedTuple):
    """An article as story clustering sees it."""

    id: str
    published_at: str  # "" when unknown
    counts: tuple[tuple[str, float], ...]  # (feature, weighted count), sorted by feature
    language: str = ""  # "" when unknown


FeaturesPayload = tuple  # (id, published_at, names joined by NUL, counts as little-endian float64 bytes, language)
# [, True] for an article remembered from an earlier run (an original by construction)

NAME_PREFIX = "W:"  # a name: the same feature as "w:" + key, marked language-neutral


def feature_key(feature: str) -> str:
    """The feature as comparisons know it: a name ``W:<key>`` is the word ``w:<key>``."""
    return "w" + feature[1:] if feature[0] == "W" else feature


def feature_keys(names: str) -> list[str]:
    """``[feature_key(f) for f in names.split("\0")]`` of non-empty NUL-joined feature
    names, in C: a name starts the string or follows a NUL."""
    return ("\0" + names).replace("\0W", "\0w")[1:].split("\0")


def is_neutral(feature: str) -> bool:
    """Whether a feature means the same in every language: all but lowercase words (``w:``)."""
    return not feature.startswith("w:")


CROSS_ONLY = ("k:", "o:", "p:")  # places and organisations: compared across two languages only


def is_cross_only(feature: str) -> bool:
    """Whether a feature counts only between articles in two languages (places,
    organisations): within one language the features of before them decide alone."""
    return feature.startswith(CROSS_ONLY)


def features_payload(features: StoryFeatures) -> FeaturesPayload:
    """What the shuffle carries of a :class:`StoryFeatures`: str and bytes only, so
    Beam's default coder writes it without pickling (faster and smaller than the
    named tuple of ~225 pairs). Feature names are letters, digits and ``:.-e+``
    only, never NUL."""
    names = "\0".join(f for f, _ in features.counts)
    counts = np.fromiter((c for _, c in features.counts), dtype="<f8", count=len(features.counts))
    return features.id, features.published_at, names, counts.tobytes(), features.language


def features_of(payload: FeaturesPayload) -> StoryFeatures:
    article_id, published_at, names, counts, language = payload[:5]
    if not names:
        return StoryFeatures(article_id, published_at, (), language)
    pairs = tuple(zip(names.split("\0"), np.frombuffer(counts, "<f8").tolist()))
    return StoryFeatures(article_id, published_at, pairs, language)


_NUMBER_SEPARATOR = re.compile(r"[.,' ]")


def _parse_number(raw: str) -> float | None:
    s = raw.rstrip("%")
    if s.isdigit():  # most numbers: digits only (what _NUMBER matches besides separators)
        return float(s)
    s = s.replace("\u00a0", " ").replace("\u202f", " ")
    groups = _NUMBER_SEPARATOR.split(s)
    seps = _NUMBER_SEPARATOR.findall(s)
    if not seps:
        return float(s)
    last = groups[-1]
    if len(seps) == 1 and len(last) != 3:
        return float(groups[0] + "." + last)  # 1.5 / 1,5 / 12,75
    if len(set(seps)) == 2 and len(last) != 3:
        return float("".join(groups[:-1]) + "." + last)  # 1,234.5 / 1.234,5
    if all(len(g) == 3 for g in groups[1:]):
        return float("".join(groups))  # 1,000 / 1.000 / 15 000
    return None


def _fmt_number(value: float) -> str:
    return f"{value:.3g}"


def story_features(article: Mapping, params: StoryParams = StoryParams()) -> StoryFeatures:
    """The weighted feature counts of one article (title counted ``title_repeat`` times).

    Words are counted in bulk (one C-level ``findall`` + ``Counter``; the per-word
    work is cached by spelling), numbers are handled one by one with the two tokens
    after and the one before them, and sentence-initial words are found by one
    regex, so a capitalised word is a name only when it also occurs elsewhere."""
    counts = _feature_counts(article, params)
    return StoryFeatures(
        str(article["id"]), article.get("published_at") or "", tuple([(f, counts[f]) for f in sorted(counts)]),
        _language(article),
    )


def _language(article: Mapping) -> str:
    language = article.get("language") or ""
    return "" if language == "und" else language


def _feature_counts(article: Mapping, params: StoryParams) -> dict[str, float]:
    """:func:`story_features` as ``{feature: weighted count}``."""
    language = article.get("language")
    title = article.get("title") or ""
    text = (article.get("text") or "")[: params.max_chars]
    counts: dict[str, float] = {}
    capitalized: set[str] = set()
    lowercase: set[str] = set()
    for part, repeat, is_title in ((title, params.title_repeat, True), (text, 1, False)):
        if not part:
            continue
        part = transliterate(part, language)
        _add_numbers(part, repeat, counts, params)
        heads = None if is_title else _sentence_heads(part)
        weights = (repeat * params.word_weight, repeat * params.concept_weight)
        get = counts.get
        for raw, n in Counter(words_of(part)).items():
            feature, is_concept, case = _RAW.get(raw) or _raw_info(raw)
            if feature is None:
                continue
            counts[feature] = get(feature, 0.0) + n * weights[is_concept]
            if case and heads is not None:
                if case < 0:
                    lowercase.add(feature)
                elif n > heads.get(raw, 0):
                    capitalized.add(feature)
    for feature in capitalized:
        if feature not in lowercase:
            counts[NAME_PREFIX + feature[2:]] = counts.pop(feature) * params.entity_weight
    if params.place_weight or params.organisation_weight:
        _add_entities(article, counts, params)
    return counts


def _add_entities(article: Mapping, counts: dict[str, float], params: StoryParams) -> None:
    """``p:<geonameid>`` (``k:<country code>`` for a country) and ``o:<id>`` of the places and organisations the article names
    (its ``places``/``organisations`` fields, found here when it has none): mentions, a
    title mention counted ``title_repeat`` times."""
    if "places" in article and "organisations" in article:
        found = article
    else:
        found = entity_fields(article)
    repeat = params.title_repeat - 1
    for field, prefix, key, weight in (("places", "p:", "geonameid", params.place_weight),
                                       ("organisations", "o:", "id", params.organisation_weight)):
        if not weight:
            continue
        for entity in found.get(field) or ():
            title = sum(1 for span in entity["evidence"] if span["field"] == "title")
            name = f"k:{entity['country']}" if entity.get("kind") == "country" else f"{prefix}{entity[key]}"
            counts[name] = (entity["mentions"] + repeat * title) * weight


_WORD = re.compile(r"[^\W\d_]+")
# ASCII bytes that are not letters -> space; bytes >= 0x80 (parts of UTF-8 sequences) unchanged
_ASCII_NON_LETTER_TO_SPACE = bytes(b if b >= 0x80 or chr(b).isalpha() else 0x20 for b in range(256))


def words_of(part: str) -> list[str]:
    """``_WORD.findall(part)``: the runs of letters, in order, ~2x faster for most texts.

    ASCII non-letters become spaces at byte level and ``str.split`` cuts there (and at
    any other whitespace); when every character left is a letter (``str.isalpha``: an
    ASCII text always, most others unless they hold characters such as ``«`` or ``²``)
    the chunks are the regex's runs, else the regex reads the text."""
    chunks = part.encode("utf-8", "surrogatepass").translate(_ASCII_NON_LETTER_TO_SPACE).decode(
        "utf-8", "surrogatepass").split()
    if part.isascii() or "".join(chunks).isalpha():
        return chunks
    return _WORD.findall(part)


# spelled \d\d* rather than \d+: a pattern that starts with a plain character class
# lets the regex engine skip the other characters in C
_NUMBER = re.compile(r"\d\d*(?:[.,\u00a0\u202f]\d+|[ ]\d{3}(?!\d))*%?")
# a word at the start of the text or after . ! ? : ; or a line break (quotes, brackets,
# dashes and spaces in between): capitalised there by grammar, not because it is a name.
# Two patterns, not one with (?:^|[.!?\n:;]): the second starts with a plain class the
# regex engine skips to in C, instead of trying the alternation at every character
_LEADING = r"[ \t\u00a0\"'“”«»(–—-]*([^\W\d_]+)"
_SENTENCE_HEAD = re.compile(r"[.!?\n:;]" + _LEADING)
_TEXT_HEAD = re.compile(_LEADING)


def _sentence_heads(part: str) -> Counter:
    """How often each spelling starts the text or a sentence of ``part``."""
    heads = Counter(_SENTENCE_HEAD.findall(part))
    first = _TEXT_HEAD.match(part)
    if first is not None:
        heads[first.group(1)] += 1
    return heads


_CONTEXT = 64  # characters searched for the tokens next to a number


_RAW: dict[str, tuple[str | None, int, int]] = {}  # spelling -> _raw_info (bounded below)
_RAW_MAX = 400_000


def _raw_info(raw: str) -> tuple[str | None, int, int]:
    """``(feature or None, 1 if a concept else 0, case)`` of one spelling of a word;
    ``case`` is 1 for a capitalised content word, -1 for a lowercase one, else 0."""
    norm = fold_token(raw)
    feature = _word_feature(norm) if norm else None
    is_concept = int(feature is not None and feature[0] == "c")
    case = 0
    if feature is not None and not is_concept:
        case = 1 if raw[0].isupper() else -1 if raw[0].islower() else 0
    if len(_RAW) >= _RAW_MAX:
        _RAW.clear()
    info = _RAW[raw] = (feature, is_concept, case)
    return info


def _add_numbers(part: str, repeat: float, counts: dict[str, float], params: StoryParams) -> None:
    """Numbers (``n:``), years (``y:``) and dates (``d:``) of one part of the article."""
    for m in _NUMBER.finditer(part):
        raw = m.group()
        value = _parse_number(raw)
        if value is None:
            continue
        # the first two tokens of the next _CONTEXT characters, found one by one
        after = []
        end = m.end()
        stop = end + _CONTEXT
        for _ in range(2):
            token = _TOKEN.search(part, end, stop)
            if token is None:
                break
            after.append(fold_token(token.group()))
            end = token.end()
        before = _TOKEN.findall(part, max(0, m.start() - _CONTEXT), m.start())
        near = [before and fold_token(before[-1]) or "", raw, *after]  # tokens i-1, i, i+1, i+2
        nxt = after[0] if after else ""
        scale = _scale(nxt) if nxt and not nxt[0].isdigit() else None
        if scale is not None:
            value *= scale  # type: ignore[operator]
        date = _date_near(near, 1, value)
        if date:
            _add(counts, date, repeat * params.date_weight)
        elif scale is None and value == int(value) and 1800 <= value <= 2100 and "%" not in raw:
            _add(counts, f"y:{int(value)}", repeat * params.year_weight)
        else:
            percent = "%" in raw or (bool(nxt) and _percent(nxt))
            if value >= 13 or value != int(value) or scale is not None or percent:
                _add(counts, "n:" + _fmt_number(value) + ("%" if percent else ""), repeat * params.number_weight)


@lru_cache(maxsize=200_000)
def _word_feature(norm: str) -> str | None:
    """``c:<concept>`` for a lexicon term, ``w:<key>`` for another content word,
    None for function words, month and scale names and very short words."""
    if norm in _STOPWORDS:
        return None
    concept = _lookup(norm, *_CONCEPTS)
    if concept is not None:
        return f"c:{concept}"
    if _lookup(norm, *_MONTH_LEX) is not None or _lookup(norm, *_SCALE_LEX) is not None:
        return None
    key = word_key(norm)
    if len(key) < 4 or len(norm) < 4:
        return None
    return "w:" + key


def _add(counts: dict[str, float], feature: str, weight: float) -> None:
    counts[feature] = counts.get(feature, 0.0) + weight


def _date_near(norms: list[str], i: int, value: float) -> str | None:
    """``d:<month>-<day>`` when the number at ``i`` is a day written next to a month name."""
    if value != int(value) or not 1 <= value <= 31:
        return None
    for j in (i + 1, i + 2, i - 1):
        if 0 <= j < len(norms) and norms[j] and not norms[j][0].isdigit():
            if j == i + 2 and norms[i + 1] not in ("de", "of", "."):
                continue
            month = _month(norms[j])
            if month is not None:
                return f"d:{month}-{int(value)}"
    return None


def article_features(article: Mapping, params: StoryParams = StoryParams()) -> FeaturesPayload:
    """:func:`story_features` of an article, as the shuffle carries them
    (``features_payload(story_features(article))``, without the pairs in between)."""
    counts = _feature_counts(article, params)
    names = sorted(counts)
    weights = np.fromiter(map(counts.__getitem__, names), dtype="<f8", count=len(names))
    return (str(article["id"]), article.get("published_at") or "", "\0".join(names), weights.tobytes(),
            _language(article))

