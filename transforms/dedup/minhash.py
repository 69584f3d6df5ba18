"""MinHash sketches of texts: word shingles, signatures, LSH band keys, verification.

Pure functions (no Beam), shared by the batch composite (:mod:`transforms.dedup.near`),
the streaming memory (:mod:`transforms.dedup.streaming`), the cross-run memory
(:mod:`transforms.state.memory`) and ``eval/neardup.py``. The hashing must never drift:
signatures persist in ``--state`` across runs (tests pin the values). How shingles,
signatures, bands and verification work: ``docs/methods.md#how-the-minhash-sketch-is-built``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import xxhash

from transforms.common.stage import Memo

DEFAULT_K = 5
DEFAULT_NUM_PERM = 128
DEFAULT_SEED = 1
DEFAULT_MIN_SHINGLES = 20

_TOKEN = re.compile(r"\w+")
_SHINGLE_SEED = 0x6E657773  # fixed: shingle hashes must never change between runs
_U64 = np.uint64


def _odd_constants(n: int, seed: int, tag: str) -> np.ndarray:
    return np.array(
        [xxhash.xxh64_intdigest(f"{tag}{i}".encode(), seed=seed) | 1 for i in range(n)], dtype=_U64
    )


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


_POSITION_MULTIPLIERS: dict[int, np.ndarray] = {}


def _token_hash(token: str) -> int:
    return xxhash.xxh3_64_intdigest(token.encode(), seed=_SHINGLE_SEED)


def _ascii_token_hash(token: bytes) -> int:
    return xxhash.xxh3_64_intdigest(token, seed=_SHINGLE_SEED)  # = _token_hash(token.decode())


_TOKEN_HASHES = Memo(_token_hash, 500_000)  # token -> hash, for the tokens of a text in one map()
_ASCII_TOKEN_HASHES = Memo(_ascii_token_hash, 500_000)  # the same for ASCII tokens as bytes
# ASCII bytes that \w matches (letters, digits, _) stay, all others become a space
_ASCII_WORD_BYTES = bytes(c if chr(c).isalnum() or c == 0x5F else 0x20 for c in range(128)) + b" " * 128
# the same, bytes >= 0x80 (parts of UTF-8 sequences) kept
_NON_WORD_ASCII_TO_SPACE = _ASCII_WORD_BYTES[:128] + bytes(range(128, 256))


def tokens(text: str | None) -> list[str]:
    """Normalized word tokens: casefolded, punctuation stripped (``\w+`` runs).

    The ASCII non-word characters become spaces at byte level and ``str.split`` cuts
    there (and at any other whitespace); when every character left is a word character
    (``str.isalnum`` or ``_``: most texts, unless they hold characters such as ``«`` or
    ``—``) the chunks are the regex's runs, ~2x faster; else the regex reads the text."""
    if not isinstance(text, str):
        return []
    folded = text.casefold()
    chunks = folded.encode("utf-8", "surrogatepass").translate(_NON_WORD_ASCII_TO_SPACE).decode(
        "utf-8", "surrogatepass").split()
    if "".join(chunks).replace("_", "").isalnum():
        return chunks
    return _TOKEN.findall(folded)


def token_hashes(text: str | None) -> list[int]:
    """The hashes of :func:`tokens`, in order. An ASCII text is tokenized as bytes:
    lowercased, non-word bytes turned into spaces, split: the same tokens as the
    regex without making a str of each (timings: docs/performance.md)."""
    if isinstance(text, str) and text.isascii():
        return list(map(_ASCII_TOKEN_HASHES.__getitem__, text.encode("ascii").lower().translate(_ASCII_WORD_BYTES).split()))
    return list(map(_TOKEN_HASHES.__getitem__, tokens(text)))


def shingles(text: str | None, k: int = DEFAULT_K) -> np.ndarray:
    """The set of word ``k``-shingles of ``text`` as sorted distinct uint64 hashes.

    A text with fewer than ``k`` tokens has one shingle (all its tokens), and
    an empty text none.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    hashes = token_hashes(text)
    if not hashes:
        return np.empty(0, dtype=_U64)
    h = np.array(hashes, dtype=_U64)
    width = min(k, len(hashes))
    mult = _POSITION_MULTIPLIERS.get(width)
    if mult is None:
        mult = _POSITION_MULTIPLIERS[width] = _odd_constants(width, _SHINGLE_SEED, "pos")
    n = len(hashes) - width + 1
    acc = h[:n] * mult[0]
    for j in range(1, width):
        acc = acc + h[j : j + n] * mult[j]
    return _sorted_distinct(_splitmix64(acc))


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of a 1-D array, sorting ``values`` in place (quicker
    than ``np.unique`` for an article's few hundred hashes: docs/performance.md)."""
    values.sort()
    keep = np.empty(len(values), dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


class Permutations(NamedTuple):
    """The ``a`` and ``b`` of the ``num_perm`` hash functions of a MinHash."""

    a: np.ndarray
    b: np.ndarray


_PERMUTATIONS: dict[tuple[int, int], Permutations] = {}


def permutations(num_perm: int = DEFAULT_NUM_PERM, seed: int = DEFAULT_SEED) -> Permutations:
    """The hash functions for ``(num_perm, seed)``; built once per process and cached."""
    key = (num_perm, seed)
    perms = _PERMUTATIONS.get(key)
    if perms is None:
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        perms = Permutations(_odd_constants(num_perm, seed, "a"), _odd_constants(num_perm, seed, "b"))
        _PERMUTATIONS[key] = perms
    return perms


def minhash(
    shingle_hashes: np.ndarray,
    num_perm: int = DEFAULT_NUM_PERM,
    seed: int = DEFAULT_SEED,
    perms: Permutations | None = None,
) -> np.ndarray:
    """The MinHash signature (``uint32[num_perm]``) of a set of uint64 shingle hashes.

    An empty set has the all-ones signature (it matches only other empty sets;
    callers exclude short texts before this matters).
    """
    perms = perms or permutations(num_perm, seed)
    x = np.asarray(shingle_hashes, dtype=_U64)
    if x.size == 0:
        return np.full(len(perms.a), 0xFFFFFFFF, dtype=np.uint32)
    values = np.multiply.outer(x, perms.a)
    values += perms.b
    return (values.min(axis=0) >> _U64(32)).astype(np.uint32)


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """P(two sets with Jaccard ``similarity`` share at least one band)."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def choose_bands(threshold: float, num_perm: int, min_recall: float = 0.99) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands*rows <= num_perm`` such that a pair exactly at
    ``threshold`` is a candidate with probability >= ``min_recall``.

    Among those, the most rows per band (the most selective bands: the fewest
    false candidates from loosely related texts sharing a few stock phrases),
    then the fewest bands (each band is one shuffled element per article).
    Examples for 128 permutations: 0.5 -> (35, 3), 0.6 -> (19, 3),
    0.7 -> (17, 4), 0.8 -> (16, 6).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    for rows in range(num_perm, 0, -1):
        for bands in range(1, num_perm // rows + 1):
            if candidate_probability(threshold, bands, rows) >= min_recall:
                return bands, rows
    return num_perm, 1  # nothing reaches min_recall: one row per band, all permutations


def band_hashes(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """One 64-bit hash per band: xxh64 of the band's ``rows`` values (little-endian)."""
    sig = np.ascontiguousarray(signature, dtype="<u4")
    if bands * rows > sig.size:
        raise ValueError(f"bands*rows = {bands * rows} exceeds the signature length {sig.size}")
    raw = sig.tobytes()
    step = 4 * rows
    return [xxhash.xxh64_intdigest(raw[i * step : (i + 1) * step]) for i in range(bands)]


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[str]:
    """One string key per band: ``"<band index>:<16 hex digits of its band hash>"``."""
    return [f"{i}:{h:016x}" for i, h in enumerate(band_hashes(signature, bands, rows))]


def verify(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of equal MinHash values."""
    a, b = np.asarray(sig_a), np.asarray(sig_b)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"signatures differ in shape: {a.shape} vs {b.shape}")
    return float(np.count_nonzero(a == b)) / a.size


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted distinct shingle arrays (for measurement)."""
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


class Sketcher:
    """Text -> signature (or None for a short text), with the hash functions built once."""

    def __init__(
        self,
        num_perm: int = DEFAULT_NUM_PERM,
        seed: int = DEFAULT_SEED,
        k: int = DEFAULT_K,
        min_shingles: int = DEFAULT_MIN_SHINGLES,
    ) -> None:
        self.k = k
        self.min_shingles = min_shingles
        self.perms = permutations(num_perm, seed)

    def __call__(self, text: str | None) -> np.ndarray | None:
        sh = shingles(text, self.k)
        if sh.size < max(1, self.min_shingles):
            return None
        return minhash(sh, perms=self.perms)


def signature_bytes(signature: np.ndarray) -> bytes:
    """A signature as stored and shuffled: its values as little-endian uint32 bytes."""
    return np.ascontiguousarray(signature, dtype="<u4").tobytes()


def signature_of(raw: bytes) -> np.ndarray:
    """The signature of :func:`signature_bytes` (a read-only view of ``raw``)."""
    return np.frombuffer(raw, dtype="<u4")

