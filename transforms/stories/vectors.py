"""Story vectors and their similarity.

An article's features weighted ``(1 + log count) * idf`` (idf over the batch's
original articles) and normalised to unit length; two articles' similarity is
the cosine of their vectors times a time decay, ``0.5 ** (max(0, |dt| - grace) /
half_life)`` on their ``published_at`` distance (none when a date is missing).

Within one language (or when a language is unknown) that is all, and the places
and organisations (:func:`is_cross_only` features) take no part: the vectors are
unit length without them, so a same-language pair scores exactly as it did before
they existed. Across two languages the cosine is taken in the language-neutral part
of the vectors (names, concepts, numbers, dates, places: what a translation keeps):
the dot product, places included, divided by the product of the two vectors'
neutral norms (:func:`cross_norm`), with its own half-life
(``cross_language_half_life_hours``); a pair whose plain dot product is below
``cross_language_min_cosine`` shares too little to be scaled up and scores 0.
Blocks hold the vectors in a compact form (:class:`CompactVector`: sorted 32-bit
feature hashes and float16 weights in two ``bytes``) that the shuffle carries
without pickling and that scores with a binary search and one dot product.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from functools import lru_cache
from typing import Iterable, Mapping, NamedTuple

import numpy as np
import xxhash

from transforms.stories.features import StoryFeatures, feature_key, feature_keys, is_cross_only, is_neutral
from transforms.stories.params import StoryParams


def idf(df: int, n_docs: int) -> float:
    """Smoothed inverse document frequency."""
    return math.log((n_docs + 1) / (df + 1)) + 1.0


class Vector(NamedTuple):
    """A weighted feature vector of one article (features by :func:`feature_key`),
    unit length without its :func:`is_cross_only` features (which are scaled alike)."""

    id: str
    published_at: str
    weights: dict[str, float]
    language: str = ""  # "" when unknown
    neutral: float = 1.0  # the norm of its language-neutral part (:func:`is_neutral` features, places included)
    full: float = 1.0  # the norm of all its features, places included


def vectorize(features: StoryFeatures, df: Mapping[str, int], n_docs: int) -> Vector:
    """``(1 + log count) * idf`` per feature, divided by the norm of the features
    other than places and organisations. Features absent from ``df`` have document
    frequency 1."""
    weights = {}
    log = math.log
    top = log(n_docs + 1) + 1.0  # idf(df) = top - log(df + 1)
    get = df.get
    neutral = extra = 0.0
    for feature, count in features.counts:
        if count > 0:
            tf = 1.0 + log(count) if count >= 1 else count  # sublinear; sub-unit weights (years) kept as is
            key = feature_key(feature)
            w = weights[key] = tf * (top - log(get(key, 1) + 1))
            if is_neutral(feature):
                neutral += w * w
            if is_cross_only(feature):
                extra += w * w
    base = sum(w * w for f, w in weights.items() if not is_cross_only(f))
    norm = math.sqrt(base) or 1.0
    return Vector(features.id, features.published_at, {f: w / norm for f, w in weights.items()}, features.language,
                  math.sqrt(neutral) / norm, math.sqrt(base + extra) / norm)


@lru_cache(maxsize=100_000)
def epoch_hours(iso: str) -> float | None:
    """Hours since the epoch of an ISO 8601 time; None when empty or unreadable."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() / 3600.0
    except ValueError:
        return None


def time_decay(a: str, b: str, params: StoryParams = StoryParams(), across: bool = False) -> float:
    """``0.5 ** (max(0, |dt| - grace) / half_life)`` (``across`` two languages: the
    ``cross_language_half_life_hours``); 1.0 when a date is missing."""
    ha, hb = epoch_hours(a), epoch_hours(b)
    if ha is None or hb is None:
        return 1.0
    excess = max(0.0, abs(ha - hb) - params.grace_hours)
    return 0.5 ** (excess / (params.cross_language_half_life_hours if across else params.half_life_hours))


class CompactVector(NamedTuple):
    """A :class:`Vector` as blocks hold it (and as it travels through the shuffle):
    ``hashes`` are the features' :func:`vector_hash` (little-endian uint32, sorted),
    ``weights`` their unit-normalised weights (little-endian float16, same order);
    ``cross_hashes`` and ``cross_weights`` the same of its places and organisations,
    apart, since only a pair in two languages reads them.
    6 bytes a feature and only plain ``str``/``bytes`` fields, so Beam's default
    coder writes it without pickling, instead of a dict of ~225 strings: this is
    most of what the runner holds of an article while stories are found. float16
    keeps 11 significant bits: a score moves by at most ~1e-3; a 32-bit hash
    collision between two different features of a compared pair has odds ~1e-5
    per pair and adds one spurious product."""

    id: str
    published_at: str
    hashes: bytes
    weights: bytes
    language: str = ""
    neutral: float = 1.0
    full: float = 1.0
    cross_hashes: bytes = b""
    cross_weights: bytes = b""


VECTOR_HASH_DTYPE = np.dtype("<u4")  # features in a CompactVector
WEIGHT_DTYPE = np.dtype("<f2")


@lru_cache(maxsize=500_000)
def feature_hash(feature: str) -> int:
    """The 64-bit hash a feature is known by in a :class:`CompactVector` (xxh3, seed 0:
    the same in every process and run)."""
    return xxhash.xxh3_64_intdigest(feature.encode("utf-8"))


def vector_hash(feature: str) -> int:
    """The 32-bit hash a feature is known by inside a :class:`CompactVector` (the low
    half of :func:`feature_hash`)."""
    return feature_hash(feature) & 0xFFFFFFFF


def compact(vector: Vector, df: Mapping[str, int] | None = None) -> CompactVector:
    """The vector's features as sorted 32-bit hashes and float16 weights.

    With ``df``, features of no other article (``df < 2``) are left out: they add
    nothing to any dot product (the weights stay normalised over all features).
    Two features of one article with the same hash (odds ~1e-15 per article) are
    summed, so the hashes stay unique."""
    items = vector.weights.items()
    if df is not None:
        items = [(f, w) for f, w in items if df.get(f, 1) >= 2]
    base = [(f, w) for f, w in items if not is_cross_only(f)]
    cross = [(f, w) for f, w in items if is_cross_only(f)]
    hashes, weights = packed_arrays(np.fromiter((vector_hash(f) for f, _ in base), dtype=VECTOR_HASH_DTYPE,
                                                count=len(base)),
                                    np.fromiter((w for _, w in base), dtype=np.float64, count=len(base)))
    cross_hashes, cross_weights = packed_arrays(
        np.fromiter((vector_hash(f) for f, _ in cross), dtype=VECTOR_HASH_DTYPE, count=len(cross)),
        np.fromiter((w for _, w in cross), dtype=np.float64, count=len(cross)))
    return CompactVector(vector.id, vector.published_at, hashes, weights, vector.language, vector.neutral,
                         vector.full, cross_hashes, cross_weights)


def packed_arrays(hashes: np.ndarray, weights: np.ndarray) -> tuple[bytes, bytes]:
    """Feature hashes and their float64 weights as a :class:`CompactVector` holds them:
    sorted by hash, a hash that occurs twice summed into one, as ``bytes``."""
    order = np.argsort(hashes, kind="stable")
    hashes, weights = hashes[order], weights[order]
    if len(hashes) > 1 and not np.all(hashes[1:] != hashes[:-1]):
        hashes, first = np.unique(hashes, return_index=True)
        weights = np.add.reduceat(weights, first)
    return hashes.tobytes(), weights.astype(WEIGHT_DTYPE).tobytes()


_END = np.iinfo(np.uint32).max


def _arrays(packed_hashes: bytes, packed_weights: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Sorted hashes (uint32) and their weights widened to float64, both ending in a
    sentinel (the largest hash, weight 0) so that a lookup never runs off the end."""
    n = len(packed_hashes) // VECTOR_HASH_DTYPE.itemsize
    hashes = np.empty(n + 1, dtype=np.uint32)
    hashes[:n] = np.frombuffer(packed_hashes, dtype=VECTOR_HASH_DTYPE)
    hashes[n] = _END
    weights = np.zeros(n + 1, dtype=np.float64)
    weights[:n] = np.frombuffer(packed_weights, dtype=WEIGHT_DTYPE)
    return hashes, weights


def _cosine(ha: np.ndarray, wa: np.ndarray, hb: np.ndarray, wb: np.ndarray) -> float:
    """Dot product (float64) of two sparse vectors given as :func:`_arrays`: the
    shorter one's hashes are looked up in the longer one's (binary search)."""
    if len(ha) > len(hb):
        ha, wa, hb, wb = hb, wb, ha, wa
    at = hb.searchsorted(ha)
    hit = hb[at] == ha
    return float(np.dot(wa[hit], wb[at[hit]]))


def across_languages(a: str, b: str, params: StoryParams = StoryParams()) -> bool:
    """Whether a pair of articles in languages ``a`` and ``b`` is scored across
    languages: both known, different, and ``cross_language`` on."""
    return params.cross_language and bool(a) and bool(b) and a != b


def cross_norm(neutral: float, full: float, params: StoryParams = StoryParams()) -> float:
    """The norm an article's dot products are divided by across languages: that of its
    neutral part, at least ``neutral_floor`` of its whole (so an article of few
    neutral features cannot blow a small overlap up)."""
    return max(neutral, params.neutral_floor * full)


def similarity(a: Vector | CompactVector, b: Vector | CompactVector, params: StoryParams = StoryParams()) -> float:
    """Cosine of the two vectors times the time decay; symmetric, in [0, 1]. Within
    one language the places take no part; across two, the cosine of the neutral
    parts, places included (see the module), 0.0 when the plain cosine (places
    included) is below ``cross_language_min_cosine``. Computed on the compact form,
    as blocks are scored."""
    ca = a if isinstance(a, CompactVector) else compact(a)
    cb = b if isinstance(b, CompactVector) else compact(b)
    cosine = _cosine(*_arrays(ca.hashes, ca.weights), *_arrays(cb.hashes, cb.weights))
    across = across_languages(ca.language, cb.language, params)
    if across:
        cosine += _cosine(*_arrays(ca.cross_hashes, ca.cross_weights), *_arrays(cb.cross_hashes, cb.cross_weights))
        if cosine < params.cross_language_min_cosine:
            return 0.0  # a chance overlap of a few neutral features: never scaled up
        cosine *= params.cross_language_factor / (cross_norm(ca.neutral, ca.full, params) *
                                                  cross_norm(cb.neutral, cb.full, params))
    return min(1.0, cosine) * time_decay(a.published_at, b.published_at, params, across)


def max_gap_hours(params: StoryParams = StoryParams()) -> float:
    """The ``published_at`` distance beyond which even identical articles score
    below ``edge_floor`` (in one language or in two): pairs further apart are never compared."""
    half_life = max(params.half_life_hours, params.cross_language_half_life_hours if params.cross_language else 0.0)
    return params.grace_hours + half_life * math.log2(1.0 / params.edge_floor)


def document_frequencies(features: Iterable[StoryFeatures]) -> tuple[dict[str, int], int]:
    """``({feature: number of articles having it}, number of articles)``."""
    df: Counter[str] = Counter()
    n = 0
    for f in features:
        n += 1
        if f.counts:
            df.update(feature_keys("\0".join([feature for feature, _ in f.counts])))
    return dict(df), n
