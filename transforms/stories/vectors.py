"""Story vectors and their similarity.

An article's features weighted ``(1 + log count) * idf`` (idf over the batch's
original articles) and normalised to unit length; two articles' similarity is
the cosine of their vectors times a time decay, ``0.5 ** (max(0, |dt| - grace) /
half_life)`` on their ``published_at`` distance (none when a date is missing).
Across two languages the cosine is taken in the language-neutral part of the
vectors (names, concepts, numbers, dates, places: what a translation keeps): the
dot product divided by the product of the two vectors' :attr:`Vector.neutral`
norms, since what two languages share lies in that part only.
Blocks hold the vectors in a compact form (:class:`CompactVector`: sorted 32-bit
feature hashes and float16 weights in two ``bytes``) that the shuffle carries
without pickling and that scores with a binary search and one dot product.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Iterable, Mapping, NamedTuple

import numpy as np
import xxhash

from transforms.stories.features import StoryFeatures, feature_key, is_neutral
from transforms.stories.params import StoryParams


def idf(df: int, n_docs: int) -> float:
    """Smoothed inverse document frequency."""
    return math.log((n_docs + 1) / (df + 1)) + 1.0


class Vector(NamedTuple):
    """A unit-length weighted feature vector of one article (features by :func:`feature_key`)."""

    id: str
    published_at: str
    weights: dict[str, float]
    language: str = ""  # "" when unknown
    neutral: float = 1.0  # the norm of its language-neutral part (:func:`is_neutral` features)


def vectorize(features: StoryFeatures, df: Mapping[str, int], n_docs: int) -> Vector:
    """``(1 + log count) * idf`` per feature, normalised to unit length.
    Features absent from ``df`` have document frequency 1."""
    weights = {}
    log = math.log
    top = log(n_docs + 1) + 1.0  # idf(df) = top - log(df + 1)
    get = df.get
    neutral = 0.0
    for feature, count in features.counts:
        if count > 0:
            tf = 1.0 + log(count) if count >= 1 else count  # sublinear; sub-unit weights (years) kept as is
            key = feature_key(feature)
            w = weights[key] = tf * (top - log(get(key, 1) + 1))
            if is_neutral(feature):
                neutral += w * w
    total = sum(w * w for w in weights.values())
    norm = math.sqrt(total) or 1.0
    share = math.sqrt(neutral / total) if total else 1.0
    return Vector(features.id, features.published_at, {f: w / norm for f, w in weights.items()}, features.language,
                  share)


@lru_cache(maxsize=100_000)
def epoch_hours(iso: str) -> float | None:
    """Hours since the epoch of an ISO 8601 time; None when empty or unreadable."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() / 3600.0
    except ValueError:
        return None


def time_decay(a: str, b: str, params: StoryParams = StoryParams()) -> float:
    """``0.5 ** (max(0, |dt| - grace) / half_life)``; 1.0 when a date is missing."""
    ha, hb = epoch_hours(a), epoch_hours(b)
    if ha is None or hb is None:
        return 1.0
    excess = max(0.0, abs(ha - hb) - params.grace_hours)
    return 0.5 ** (excess / params.half_life_hours)


class CompactVector(NamedTuple):
    """A :class:`Vector` as blocks hold it (and as it travels through the shuffle):
    ``hashes`` are the features' :func:`vector_hash` (little-endian uint32, sorted),
    ``weights`` their unit-normalised weights (little-endian float16, same order).
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
    else:
        items = list(items)
    hashes = np.fromiter((vector_hash(f) for f, _ in items), dtype=VECTOR_HASH_DTYPE, count=len(items))
    weights = np.fromiter((w for _, w in items), dtype=np.float64, count=len(items))
    order = np.argsort(hashes, kind="stable")
    hashes, weights = hashes[order], weights[order]
    if len(hashes) > 1 and not np.all(hashes[1:] != hashes[:-1]):
        hashes, first = np.unique(hashes, return_index=True)
        weights = np.add.reduceat(weights, first)
    return CompactVector(vector.id, vector.published_at, hashes.tobytes(), weights.astype(WEIGHT_DTYPE).tobytes(),
                         vector.language, vector.neutral)


_END = np.iinfo(np.uint32).max


def _arrays(vector: CompactVector) -> tuple[np.ndarray, np.ndarray]:
    """Sorted hashes (uint32) and their weights widened to float64, both ending in a
    sentinel (the largest hash, weight 0) so that a lookup never runs off the end."""
    n = len(vector.hashes) // VECTOR_HASH_DTYPE.itemsize
    hashes = np.empty(n + 1, dtype=np.uint32)
    hashes[:n] = np.frombuffer(vector.hashes, dtype=VECTOR_HASH_DTYPE)
    hashes[n] = _END
    weights = np.zeros(n + 1, dtype=np.float64)
    weights[:n] = np.frombuffer(vector.weights, dtype=WEIGHT_DTYPE)
    return hashes, weights


def _cosine(ha: np.ndarray, wa: np.ndarray, hb: np.ndarray, wb: np.ndarray) -> float:
    """Dot product (float64) of two sparse vectors given as :func:`_arrays`: the
    shorter one's hashes are looked up in the longer one's (binary search)."""
    if len(ha) > len(hb):
        ha, wa, hb, wb = hb, wb, ha, wa
    at = hb.searchsorted(ha)
    hit = hb[at] == ha
    return float(np.dot(wa[hit], wb[at[hit]]))


def cross_language_scale(a: str, b: str, neutral_a: float, neutral_b: float, params: StoryParams = StoryParams()
                         ) -> float:
    """What a dot product is multiplied by to be a cosine: 1 within one language (or
    when a language is unknown), ``1 / (neutral_a * neutral_b)`` across two (each
    norm at least ``neutral_floor``, so an article of few neutral features cannot
    blow a small overlap up)."""
    if not params.cross_language or not a or not b or a == b:
        return 1.0
    floor = params.neutral_floor
    return params.cross_language_factor / (max(neutral_a, floor) * max(neutral_b, floor))


def similarity(a: Vector | CompactVector, b: Vector | CompactVector, params: StoryParams = StoryParams()) -> float:
    """Cosine of the two vectors (across languages: in their neutral part) times the
    time decay; symmetric, in [0, 1]. Computed on the compact form, as blocks are scored."""
    ca = a if isinstance(a, CompactVector) else compact(a)
    cb = b if isinstance(b, CompactVector) else compact(b)
    cosine = _cosine(*_arrays(ca), *_arrays(cb)) * cross_language_scale(
        ca.language, cb.language, ca.neutral, cb.neutral, params
    )
    return min(1.0, cosine) * time_decay(a.published_at, b.published_at, params)


def max_gap_hours(params: StoryParams = StoryParams()) -> float:
    """The ``published_at`` distance beyond which even identical articles score
    below ``edge_floor``: pairs further apart are never compared."""
    return params.grace_hours + params.half_life_hours * math.log2(1.0 / params.edge_floor)


def document_frequencies(features: Iterable[StoryFeatures]) -> tuple[dict[str, int], int]:
    """``({feature: number of articles having it}, number of articles)``."""
    df: dict[str, int] = {}
    n = 0
    for f in features:
        n += 1
        for feature, _ in f.counts:
            key = feature_key(feature)
            df[key] = df.get(key, 0) + 1
    return df, n
