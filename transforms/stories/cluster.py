"""Story clustering: articles about the same event share one ``story_id``.

A story is an *event*: different write-ups of it (other outlets, other languages,
machine translations) belong together, while similar events (two earthquakes,
two successive sanctions packages) stay apart. Everything runs offline.

Layers, all pure functions (the Beam composite :class:`AssignStories` only wires them):

1. **Representation** (:func:`story_features`): a bag of language-neutral features
   taken from the title (counted twice) and the lead of the text:

   - ``w:<key>`` words. Every word is reduced to a *phonetic key*: Cyrillic is
     transliterated (Ukrainian and Russian rules, :func:`transliterate`), accents
     are dropped and spelling variants folded (``y/j -> i``, ``w -> v``, ``kh -> h``,
     doubled letters, a final vowel...) so ``Зеленський``, ``Зеленского`` and
     ``Zelenskyy`` all become ``zelensk``. Function words of the 9 languages are dropped.
     A word written capitalised inside a sentence (a name) weighs ``entity_weight``.
   - ``c:<concept>`` key news terms and country names from a small lexicon of the
     9 languages (en fr de es it pl uk ru nl), in ``configs/story_lexicon.yaml``: ``séisme``, ``Erdbeben`` and
     ``землетрус`` are all ``c:earthquake``.
   - ``n:<value>`` numbers normalised across separators and scale words
     (``1,5 Milliarden`` = ``1.5 billion`` = ``n:1.5e9``); small counts (< 13) are
     ignored, years are ``y:<year>``.
   - ``d:<month>-<day>`` calendar dates in any of the languages (``15 mars``, ``March 15``).

2. **Similarity** (:func:`similarity`): cosine of the two feature vectors weighted
   by ``(1 + log tf) * idf * type weight``, with idf from the document frequencies
   of the batch (smoothed, ``log((N + 1) / (df + 1)) + 1``), multiplied by a time
   decay ``0.5 ** (max(0, |dt| - grace) / half_life)`` on the ``published_at``
   distance; no decay when either date is missing.

3. **Candidates** (:func:`block_keys`, :func:`score_block`): articles are compared
   only when they share a *rare* feature: each article offers its
   ``block_keys_per_article`` most specific features with ``2 <= df <= max_block_size``.
   Inside a block the members are put in time order (undated ones last, in an order
   given by a hash of the id, which says nothing about content or source) and each is
   compared only with the next ``window`` members that are at most
   :func:`max_gap_hours` later (beyond that even identical articles decay below
   ``edge_floor``: an exact cut). A pair is scored only in the *tightest* block the
   two share (smallest df, then key), so at most once over all blocks. Cost per
   article is therefore at most ``block_keys_per_article * window`` comparisons,
   whatever the number of articles: linear in the input.

4. **Grouping** (:func:`cluster_edges`): sparse average-link agglomeration over the
   scored edges: two groups merge only when the *mean* similarity over all their
   cross pairs (unscored pairs count 0) reaches ``threshold``. One strong link can
   no longer chain two unrelated events through a shared bridge article.
   Since a mean never exceeds its largest term, groups only form inside connected
   components of the edges scoring at least ``threshold``; every other edge is
   dropped first (exact), which keeps the agglomeration near-linear.
   The story's id is ``story_id_for`` its earliest member (earliest
   ``published_at``, undated last, then smallest id), so it is deterministic.

Cost (10,000 articles of ``python -m bench.generate``, CPU time per article).
``window`` was chosen on ECB+ dev only: dev F1 is flat from 8 to 20 (0.922-0.924)
and falls below (0.885 at 5); 12 keeps a margin for undated articles, whose order
in a block is arbitrary:

============================  ==========  ==========  ==========
step                          first       then        now (20,000 articles)
============================  ==========  ==========  ==========
story_features                0.60 ms     0.47 ms     0.40 ms (words counted in bulk)
vectorize + block keys        0.16 ms     0.14 ms     0.10 ms (:func:`block_features`, numpy)
scoring                       3.22 ms     0.99 ms     0.13 ms (a block's window pairs at once)
cluster_edges                 0.57 ms     0.36 ms     0.05 ms (nodes as int ranks)
============================  ==========  ==========  ==========

"then" -> "now" changed no edge (scores identical before float16 weights) and
no story of the 20,000 articles. Later, with the same edges and stories: block
scoring shrinks its candidate positions as the shift grows and leaves only the
pairs that can reach ``edge_floor`` to Python (5.0 -> 3.8 s on the blocks of a
30,000-article bench sample), and the grouping re-queues a stale heap entry
instead of pushing every neighbour after each merge, with its components found
on arrays (7.0 -> 5.5 s on the 660k edges of the 100,000-article bench run).

A comparison is a cosine over all ~225 features; truncating vectors to their
heaviest features was measured and rejected (ECB+ test F1 0.90 -> 0.86 at 96
features), as were fewer block keys (0.88 at 8) and shorter text (0.87 at 2,000
characters).

What blocks hold (:class:`Member`, also in :func:`story_roots`) is compact: features
as sorted 32-bit hashes and float16 weights in two ``bytes`` (features of no other
article left out), block keys as 64-bit hashes, so each of an article's up to 12
copies through the shuffle is ~1.4 KB encoded instead of ~26 KB as a dict of feature
strings (it was ~2.8 KB with 64-bit hashes and float32 weights; halving it changed
no ECB+ or multilingual score, moved bench scores by at most 1.2e-4 and the story of
3 of 20,000 bench articles). A comparison is a
binary search of one hash array in the other and a float64 dot product: ~7.6 us
against ~13.8 us for the dict (random pairs of generated articles); scores agree
with the float64 dict cosine to 1e-6 (ECB+ and the multilingual set unchanged).
20,000 generated articles (``python -m bench.run --articles 20000 --shards 8``):
peak memory 3.8 -> 3.1 GB and CPU 113 -> 100 s with 2 worker processes, 2.3 ->
1.8 GB and 89 -> 85 s in one process (with one block key per article: 1.1 GB; the
rest is the 12 copies, ~36 KB an article).

Exact and near duplicates are not clustered themselves: they take the story of
the original they copy (``dedup.duplicate_of``).

Counters (namespace ``newsbeam.stories``): ``edges`` (scored pairs kept),
``unblocked_articles`` (no feature rare enough to pair by: the article stays a
story of its own), ``clustered_articles`` (articles in a story of two or more).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import re
import unicodedata
from array import array
from bisect import bisect_left
from collections import Counter
from datetime import datetime
from functools import lru_cache
from itertools import compress as _compress
from itertools import repeat as _repeat
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

import apache_beam as beam
import numpy as np
import xxhash
from apache_beam.metrics import Metrics

from transforms.common.stage import STAGE_BATCH, MapInRuns, Memo, namespace
from transforms.dedup.exact import is_original
from transforms.stories.lexicon import lexicon
from transforms.stories.records import story_id_for

# --------------------------------------------------------------------------- parameters


@dataclasses.dataclass(frozen=True)
class StoryParams:
    """Story clustering settings (section ``stories`` of the job config)."""

    threshold: float = 0.20  # mean cross-pair similarity needed to merge two groups
    edge_floor: float = 0.08  # pairs scoring below this are not kept as edges
    half_life_hours: float = 72.0  # time decay half-life of the similarity
    grace_hours: float = 24.0  # no decay within this distance
    max_block_size: int = 300  # features shared by more articles are not blocking keys
    block_keys_per_article: int = 12  # the most specific features an article is blocked by
    window: int = 12  # in a block, each article is compared with the next this many in time order
    max_chars: int = 4000  # text read per article (the lead carries the event)
    entity_weight: float = 2.0
    concept_weight: float = 1.0
    number_weight: float = 1.5
    date_weight: float = 1.5
    year_weight: float = 0.3
    word_weight: float = 1.0
    title_repeat: int = 2  # the title counts this many times


# --------------------------------------------------------------------------- transliteration

_UK_ONLY = lexicon().ukrainian_letters
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def _table(mapping: dict[str, str]) -> dict[int, str]:
    table = {}
    for k, v in mapping.items():
        table[ord(k)] = v
        if k.upper() != k:
            table[ord(k.upper())] = v[:1].upper() + v[1:] if v else ""
    return table


_TABLE_UK = _table(lexicon().cyrillic_uk)
_TABLE_RU = _table(lexicon().cyrillic_ru)


def transliterate(text: str, language: str | None = None) -> str:
    """Cyrillic (Ukrainian or Russian rules) to Latin, case kept; other scripts untouched.

    ``language`` picks the rules (``uk``: г -> h, и -> y; otherwise Russian);
    unknown languages are Ukrainian when the text has і/ї/є/ґ.
    """
    if not _CYRILLIC.search(text):
        return text
    if language not in ("uk", "ru"):
        language = "uk" if any(ch in _UK_ONLY for ch in text.lower()) else "ru"
    return text.translate(_TABLE_UK if language == "uk" else _TABLE_RU)


_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ı": "i"})
_SKELETON_RULES = (
    ("shch", "s"), ("sch", "s"), ("sh", "s"), ("ch", "8"), ("kh", "h"), ("zh", "z"), ("ph", "f"),
    ("ck", "k"), ("dh", "d"), ("tz", "s"), ("ts", "s"), ("q", "k"), ("x", "ks"), ("c", "k"), ("8", "c"),
    ("w", "v"), ("y", "i"), ("j", "i"), ("z", "s"),
)
_DOUBLE = re.compile(r"(.)\1+")
KEY_CHARS = 7


@lru_cache(maxsize=200_000)
def word_key(word: str) -> str:
    """The phonetic key of one (already transliterated) word: lowercase ASCII,
    spelling variants folded, at most ``KEY_CHARS`` letters."""
    w = unicodedata.normalize("NFKD", word.lower().translate(_FOLD))
    w = "".join(ch for ch in w if "a" <= ch <= "z")
    for old, new in _SKELETON_RULES:
        if old in w:
            w = w.replace(old, new)
    w = _DOUBLE.sub(r"\1", w)
    if len(w) > 4:
        w = w.rstrip("aeiouh") or w
    return w[:KEY_CHARS]


# The concept lexicon, month names, scale and percent words and stopwords are data:
# configs/story_lexicon.yaml (transforms/stories/lexicon.py reads and checks it).

# ------------------------------------------------------------------- lexicon compilation


def _compile(entries: Mapping[object, Iterable[str]]) -> tuple[dict[str, object], dict[str, object], int]:
    exact: dict[str, object] = {}
    prefix: dict[str, object] = {}
    for concept, words in entries.items():
        for word in words:
            is_prefix = word.endswith("*")
            norm = _norm_token(word.rstrip("*"))
            if not norm:
                continue
            (prefix if is_prefix and len(norm) >= 3 else exact).setdefault(norm, concept)
    longest = max((len(k) for k in prefix), default=0)
    return exact, prefix, longest


def _norm_token(token: str) -> str:
    """Lowercase, transliterated, accent-free spelling of a token (before the key)."""
    return _fold_token(transliterate(token))


@lru_cache(maxsize=200_000)
def _fold_token(token: str) -> str:
    """Lowercase, accent-free spelling of an already transliterated token."""
    t = unicodedata.normalize("NFKD", token.lower().translate(_FOLD))
    return "".join(ch for ch in t if ch.isalnum() or ch in "-.")


def _lookup(token: str, exact: dict, prefix: dict, longest: int) -> object | None:
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
_STOPWORDS = frozenset(_norm_token(w) for w in lexicon().stopwords)

# --------------------------------------------------------------------------- features

_TOKEN = re.compile(r"\d+(?:[.,\u00a0\u202f]\d+|[ ]\d{3}(?!\d))*%?|[^\W\d_]+")
_SENTENCE_END = set(".!?\n:;\"“”«»")


class StoryFeatures(NamedTuple):
    """An article as story clustering sees it."""

    id: str
    published_at: str  # "" when unknown
    counts: tuple[tuple[str, float], ...]  # (feature, weighted count), sorted by feature


FeaturesPayload = tuple  # (id, published_at, names joined by NUL, counts as little-endian float64 bytes)
# [, True] for an article remembered from an earlier run (an original by construction)


def features_payload(features: StoryFeatures) -> FeaturesPayload:
    """What the shuffle carries of a :class:`StoryFeatures`: str and bytes only, so
    Beam's default coder writes it without pickling (~12 us and ~3 KB a round trip
    instead of ~115 us and ~5 KB for the named tuple of ~225 pairs). Feature names
    are letters, digits and ``:.-e+`` only, never NUL."""
    names = "\0".join(f for f, _ in features.counts)
    counts = np.fromiter((c for _, c in features.counts), dtype="<f8", count=len(features.counts))
    return features.id, features.published_at, names, counts.tobytes()


def features_of(payload: FeaturesPayload) -> StoryFeatures:
    article_id, published_at, names, counts = payload[:4]
    if not names:
        return StoryFeatures(article_id, published_at, ())
    return StoryFeatures(article_id, published_at, tuple(zip(names.split("\0"), np.frombuffer(counts, "<f8").tolist())))


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
        str(article["id"]), article.get("published_at") or "", tuple([(f, counts[f]) for f in sorted(counts)])
    )


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
        for raw, n in Counter(_WORD.findall(part)).items():
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
            counts[feature] *= params.entity_weight
    return counts


_WORD = re.compile(r"[^\W\d_]+")
# spelled \d\d* rather than \d+: a pattern that starts with a plain character class
# lets the regex engine skip the other characters in C (twice as fast on a 4 KB text)
_NUMBER = re.compile(r"\d\d*(?:[.,\u00a0\u202f]\d+|[ ]\d{3}(?!\d))*%?")
# a word at the start of the text or after . ! ? : ; or a line break (quotes, brackets,
# dashes and spaces in between): capitalised there by grammar, not because it is a name.
# Two patterns, not one with (?:^|[.!?\n:;]): the second starts with a plain class the
# regex engine skips to in C, 3x faster than trying the alternation at every character
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
    norm = _fold_token(raw)
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
            after.append(_fold_token(token.group()))
            end = token.end()
        before = _TOKEN.findall(part, max(0, m.start() - _CONTEXT), m.start())
        near = [before and _fold_token(before[-1]) or "", raw, *after]  # tokens i-1, i, i+1, i+2
        nxt = after[0] if after else ""
        scale = _lookup(nxt, *_SCALE_LEX) if nxt and not nxt[0].isdigit() else None
        if scale is not None:
            value *= scale  # type: ignore[operator]
        date = _date_near(near, 1, value)
        if date:
            _add(counts, date, repeat * params.date_weight)
        elif scale is None and value == int(value) and 1800 <= value <= 2100 and "%" not in raw:
            _add(counts, f"y:{int(value)}", repeat * params.year_weight)
        else:
            percent = "%" in raw or (bool(nxt) and _lookup(nxt, *_PERCENT_LEX) is not None)
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
            month = _lookup(norms[j], *_MONTH_LEX)
            if month is not None:
                return f"d:{month}-{int(value)}"
    return None


# --------------------------------------------------------------------------- similarity


def idf(df: int, n_docs: int) -> float:
    """Smoothed inverse document frequency."""
    return math.log((n_docs + 1) / (df + 1)) + 1.0


class Vector(NamedTuple):
    """A unit-length weighted feature vector of one article."""

    id: str
    published_at: str
    weights: dict[str, float]


def vectorize(features: StoryFeatures, df: Mapping[str, int], n_docs: int) -> Vector:
    """``(1 + log count) * idf`` per feature, normalised to unit length.
    Features absent from ``df`` have document frequency 1."""
    weights = {}
    log = math.log
    top = log(n_docs + 1) + 1.0  # idf(df) = top - log(df + 1)
    get = df.get
    for feature, count in features.counts:
        if count > 0:
            tf = 1.0 + log(count) if count >= 1 else count  # sublinear; sub-unit weights (years) kept as is
            weights[feature] = tf * (top - log(get(feature, 1) + 1))
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return Vector(features.id, features.published_at, {f: w / norm for f, w in weights.items()})


@lru_cache(maxsize=100_000)
def _hours(iso: str) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() / 3600.0
    except ValueError:
        return None


def time_decay(a: str, b: str, params: StoryParams = StoryParams()) -> float:
    """``0.5 ** (max(0, |dt| - grace) / half_life)``; 1.0 when a date is missing."""
    ha, hb = _hours(a), _hours(b)
    if ha is None or hb is None:
        return 1.0
    excess = max(0.0, abs(ha - hb) - params.grace_hours)
    return 0.5 ** (excess / params.half_life_hours)


class CompactVector(NamedTuple):
    """A :class:`Vector` as blocks hold it (and as it travels through the shuffle):
    ``hashes`` are the features' :func:`vector_hash` (little-endian uint32, sorted),
    ``weights`` their unit-normalised weights (little-endian float16, same order).
    6 bytes a feature and only plain ``str``/``bytes`` fields, so Beam's default
    coder writes it without pickling, instead of a dict of ~225 strings; every
    article travels in up to ``block_keys_per_article`` copies, so this is most of
    what the runner holds while blocks are grouped. float16 keeps 11 significant
    bits: a score moves by at most ~1e-3 (measured on ECB+ and the bench articles,
    see :func:`score_block`); a 32-bit hash collision between two different features
    of a compared pair has odds ~1e-5 per pair and adds one spurious product."""

    id: str
    published_at: str
    hashes: bytes
    weights: bytes


_HASH_DTYPE = np.dtype("<u8")  # block keys
_VECTOR_HASH_DTYPE = np.dtype("<u4")  # features in a CompactVector
_WEIGHT_DTYPE = np.dtype("<f2")


@lru_cache(maxsize=500_000)
def feature_hash(feature: str) -> int:
    """The 64-bit hash a feature is known by in a :class:`CompactVector` (xxh3, seed 0:
    the same in every process and run)."""
    return xxhash.xxh3_64_intdigest(feature.encode("utf-8"))


def vector_hash(feature: str) -> int:
    """The 32-bit hash a feature is known by inside a :class:`CompactVector` (the low
    half of :func:`feature_hash`)."""
    return feature_hash(feature) & 0xFFFFFFFF


_VECTOR_HASHES = Memo(vector_hash, 1_000_000)  # feature -> vector_hash, for an article's features in one map()


def compact(vector: Vector, df: Mapping[str, int] | None = None) -> CompactVector:
    """The vector's features as sorted 32-bit hashes and float16 weights.

    With ``df``, features of no other article (``df < 2``) are left out: they add
    nothing to any dot product (the weights stay normalised over all features).
    Two features of one article with the same hash (odds ~1e-15 per article) are
    summed, so the hashes stay unique."""
    items = vector.weights.items()
    if df is not None:
        items = [(f, w) for f, w in items if df.get(f, 1) >= 2]
    else:
        items = list(items)
    hashes = np.fromiter((vector_hash(f) for f, _ in items), dtype=_VECTOR_HASH_DTYPE, count=len(items))
    weights = np.fromiter((w for _, w in items), dtype=np.float64, count=len(items))
    order = np.argsort(hashes, kind="stable")
    hashes, weights = hashes[order], weights[order]
    if len(hashes) > 1 and not np.all(hashes[1:] != hashes[:-1]):
        hashes, first = np.unique(hashes, return_index=True)
        weights = np.add.reduceat(weights, first)
    return CompactVector(vector.id, vector.published_at, hashes.tobytes(), weights.astype(_WEIGHT_DTYPE).tobytes())


_END = np.iinfo(np.uint32).max


def _arrays(vector: CompactVector) -> tuple[np.ndarray, np.ndarray]:
    """Sorted hashes (uint64) and their weights widened to float64, both ending in a
    sentinel (the largest hash, weight 0) so that a lookup never runs off the end."""
    n = len(vector.hashes) // _VECTOR_HASH_DTYPE.itemsize
    hashes = np.empty(n + 1, dtype=np.uint32)
    hashes[:n] = np.frombuffer(vector.hashes, dtype=_VECTOR_HASH_DTYPE)
    hashes[n] = _END
    weights = np.zeros(n + 1, dtype=np.float64)
    weights[:n] = np.frombuffer(vector.weights, dtype=_WEIGHT_DTYPE)
    return hashes, weights


def _cosine(ha: np.ndarray, wa: np.ndarray, hb: np.ndarray, wb: np.ndarray) -> float:
    """Dot product (float64) of two sparse vectors given as :func:`_arrays`: the
    shorter one's hashes are looked up in the longer one's (binary search)."""
    if len(ha) > len(hb):
        ha, wa, hb, wb = hb, wb, ha, wa
    at = hb.searchsorted(ha)
    hit = hb[at] == ha
    return float(np.dot(wa[hit], wb[at[hit]]))


def similarity(a: Vector | CompactVector, b: Vector | CompactVector, params: StoryParams = StoryParams()) -> float:
    """Cosine of the two vectors times the time decay; symmetric, in [0, 1].
    Computed on the compact form, as :func:`score_block` does."""
    ca = a if isinstance(a, CompactVector) else compact(a)
    cb = b if isinstance(b, CompactVector) else compact(b)
    cosine = _cosine(*_arrays(ca), *_arrays(cb))
    return min(1.0, cosine) * time_decay(a.published_at, b.published_at, params)


def max_gap_hours(params: StoryParams = StoryParams()) -> float:
    """The ``published_at`` distance beyond which even identical articles score
    below ``edge_floor``: pairs further apart are never compared."""
    return params.grace_hours + params.half_life_hours * math.log2(1.0 / params.edge_floor)


# --------------------------------------------------------------------------- candidates

_BLOCKABLE = ("w:", "n:", "d:", "c:")


def block_keys(vector: Vector, df: Mapping[str, int], params: StoryParams = StoryParams()) -> list[str]:
    """The article's most specific shared features (``2 <= df <= max_block_size``):
    the keys under which it meets its candidates."""
    usable = [
        (-w, f) for f, w in vector.weights.items()
        if f.startswith(_BLOCKABLE) and 2 <= df.get(f, 1) <= params.max_block_size
    ]
    usable.sort()
    return sorted(f for _, f in usable[: params.block_keys_per_article])


class Member(NamedTuple):
    """What a block holds of one article: its compact vector and the
    :func:`feature_hash` of its block keys (little-endian uint64 bytes), tightest
    first (smallest df, then key): a pair is scored only in the tightest block the
    two share, where they are most likely neighbours. Both members list the keys
    they share in the same order (df is global), so the first of one's keys that
    the other has is that block.
    ``prior`` marks an article remembered from an earlier run (``--state``): pairs of
    two remembered articles were settled by that run and are not scored again.

    :func:`member_payload` is what the runner carries of it (str, bytes and bool
    only, so Beam's default coder writes it without pickling and the runner holds
    a few bytes objects, not ~225 strings); :func:`member_of` reads it back. Blocks
    themselves hold only :func:`member_ref` strings (see :class:`FindStories`)."""

    vector: CompactVector
    keys: bytes
    prior: bool = False


def blocked(
    vector: Vector, df: Mapping[str, int], params: StoryParams = StoryParams(), prior: bool = False
) -> tuple[tuple[str, ...], Member]:
    """The article's block keys, tightest first, and what each of those blocks holds of it."""
    keys = tuple(k for _, k in sorted((df.get(k, 1), k) for k in block_keys(vector, df, params)))
    hashes = np.fromiter((feature_hash(k) for k in keys), dtype=_HASH_DTYPE, count=len(keys))
    return keys, Member(compact(vector, df), hashes.tobytes(), prior)


def block_features(
    features: StoryFeatures, df: Mapping[str, int], n_docs: int, params: StoryParams = StoryParams(),
    prior: bool = False,
) -> tuple[tuple[str, ...], Member]:
    """``blocked(vectorize(features, df, n_docs), df, params, prior)`` in bulk: the
    weights, the kept features and the block keys are worked out with numpy over
    all features at once (the features come sorted, so each blockable prefix is one
    contiguous range of them). Same keys and member (weights to float rounding)."""
    counts = features.counts
    if counts:
        names, raw = zip(*counts)
        found = _block_arrays(features.id, features.published_at, names, np.array(raw, dtype=np.float64), df,
                              n_docs, params, prior)
        if found is not None:
            return found
    return blocked(vectorize(features, df, n_docs), df, params, prior)


def block_payload(
    payload: FeaturesPayload, df: Mapping[str, int], n_docs: int, params: StoryParams = StoryParams(),
    prior: bool = False,
) -> tuple[tuple[str, ...], Member]:
    """``block_features(features_of(payload), ...)`` straight from the payload's
    names and counts, without building the ``(feature, count)`` pairs."""
    if payload[2]:
        found = _block_arrays(payload[0], payload[1], payload[2].split("\0"), np.frombuffer(payload[3], "<f8"), df,
                              n_docs, params, prior)
        if found is not None:
            return found
    return block_features(features_of(payload), df, n_docs, params, prior)


def _block_arrays(
    article_id: str, published_at: str, names: Sequence[str], count: np.ndarray, df: Mapping[str, int],
    n_docs: int, params: StoryParams, prior: bool,
) -> tuple[tuple[str, ...], Member] | None:
    """:func:`block_features` on the sorted feature names and their counts; None
    when some count is not positive (:func:`blocked` handles those)."""
    if not (count > 0).all():  # features with no weight are not part of the vector at all
        return None
    freq = np.array(list(map(df.get, names, _repeat(1))), dtype=np.float64)
    tf = np.where(count >= 1, 1.0 + np.log(np.maximum(count, 1.0)), count)  # sublinear; sub-unit weights kept
    weight = tf * ((math.log(n_docs + 1) + 1.0) - np.log(freq + 1.0))
    norm = math.sqrt(float(np.dot(weight, weight))) or 1.0
    weight = weight / norm
    usable = np.zeros(len(names), dtype=bool)
    for prefix in _BLOCKABLE:  # sorted names: a prefix is one contiguous range
        usable[bisect_left(names, prefix) : bisect_left(names, prefix[0] + ";")] = True
    usable &= (freq >= 2) & (freq <= params.max_block_size)
    candidates = np.flatnonzero(usable)
    limit = params.block_keys_per_article
    if len(candidates) > limit:
        cut = np.sort(weight[candidates])[-limit]
        above = candidates[weight[candidates] > cut]
        tied = sorted(names[i] for i in candidates[weight[candidates] == cut])
        chosen = [names[i] for i in above] + tied[: limit - len(above)]
    else:
        chosen = [names[i] for i in candidates]
    keys = tuple(k for _, k in sorted((df.get(k, 1), k) for k in chosen))
    key_hashes = np.fromiter((feature_hash(k) for k in keys), dtype=_HASH_DTYPE, count=len(keys))
    kept = freq >= 2  # features of no other article add nothing to any dot product
    count_kept = int(np.count_nonzero(kept))
    hashes = np.fromiter(
        map(_VECTOR_HASHES.__getitem__, _compress(names, kept.tolist())), dtype=_VECTOR_HASH_DTYPE, count=count_kept
    )
    weight = weight[kept]
    order = np.argsort(hashes, kind="stable")
    hashes, weight = hashes[order], weight[order]
    if len(hashes) > 1 and not np.all(hashes[1:] != hashes[:-1]):
        hashes, first = np.unique(hashes, return_index=True)
        weight = np.add.reduceat(weight, first)
    vector = CompactVector(article_id, published_at, hashes.tobytes(), weight.astype(_WEIGHT_DTYPE).tobytes())
    return keys, Member(vector, key_hashes.tobytes(), prior)


def member_payload(member: Member) -> tuple:
    """``(id, published_at, hashes, weights, keys, prior)``: str, bytes and bool only."""
    return (*member.vector, member.keys, member.prior)


def member_of(payload: tuple) -> Member:
    article_id, published_at, hashes, weights, keys, prior = payload
    return Member(CompactVector(article_id, published_at, hashes, weights), keys, prior)


def member_ref(article_id: str, prior: bool = False) -> str:
    """How a block names a member: its article id, marked when it was remembered
    from an earlier run (the same id can be a remembered and a new article)."""
    return article_id + "\0prior" if prior else article_id


class Node(NamedTuple):
    """An article's place in story order: earliest first, undated last, then id."""

    published_at: str
    id: str


_NO_DATE = "9999-12-31T23:59:59Z"


def node_of(article_id: str, published_at: str | None) -> Node:
    return Node(published_at or _NO_DATE, article_id)


def _window_order(member: Member) -> tuple[int, float, int]:
    """Dated members by time; undated ones after them. Members with the same time
    (and the undated ones) follow an order that says nothing about their content or
    source, a hash of the id, never the order the shuffle delivered them in: which
    pairs share a window, and so the stories, must not change from run to run."""
    hours = _hours(member.vector.published_at)
    tie = xxhash.xxh64_intdigest(member.vector.id.encode("utf-8"))
    return (1, 0.0, tie) if hours is None else (0, hours, tie)


def score_block(key: str, members: Iterable[Member], params: StoryParams = StoryParams()) -> Iterator[
    tuple[Node, Node, float]
]:
    """Edges ``(earlier, later, similarity)`` scoring at least ``edge_floor`` among
    the members of one block, each compared only with the next ``window`` members in
    time order (undated last) that are at most :func:`max_gap_hours` later: at most
    ``window`` comparisons per member and block, however large the block.

    A pair is scored only in the tightest block its two articles share (see
    :class:`Member`), so it is scored at most once over all blocks.

    All window pairs of a block are scored at once: the members' (hash, weight)
    arrays are laid end to end and stably sorted by hash, so equal features of
    different members sit side by side, owners ascending; a member and its ``d``-th
    successor share a feature exactly where the sorted array equals itself shifted
    by ``d`` places (``d <= window``), and the products there summed per pair are
    the pair's dot product. A few numpy passes per block instead of one lookup per
    pair."""
    members = sorted(members, key=_window_order)
    if all(m.prior for m in members):
        return  # only remembered articles: their pairs were settled by an earlier run
    count = len(members)
    hours = [_hours(m.vector.published_at) for m in members]
    window, gap, floor = params.window, max_gap_hours(params), params.edge_floor
    grace, half_life = params.grace_hours, params.half_life_hours
    this = feature_hash(key)
    keys = [np.frombuffer(m.keys, dtype=_HASH_DTYPE).tolist() for m in members]
    key_sets = [set(k) for k in keys]
    # a pair belongs to this block when ``this`` is the first of the earlier member's
    # keys (tightest first) that the later one has too: none of the keys before it
    tighter = [k[: k.index(this)] if this in k_set else None for k, k_set in zip(keys, key_sets)]
    dots = _window_dots(members, window)
    # the window pairs (i, i + d) in loop order, cut where a dated pair is more than
    # ``gap`` apart (members are in time order: every later one is too, and the
    # undated ones after it are not compared either), then the pairs whose score
    # could reach ``floor`` (a hair of slack: the exact score is computed below)
    ii = np.repeat(np.arange(count), window)
    dd = np.tile(np.arange(1, window + 1), count)
    jj = ii + dd
    inside = jj < count
    ii, dd, jj = ii[inside], dd[inside], jj[inside]
    at = np.array([np.nan if h is None else h for h in hours], dtype=np.float64)
    dt = at[jj] - at[ii]  # NaN unless both are dated
    far = dt > gap
    if far.any():
        cut = np.full(count, count, dtype=np.int64)
        np.minimum.at(cut, ii[far], jj[far])
        near = jj < cut[ii]
        ii, dd, jj, dt = ii[near], dd[near], jj[near], dt[near]
    decays = np.where(dt > grace, 0.5 ** ((dt - grace) / half_life), 1.0)
    likely = np.minimum(1.0, dots[ii, dd]) * decays >= floor - 1e-9
    prior = np.fromiter((m.prior for m in members), dtype=bool, count=count)
    if prior.any():
        likely &= ~(prior[ii] & prior[jj])
    nodes: list[Node | None] = [None] * count
    for i, j, dot in zip(ii[likely].tolist(), jj[likely].tolist(), dots[ii[likely], dd[likely]].tolist()):
        ha, hb = hours[i], hours[j]
        decay = 1.0
        if ha is not None and hb is not None and hb - ha > grace:
            decay = 0.5 ** ((hb - ha - grace) / half_life)
        score = min(1.0, dot) * decay
        if score < floor:
            continue
        a, b, shared, before = members[i], members[j], key_sets[j], tighter[i]
        if before is None or this not in shared or not shared.isdisjoint(before) or a.vector.id == b.vector.id:
            continue
        na = nodes[i] or node_of(a.vector.id, a.vector.published_at)
        nb = nodes[j] or node_of(b.vector.id, b.vector.published_at)
        nodes[i], nodes[j] = na, nb
        yield (na, nb, round(score, 6)) if na < nb else (nb, na, round(score, 6))


def _window_dots(members: list[Member], window: int) -> np.ndarray:
    """``dots[i][d]``: the dot product of member ``i`` and member ``i + d``
    (``1 <= d <= window``; 0.0 past the end), see :func:`score_block`."""
    count = len(members)
    hashes = [np.frombuffer(m.vector.hashes, dtype=_VECTOR_HASH_DTYPE) for m in members]
    sizes = np.fromiter((len(h) for h in hashes), dtype=np.int64, count=count)
    flat = np.concatenate(hashes)
    order = np.argsort(flat, kind="stable")
    flat = flat[order]
    owner = np.repeat(np.arange(count, dtype=np.int64), sizes)[order]
    weight = np.concatenate([np.frombuffer(m.vector.weights, dtype=_WEIGHT_DTYPE) for m in members])
    weight = weight.astype(np.float64)[order]
    width = window + 1
    keys, products = [], []
    # entries with an equal hash d places on: a subset of those with one d - 1 places
    # on (runs are contiguous), and past ``window`` members in one place they are past
    # it in every later one (owners ascend along a run): the candidates only shrink
    cand = np.arange(len(flat) - 1, dtype=np.int64)
    for d in range(1, window + 1):
        if d > 1:
            cand = cand[cand < len(flat) - d]
        cand = cand[flat[cand + d] == flat[cand]]
        if not len(cand):
            break
        first = owner[cand]
        step = owner[cand + d] - first  # >= 1: a member's own hashes are distinct
        near = step <= window
        if not near.all():
            cand, first, step = cand[near], first[near], step[near]
        keys.append(first * width + step)
        products.append(weight[cand] * weight[cand + d])
    if not keys:
        return np.zeros((count, width))
    sums = np.bincount(np.concatenate(keys), weights=np.concatenate(products), minlength=count * width)
    return sums.reshape(count, width)


# --------------------------------------------------------------------------- grouping


def _relevant_links(
    a: np.ndarray, b: np.ndarray, score: np.ndarray, threshold: float, fixed: Mapping[str, str], ids: list[str]
) -> dict[int, dict[int, float]]:
    """The adjacency (best score per pair) of the only edges that can matter, from
    the edges as arrays (endpoints as node ranks, ``ids[rank]`` the article id).

    A merge needs a cross pair scoring at least ``threshold`` (a mean never exceeds
    its largest term), so groups only ever form inside the connected components of
    the strong edges (remembered stories count as joined); weaker edges matter only
    inside such a component. Everything else is dropped before the agglomeration,
    which keeps its cost near-linear in the edges that can change a result. All of
    it runs on arrays: only the kept pairs become Python dicts."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    loop = lo == hi
    if loop.any():
        lo, hi, score = lo[~loop], hi[~loop], score[~loop]
    # best score per pair: sorted by pair, best first, the first of each pair kept
    order = np.lexsort((-score, hi, lo))
    lo, hi, score = lo[order], hi[order], score[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    lo, hi, score = lo[first], hi[first], score[first]
    strong = score >= threshold
    join_a, join_b = [lo[strong]], [hi[strong]]
    if fixed:  # the members of one remembered story are joined (first one to each other)
        nodes = np.unique(np.concatenate([lo, hi]))
        first_of: dict[str, int] = {}
        pairs = [(first_of.setdefault(fixed[ids[n]], n), n) for n in nodes.tolist() if ids[n] in fixed]
        if pairs:
            join_a.append(np.array([x for x, _ in pairs], dtype=np.int64))
            join_b.append(np.array([y for _, y in pairs], dtype=np.int64))
    ja, jb = np.concatenate(join_a), np.concatenate(join_b)
    size = int(max(ja.max(initial=-1), jb.max(initial=-1), hi.max(initial=-1))) + 1
    root = _component_roots(ja, jb, size)
    touched = np.zeros(size, dtype=bool)
    touched[ja] = touched[jb] = True
    keep = touched[lo] & touched[hi] & (root[lo] == root[hi])
    lo, hi, score = lo[keep], hi[keep], score[keep]
    if not len(lo):
        return {}
    # both directions, grouped by node: one dict per node from its slice
    src = np.concatenate([lo, hi])
    dst = np.concatenate([hi, lo])
    both = np.concatenate([score, score])
    order = np.argsort(src, kind="stable")
    src, dst, both = src[order], dst[order].tolist(), both[order].tolist()
    starts = np.flatnonzero(np.concatenate([[True], src[1:] != src[:-1]])).tolist()
    bounds = starts + [len(dst)]
    return {
        node: dict(zip(dst[bounds[i] : bounds[i + 1]], both[bounds[i] : bounds[i + 1]]))
        for i, node in enumerate(src[starts].tolist())
    }


def _component_roots(a: np.ndarray, b: np.ndarray, size: int) -> np.ndarray:
    """For every node ``0 <= n < size``, the smallest node of its connected component
    in the graph of the edges ``a[i] - b[i]`` (a node on no edge is its own root):
    label propagation with pointer jumping, a few array passes per round."""
    root = np.arange(size, dtype=np.int64)
    while True:
        ra, rb = root[a], root[b]
        low = np.minimum(ra, rb)
        before = root.copy()
        np.minimum.at(root, ra, low)  # hook each edge's larger root onto the smaller one
        np.minimum.at(root, rb, low)
        while True:  # point every node at its root
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped
        if np.array_equal(root, before):
            return root


def cluster_edges(
    edges: Iterable[tuple[Node, Node, float]], threshold: float, fixed: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Sparse average-link agglomeration: ``{article_id: root_id}`` for every article
    in a group of two or more (root = earliest member).

    Two groups merge when the sum of their cross-edge scores divided by the number of
    cross pairs (``|A| * |B|``) is at least ``threshold``, best pair first. Ties are
    broken by node order, so the result does not depend on edge order.

    ``fixed`` (``{article_id: story root id}``) are articles remembered from earlier
    runs (``--state``): the members of one remembered story start as one group whose
    size counts all of them (also those without an edge here), two groups holding
    remembered stories never merge, and every member of a remembered story's group,
    and every fixed article, gets that story's root.
    """
    # nodes become their rank in node order: the same order (so the same ties), but
    # ints hash and compare several times faster than (published_at, id) tuples
    edges = list(edges)
    nodes = sorted({n for a, b, _ in edges for n in (a, b)})
    rank = {n: i for i, n in enumerate(nodes)}
    ids = [n[1] for n in nodes]  # Node or a plain (published_at, id) tuple
    a = np.fromiter((rank[e[0]] for e in edges), dtype=np.int64, count=len(edges))
    b = np.fromiter((rank[e[1]] for e in edges), dtype=np.int64, count=len(edges))
    score = np.fromiter((e[2] for e in edges), dtype=np.float64, count=len(edges))
    return _agglomerate(a, b, score, threshold, fixed or {}, ids)


class ScoredEdges:
    """Scored edges held compactly: each node once, as its key ``published_at NUL id``
    (keys sort like the ``(published_at, id)`` nodes: neither part holds a NUL),
    endpoints as int32 indexes into the keys, scores as float64 arrays. What the
    story grouping combine accumulates: ~1M edges at 100,000 articles are ~16 MB
    of arrays instead of ~450 MB of tuples to encode, ship and decode."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._index: dict[str, int] = {}
        self.a = array("i")
        self.b = array("i")
        self.scores = array("d")
        self.fixed: dict[str, str] = {}

    def _node(self, node: tuple) -> int:
        return self._key(node[0] + "\0" + node[1])

    def _key(self, key: str) -> int:
        at = self._index.get(key)
        if at is None:
            at = self._index[key] = len(self.keys)
            self.keys.append(key)
        return at

    def add(self, a: tuple, b: tuple, score: float) -> None:
        self.a.append(self._node(a))
        self.b.append(self._node(b))
        self.scores.append(score)

    def extend(self, other: "ScoredEdges") -> None:
        mapping = np.fromiter(map(self._key, other.keys), np.intc, len(other.keys))
        self.a.frombytes(mapping[np.frombuffer(other.a, np.intc)].tobytes())
        self.b.frombytes(mapping[np.frombuffer(other.b, np.intc)].tobytes())
        self.scores.extend(other.scores)
        self.fixed.update(other.fixed)

    def packed(self) -> tuple:
        """str, bytes and tuples only: Beam's default coder writes it without pickling."""
        return tuple(self.keys), self.a.tobytes(), self.b.tobytes(), self.scores.tobytes(), tuple(self.fixed.items())

    @classmethod
    def of(cls, value: "ScoredEdges | tuple") -> "ScoredEdges":
        if isinstance(value, ScoredEdges):
            return value
        keys, a, b, scores, fixed = value
        out = cls()
        out.keys = list(keys)
        out._index = {key: i for i, key in enumerate(out.keys)}
        out.a.frombytes(a)
        out.b.frombytes(b)
        out.scores.frombytes(scores)
        out.fixed = dict(fixed)
        return out

    def cluster(self, threshold: float, fixed: Mapping[str, str] | None = None) -> dict[str, str]:
        """:func:`cluster_edges` of these edges (``fixed`` added to those held)."""
        fixed = {**self.fixed, **(fixed or {})}
        order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        ids = [self.keys[i].split("\0", 1)[1] for i in order]
        a = rank[np.frombuffer(self.a, np.intc)]
        b = rank[np.frombuffer(self.b, np.intc)]
        return _agglomerate(a, b, np.frombuffer(self.scores, np.float64), threshold, fixed, ids)


def _components(link: Mapping[int, Mapping[int, float]]) -> Iterator[list[int]]:
    """The connected components of the graph ``link`` (node -> neighbours)."""
    seen: set[int] = set()
    for start in link:
        if start in seen:
            continue
        seen.add(start)
        component = [start]
        for node in component:  # grows while it is read: breadth first
            for other in link[node]:
                if other not in seen:
                    seen.add(other)
                    component.append(other)
        yield component


def _agglomerate(
    a: np.ndarray, b: np.ndarray, score: np.ndarray, threshold: float, fixed: Mapping[str, str], ids: list[str]
) -> dict[str, str]:
    """:func:`cluster_edges` of the edges ``(a[i], b[i], score[i])``, on nodes given as
    their rank in node order (``ids[rank]`` is the article id)."""
    link = _relevant_links(a, b, score, threshold, fixed, ids)
    size = {n: 1 for n in link}
    members = {n: [n] for n in link}
    label: dict[int, str] = {}
    alive = set(link)
    heappush = heapq.heappush

    def merge(keep: int, gone: int, heap: list | None = None) -> int:
        """Merge group ``gone`` into ``keep``; with ``heap``, push every pair of ``keep``
        with a neighbour of ``gone`` whose average reaches the threshold: only these
        gained cross pairs' scores and can have risen (every other pair of ``keep`` can
        only have fallen, and is corrected when its entry comes up). Returns how many
        neighbours ``gone`` had."""
        alive.discard(gone)
        members[keep].extend(members.pop(gone))
        keep_size = size[keep] = size[keep] + size.pop(gone)
        if gone in label:
            label[keep] = label.pop(gone)
        gone_links = link.pop(gone)
        gone_links.pop(keep, None)
        keep_links = link[keep]
        keep_links.pop(gone, None)
        for other, s in gone_links.items():
            other_links = link[other]
            del other_links[gone]
            total = keep_links[other] = other_links[keep] = keep_links.get(other, 0.0) + s
            if heap is not None:
                avg = total / (keep_size * size[other])
                if avg >= threshold:
                    heappush(heap, (-avg, keep, other) if keep < other else (-avg, other, keep))
        return len(gone_links)

    if fixed:
        remembered: dict[str, list[int]] = {}
        for node in sorted(link):
            if ids[node] in fixed:
                remembered.setdefault(fixed[ids[node]], []).append(node)
        story_sizes: dict[str, int] = {}
        for root in fixed.values():
            story_sizes[root] = story_sizes.get(root, 0) + 1
        for root, nodes in remembered.items():
            for gone in nodes[1:]:
                merge(nodes[0], gone)
            size[nodes[0]] = max(size[nodes[0]], story_sizes[root])
            label[nodes[0]] = root
    # groups never merge across connected components, so each component runs on its
    # own heap: the same merges in the same order, on heaps a few entries deep
    # instead of one holding every strong pair (~20 % faster)
    for component in list(_components(link)):  # listed before any merge changes link
        heap = []
        for a in component:
            for b, total in link[a].items():
                avg = total / (size[a] * size[b])
                if a < b and avg >= threshold:
                    heap.append((-avg, a, b))
        heapq.heapify(heap)
        dead = 0  # entries naming a group merged away since the last sweep (estimated: its pairs)
        while heap:
            if dead > len(heap) >> 1:
                # most entries are dead: dropping them in one pass and heapifying the rest
                # is cheaper than popping each through a deep heap (678,000 dead pops at
                # 100,000 articles). The live entries, so the merges, stay the same
                heap = [entry for entry in heap if entry[1] in alive and entry[2] in alive]
                heapq.heapify(heap)
                dead = 0
                continue
            neg, a, b = heapq.heappop(heap)
            if a not in alive or b not in alive:
                dead -= 1
                continue
            current = link[a].get(b, 0.0) / (size[a] * size[b])
            if current != -neg:
                # stale: the pair's average changed since it was pushed. A fall (one of
                # them grew) is only found here: the pair goes back with its current
                # average, still in best-first order (a rise was pushed when it happened)
                if current >= threshold:
                    heapq.heappush(heap, (-current, a, b))
                continue
            if a in label and b in label:
                continue  # two remembered stories stay apart
            keep, gone = (a, b) if a < b else (b, a)
            dead += merge(keep, gone, heap)
    out: dict[str, str] = {}
    for root, group in members.items():
        if root in label:
            for node in group:
                out[ids[node]] = label[root]
        elif len(group) > 1:
            first = min(group)
            for node in group:
                out[ids[node]] = ids[first]
    for article_id, root in fixed.items():
        out.setdefault(article_id, root)
    return out


def document_frequencies(features: Iterable[StoryFeatures]) -> tuple[dict[str, int], int]:
    df: dict[str, int] = {}
    n = 0
    for f in features:
        n += 1
        for feature, _ in f.counts:
            df[feature] = df.get(feature, 0) + 1
    return df, n


def story_roots(articles: Iterable[Mapping], params: StoryParams = StoryParams()) -> dict[str, str]:
    """In memory, the whole method: ``{article_id: story root id}`` for every article.

    Duplicates (``dedup.duplicate_of`` set) take their original's root. This is the
    plain twin of :class:`AssignStories` (same steps, same result).
    """
    articles = list(articles)
    originals = [a for a in articles if not (a.get("dedup") or {}).get("duplicate_of")]
    feats = [story_features(a, params) for a in originals]
    df, n = document_frequencies(feats)
    blocks: dict[str, list[Member]] = {}
    for f in feats:
        keys, member = block_features(f, df, n, params)
        for k in keys:
            blocks.setdefault(k, []).append(member)
    edges = [e for k in sorted(blocks) for e in score_block(k, blocks[k], params)]
    roots = cluster_edges(edges, params.threshold)
    out = {}
    for a in articles:
        rep = (a.get("dedup") or {}).get("duplicate_of") or a["id"]
        out[a["id"]] = roots.get(rep, rep)
    return out


def assign_story(article: dict, roots: Mapping[str, str]) -> dict:
    """A copy of ``article`` with ``story_id`` from the resolved roots (its own id, or
    its original's, when it is in no multi-article story)."""
    out = dict(article)
    rep = (article.get("dedup") or {}).get("duplicate_of") or article["id"]
    out["story_id"] = story_id_for(roots.get(rep, rep))
    return out


# --------------------------------------------------------------------------- Beam


class _CountFeatures(beam.CombineFn):
    """Document frequency of every feature (only those in >= 2 articles are kept) and N,
    over :func:`features_payload` tuples."""

    def create_accumulator(self) -> tuple[Counter, int]:
        return Counter(), 0

    def add_input(self, acc: tuple[Counter, int], payload: FeaturesPayload) -> tuple[Counter, int]:
        df, n = acc
        if payload[2]:
            df.update(payload[2].split("\0"))  # names are distinct within an article
        return df, n + 1

    def merge_accumulators(self, accs: Iterable[tuple[Counter, int]]) -> tuple[Counter, int]:
        total: Counter = Counter()
        n = 0
        for df, count in accs:
            n += count
            total.update(df)
        return total, n

    def extract_output(self, acc: tuple[Counter, int]) -> tuple[dict, int]:
        df, n = acc
        return {f: c for f, c in df.items() if c >= 2}, n


class _KeepOriginals(beam.DoFn):
    """Payloads of articles that copy no other (``duplicates``: the resolved
    ``{article id: (status, duplicate_of)}``) and of remembered articles."""

    def process(self, payload: FeaturesPayload, duplicates: dict) -> Iterator[FeaturesPayload]:
        if len(payload) > 4 or is_original(payload[0], duplicates):  # remembered, or no copy
            yield payload


class _VectorizeAndBlock(beam.DoFn):
    def __init__(self, params: StoryParams, prior: bool = False) -> None:
        self._params = params
        self._prior = prior
        self._unblocked = Metrics.counter(namespace("stories"), "unblocked_articles")

    def process(
        self, payload: FeaturesPayload, df_n: tuple[dict, int], duplicates: dict | None = None
    ) -> Iterator[tuple[str, str] | beam.pvalue.TaggedOutput]:
        if duplicates is not None and not is_original(payload[0], duplicates):
            return
        df, n = df_n
        keys, member = block_payload(payload, df, n, self._params, self._prior)
        if not keys:
            self._unblocked.inc()
            return  # in no block: nothing will look it up
        ref = member_ref(member.vector.id, self._prior)
        yield beam.pvalue.TaggedOutput(MEMBERS, (ref, member_payload(member)))
        for key in keys:
            yield key, ref


MEMBERS = "members"  # _VectorizeAndBlock's output of (member_ref, member_payload), once per blocked article


class _ScoreBlock(beam.DoFn):
    def __init__(self, params: StoryParams) -> None:
        self._params = params
        ns = namespace("stories")
        self._edges = Metrics.counter(ns, "edges")

    def process(self, keyed: tuple[str, Iterable[str]], members: Mapping[str, tuple]) -> Iterator[tuple]:
        key, refs = keyed
        block = [member_of(members[ref]) for ref in refs]
        for a, b, score in score_block(key, block, self._params):
            self._edges.inc()
            yield tuple(a), tuple(b), score


class _ClusterEdges(beam.CombineFn):
    """Scored edges (and ``(article id, None, story root)`` elements, which fix
    remembered articles to their story) -> :func:`cluster_edges`. Accumulates
    :class:`ScoredEdges`, which leave a worker :meth:`~ScoredEdges.packed`."""

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold

    def create_accumulator(self) -> ScoredEdges:
        return ScoredEdges()

    def add_input(self, acc: ScoredEdges, edge: tuple) -> ScoredEdges:
        a, b, score = edge
        if b is None:
            acc.fixed[a] = score
        else:
            acc.add(a, b, score)
        return acc

    def merge_accumulators(self, accs: Iterable[ScoredEdges | tuple]) -> ScoredEdges:
        merged = ScoredEdges()
        for acc in accs:
            merged.extend(ScoredEdges.of(acc))
        return merged

    def compact(self, acc: ScoredEdges | tuple) -> tuple:
        return ScoredEdges.of(acc).packed()

    def extract_output(self, acc: ScoredEdges | tuple) -> dict[str, str]:
        return ScoredEdges.of(acc).cluster(self._threshold)


class AssignStoryFn(beam.DoFn):
    """Sets ``story_id`` from the story roots (side input); counts clustered articles."""

    def __init__(self) -> None:
        self._clustered = Metrics.counter(namespace("stories"), "clustered_articles")

    def process(self, article: dict, roots: dict) -> Iterator[dict]:
        out = assign_story(article, roots)
        if (article.get("dedup") or {}).get("duplicate_of") or article["id"] in roots:
            self._clustered.inc()
        yield out


def _is_original(article: dict) -> bool:
    return not (article.get("dedup") or {}).get("duplicate_of")


class FindStories(beam.PTransform):
    """:func:`features_payload` of original articles -> one ``{article id: story root id}``
    (a singleton PCollection, for side inputs) for every article in a story of two or more.

    Document frequencies come from one combine (side input); articles meet their
    candidates under their rarest features (GroupByKey, blocks capped at
    ``max_block_size``); the scored edges are grouped by average-link in one combine
    over the edges (they are few).

    Blocks hold :func:`member_ref` strings only; each blocked article's
    :class:`Member` (~1.4 KB) travels once, in a ``{ref: member}`` side input
    (``AsDict``) that ScoreBlocks reads, instead of once per block key. Every worker
    of ScoreBlocks loads that map whole: ~140 MB for 100,000 articles a run, so
    ~1.4 GB at a million (worker memory, not the runner's shuffle, bounds a run).

    ``prior_features`` (:class:`StoryFeatures` of originals remembered from earlier
    runs) and ``prior_roots`` (``(article id, story root id)`` of the same) let new
    articles join remembered stories (see ``fixed`` in :func:`cluster_edges`).

    With ``duplicates`` (the resolved ``{article id: (status, duplicate_of)}`` as a
    side input), ``features`` may hold every article: duplicates are left out of
    the document frequencies and of the blocks, where they are read. Without it,
    the runner would have to hold a filtered copy of the features until the
    document frequencies are known.
    """

    def __init__(
        self,
        params: StoryParams | None = None,
        prior_features: beam.PCollection | None = None,
        prior_roots: beam.PCollection | None = None,
        duplicates: beam.pvalue.AsSingleton | None = None,
    ) -> None:
        super().__init__()
        self._params = params or StoryParams()
        self._prior_features = prior_features
        self._prior_roots = prior_roots
        self._duplicates = duplicates

    def expand(self, features: beam.PCollection) -> beam.PCollection:
        params = self._params
        counted = features
        prior = None
        if self._prior_features is not None:
            prior = self._prior_features | "PriorPayloads" >> beam.Map(lambda f: (*features_payload(f), True))
            counted = (features, prior) | "WithPriorFeatures" >> beam.Flatten()
        skip = {}
        if self._duplicates is not None:
            # fused with the combine's first half: the filtered copy is never materialised
            counted = counted | "KeepOriginals" >> beam.ParDo(_KeepOriginals(), duplicates=self._duplicates)
            skip = {"duplicates": self._duplicates}
        df = counted | "DocumentFrequencies" >> beam.CombineGlobally(_CountFeatures())
        blocked, members = features | "VectorizeAndBlock" >> beam.ParDo(
            _VectorizeAndBlock(params), df_n=beam.pvalue.AsSingleton(df), **skip
        ).with_outputs(MEMBERS, main="blocked")
        if prior is not None:
            prior_blocked, prior_members = prior | "VectorizeAndBlockPrior" >> beam.ParDo(
                _VectorizeAndBlock(params, prior=True), df_n=beam.pvalue.AsSingleton(df)
            ).with_outputs(MEMBERS, main="blocked")
            blocked = (blocked, prior_blocked) | "WithPriorBlocks" >> beam.Flatten()
            members = (members, prior_members) | "WithPriorMembers" >> beam.Flatten()
        # blocks group member refs; each member's vector travels once, as a side input,
        # instead of once per block key (up to block_keys_per_article copies)
        edges = (
            blocked
            | "GroupBlocks" >> beam.GroupByKey()
            | "ScoreBlocks" >> beam.ParDo(_ScoreBlock(params), members=beam.pvalue.AsDict(members))
        )
        if self._prior_roots is not None:
            fixed = self._prior_roots | "FixPriorStories" >> beam.Map(lambda kv: (kv[0], None, kv[1]))
            edges = (edges, fixed) | "WithPriorStories" >> beam.Flatten()
        return edges | "GroupStories" >> beam.CombineGlobally(_ClusterEdges(params.threshold))


def article_features(article: Mapping, params: StoryParams = StoryParams()) -> FeaturesPayload:
    """:func:`story_features` of an article, as the shuffle carries them
    (``features_payload(story_features(article))``, without the pairs in between)."""
    counts = _feature_counts(article, params)
    names = sorted(counts)
    weights = np.fromiter(map(counts.__getitem__, names), dtype="<f8", count=len(names))
    return str(article["id"]), article.get("published_at") or "", "\0".join(names), weights.tobytes()


class AssignStories(FindStories):
    """Articles (with ``dedup`` marked) -> the same articles with ``story_id`` set.

    Originals are featurised and grouped into stories (:class:`FindStories`, same
    arguments), whose result every article reads as a side input; duplicates
    follow their original. Remembered articles (``prior_features``,
    ``prior_roots``) are never emitted.
    """

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        params = self._params
        roots = (
            articles
            | "KeepOriginals" >> beam.Filter(_is_original)
            | "StoryFeatures" >> beam.ParDo(MapInRuns(article_features, params, batch_size=STAGE_BATCH))
            | "FindStories" >> FindStories(params, self._prior_features, self._prior_roots)
        )
        return articles | "SetStoryId" >> beam.ParDo(AssignStoryFn(), roots=beam.pvalue.AsSingleton(roots))
