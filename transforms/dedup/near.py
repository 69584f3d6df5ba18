"""Near-duplicate detection: MinHash over word shingles, LSH banding, verification.

Pure functions first (no Beam), then the thin composite :class:`FindNearDuplicates`.

Shingles
    The text is casefolded and split into word tokens (``\\w+``: punctuation is
    dropped). Each token is hashed once with xxh3_64 (deterministic across
    processes and machines, unlike Python's ``hash()``); the hash of the word
    k-shingle ``t[i..i+k)`` is a position-weighted sum of its token hashes
    (odd 64-bit multipliers, arithmetic mod 2^64) passed through the
    SplitMix64 finaliser, all vectorized in numpy. The shingle *set* is the
    sorted array of distinct uint64 values.

MinHash
    One hash function per permutation from the multiply-add-shift family
    ``h(x) = ((a*x + b) mod 2^64) >> 32`` with odd ``a`` (Dietzfelbinger): a
    universal family that needs no 128-bit products, unlike ``(a*x+b) mod
    (2^61-1)``. ``a`` and ``b`` come from xxh64 of the permutation index and
    the seed, so they are the same in every process and numpy version. Because
    ``>> 32`` is monotonic, the minimum is taken on the 64-bit values and
    shifted once. Signatures are ``uint32[num_perm]``.

LSH banding
    The first ``bands * rows`` signature values are cut into ``bands`` bands of
    ``rows``; two articles become candidates when any band is equal. For true
    Jaccard ``s`` the probability of that is ``P(s) = 1 - (1 - s^rows)^bands``,
    an S-curve whose steepest point sits near ``(1/bands)^(1/rows)``.
    :func:`choose_bands` picks ``(bands, rows)`` so that ``P(threshold)`` is
    at least ``min_recall`` (default 0.99: a pair just at the threshold is
    missed at most 1% of the time), with the most rows per band that allows
    (the fewest false candidates), then the fewest bands (each band is one
    shuffled element per article, the dominant cost). The S-curve's midpoint
    therefore sits below the threshold (0.5 -> 35x3, midpoint 0.31; 0.7 ->
    17x4, midpoint 0.49); pairs between the midpoint and the threshold
    become candidates and are rejected by verification.

Verification
    The estimated Jaccard is the fraction of equal signature values (all
    ``num_perm``, not only the banded ones); its standard error is
    ``sqrt(J(1-J)/num_perm)`` (0.044 at J=0.5, num_perm=128). ``eval/neardup.py``
    measures precision with this estimate against exact Jaccard.

Short texts
    A text with fewer than ``min_shingles`` distinct shingles gets no
    signature: two short texts share a large fraction of their few shingles
    by accident (a dateline and a stock phrase), so they are left to the
    exact-copy layer.

Counters (namespace ``newsbeam.neardup``): ``signatures``, ``too_short``,
``buckets``, ``oversized_buckets``, ``candidates``, ``verified``.
"""

from __future__ import annotations

import heapq
import re
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

import apache_beam as beam
import numpy as np
import xxhash
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms.common.stage import STAGE_BATCH, InRuns, Memo, namespace
from transforms.dedup.exact import Edge, Node, is_prior, node_of

DEFAULT_K = 5
DEFAULT_NUM_PERM = 128
DEFAULT_SEED = 1
DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_SHINGLES = 20
DEFAULT_MAX_BUCKET = 50
DEFAULT_COMPARE_EARLIEST = 5

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


def tokens(text: str | None) -> list[str]:
    """Normalized word tokens: casefolded, punctuation stripped."""
    if not isinstance(text, str):
        return []
    return _TOKEN.findall(text.casefold())


def token_hashes(text: str | None) -> list[int]:
    """The hashes of :func:`tokens`, in order. An ASCII text (~40 % of news, most
    English) is tokenized as bytes: lowercased, non-word bytes turned into spaces,
    split: the same tokens ~4x faster than the regex, which makes a str of each."""
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
    """``np.unique(values)`` of a 1-D array, sorting ``values`` in place: an article's
    ~400 shingle hashes in ~3 us, where ``np.unique`` takes ~23 us (numpy 2.4)."""
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


def s_curve_midpoint(bands: int, rows: int) -> float:
    """The approximate Jaccard where the banding S-curve is steepest: (1/b)^(1/r)."""
    return (1.0 / bands) ** (1.0 / rows)


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


def containment(jaccard: float, size_a: int, size_b: int) -> float:
    """Estimated ``|A∩B| / min(|A|, |B|)`` from a Jaccard estimate and the set sizes
    (``|A∩B| = J (|A|+|B|) / (1+J)``); high when one text is a cut of the other."""
    if min(size_a, size_b) <= 0:
        return 0.0
    inter = jaccard * (size_a + size_b) / (1.0 + jaccard)
    return min(1.0, inter / min(size_a, size_b))


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


NodeKey = tuple[str, str]  # a Node as a plain tuple: (published_at or sentinel, id)


def signature_bytes(signature: np.ndarray) -> bytes:
    return np.ascontiguousarray(signature, dtype="<u4").tobytes()


def signature_of(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<u4")


def _distinct(members: Iterable[NodeKey]) -> Iterator[NodeKey]:
    seen: set[str] = set()  # ids only
    for m in members:
        if m[1] not in seen:
            seen.add(m[1])
            yield tuple(m)  # type: ignore[misc]


def bucket_pairs(
    members: Iterable[NodeKey],
    max_bucket: int = DEFAULT_MAX_BUCKET,
    compare_earliest: int = DEFAULT_COMPARE_EARLIEST,
) -> tuple[Iterator[tuple[NodeKey, NodeKey]], bool]:
    """Candidate pairs ``(earlier, later)`` inside one LSH bucket, and whether it was oversized.

    A bucket of at most ``max_bucket`` distinct articles yields all its pairs.
    A larger one (a pathological key: boilerplate, a template) compares every
    member only with its ``compare_earliest`` earliest members, so its cost is
    linear in its size. ``members`` is read at most three times (Beam
    iterables are re-iterable) and only a few members are held at once.
    """
    head: list[NodeKey] = []
    for m in _distinct(members):
        head.append(m)
        if len(head) > max_bucket:
            break
    if len(head) <= max_bucket:
        head.sort()
        return ((head[i], head[j]) for i in range(len(head)) for j in range(i + 1, len(head))), False

    earliest = heapq.nsmallest(compare_earliest, _distinct(members))

    def capped() -> Iterator[tuple[NodeKey, NodeKey]]:
        for i, e in enumerate(earliest):
            for later in earliest[i + 1 :]:
                yield e, later
        firsts = set(earliest)
        for m in _distinct(members):
            if m not in firsts:
                for e in earliest:
                    yield e, m

    return capped(), True


def verified_edge(child: NodeKey, child_sig: bytes, parent: NodeKey, parent_sig: bytes, threshold: float) -> Edge | None:
    """``Edge(child, parent, "near")`` when the estimated Jaccard reaches ``threshold``."""
    if child[1] == parent[1]:
        return None
    if verify(signature_of(child_sig), signature_of(parent_sig)) < threshold:
        return None
    return Edge(Node(*child), Node(*parent), "near")


def find_near_pairs(
    texts: Sequence[tuple[Node, str]],
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    bands: int = 0,
    rows: int = 0,
    k: int = DEFAULT_K,
    min_shingles: int = DEFAULT_MIN_SHINGLES,
    seed: int = DEFAULT_SEED,
    max_bucket: int = DEFAULT_MAX_BUCKET,
    compare_earliest: int = DEFAULT_COMPARE_EARLIEST,
) -> set[Edge]:
    """In-memory twin of :class:`FindNearDuplicates` (same steps, no Beam)."""
    if not bands or not rows:
        bands, rows = choose_bands(threshold, num_perm)
    sketch = Sketcher(num_perm, seed, k, min_shingles)
    sigs: dict[str, bytes] = {}
    buckets: dict[tuple[int, int], list[NodeKey]] = {}
    for node, text in texts:
        sig = sketch(text)
        if sig is None:
            continue
        sigs[node[1]] = signature_bytes(sig)
        for band, h in enumerate(band_hashes(sig, bands, rows)):
            buckets.setdefault((band, h), []).append(tuple(node))  # type: ignore[arg-type]
    candidates: set[tuple[NodeKey, NodeKey]] = set()
    for members in buckets.values():
        if len(members) > 1:
            candidates.update((later, earlier) for earlier, later in bucket_pairs(members, max_bucket, compare_earliest)[0])
    edges = (verified_edge(c, sigs[c[1]], p, sigs[p[1]], threshold) for c, p in candidates)
    return {e for e in edges if e is not None}


# ---------------------------------------------------------------- Beam composite

SIGNATURES = "signatures"
SIGNATURE_FIELD = "minhash"  # an article carrying its signature (bytes) is not sketched again


FLUSH_BAND_ENTRIES = 100_000  # band entries a SignAndBand instance holds before it sends its batches

BandBatch = tuple  # (band hashes, node hashes): little-endian uint64 bytes each, entry by entry


def node_hash(packed: str) -> int:
    """The 64-bit name a node goes by in band batches: xxh3 of its :func:`packed_node`."""
    return xxhash.xxh3_64_intdigest(packed.encode("utf-8"))


def pack_band_batch(hashes: Sequence[int], node_hashes: Sequence[int]) -> BandBatch:
    """A batch of band entries ``(band hash, node hash)`` as two bytes: 16 bytes an
    entry. The shuffle and the local runner's grouping buffer hold two objects per
    batch instead of five per entry (measured at 100,000 articles x 35 bands: the
    runner's peak during GroupBandShards fell by ~1 GB), and ~3x fewer bytes than
    with the nodes spelled out (``"published_at\0id"``, ~38 bytes): the runner
    moves ~56 MB instead of ~160 MB of entries at 100,000 articles. Verification
    names the nodes again from the signatures side input (:class:`NodeNames`)."""
    return np.asarray(hashes, dtype="<u8").tobytes(), np.asarray(node_hashes, dtype="<u8").tobytes()


def shared_buckets(batches: Iterable[BandBatch]) -> Iterator[tuple[int, list[int]]]:
    """``(band hash, node hashes)`` of each band bucket that two or more entries
    share, members in entry order; singletons, most of them, are never unpacked."""
    hashes, nodes = [], []
    for packed, ids in batches:
        hashes.append(np.frombuffer(packed, "<u8"))
        nodes.append(np.frombuffer(ids, "<u8"))
    if not hashes:
        return
    all_hashes = np.concatenate(hashes)
    if all_hashes.size < 2:
        return
    order = np.argsort(all_hashes, kind="stable")
    ranked = all_hashes[order]
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    sizes = np.diff(np.append(starts, ranked.size))
    shared = np.flatnonzero(sizes > 1)
    if not shared.size:
        return
    all_nodes = np.concatenate(nodes)
    for run in shared.tolist():
        start = int(starts[run])
        yield int(ranked[start]), all_nodes[order[start : start + int(sizes[run])]].tolist()


class NodeNames:
    """``node hash -> packed node`` for the nodes of a ``{packed node: signature}``
    map. Two nodes whose hashes collide (odds ~1e-10 at 100,000 articles) are both
    kept, and a bucket entry of such a hash names only those of them whose own band
    hash is the bucket's, so the candidates are exactly those of spelled-out nodes."""

    def __init__(self, signatures: Mapping[str, bytes], bands: int, rows: int) -> None:
        self.signatures = signatures
        self._bands, self._rows = bands, rows
        self._names: dict[int, str] = {}
        self._collided: dict[int, list[str]] = {}
        names, collided = self._names, self._collided
        for packed in signatures:
            h = node_hash(packed)
            first = names.setdefault(h, packed)
            if first is not packed:
                collided.setdefault(h, [first]).append(packed)

    def nodes(self, ids: Iterable[int], band: int, bucket: int) -> list[NodeKey]:
        """The nodes of a bucket's entries (``ids``) in band ``band`` with hash ``bucket``."""
        names, out = self._names, []
        for h in ids:
            if h in self._collided:
                for packed in self._collided[h]:
                    sig = signature_of(self.signatures[packed])
                    if band_hashes(sig, self._bands, self._rows)[band] == bucket:
                        out.append(tuple(packed.split("\0", 1)))
            else:
                out.append(tuple(names[h].split("\0", 1)))
        return out  # type: ignore[return-value]


class _SignAndBand(InRuns):
    """article -> main: ``(band shard, packed batch of (band hash, node) entries)``;
    ``SIGNATURES``: ``(packed node, signature bytes)`` (:func:`packed_node`).

    Band entries are batched per shard (``"<band>:<hash mod shards>"``), packed
    (:func:`pack_band_batch`) and sent every ``FLUSH_BAND_ENTRIES`` entries and at
    the end of the bundle, so the shuffle moves a few large elements instead of
    ``bands`` small ones per article and a worker holds a bounded number of them;
    a shard groups about ``articles / shards`` entries of one band.
    Articles are sketched in runs of ``batch_size`` (:class:`InRuns`).
    """

    def __init__(
        self,
        num_perm: int,
        seed: int,
        k: int,
        min_shingles: int,
        bands: int,
        rows: int,
        shards: int,
        batch_size: int = STAGE_BATCH,
    ) -> None:
        super().__init__(batch_size)
        self._args = (num_perm, seed, k, min_shingles)
        self._bands, self._rows, self._shards = bands, rows, shards
        self._sketch: Sketcher | None = None
        self._batches: dict = {}
        ns = namespace("neardup")
        self._signatures = Metrics.counter(ns, "signatures")
        self._short = Metrics.counter(ns, "too_short")

    def setup(self) -> None:
        self._sketch = Sketcher(*self._args)

    def start_bundle(self) -> None:
        super().start_bundle()
        self._batches = {}
        self._held = 0

    def handle(self, article: dict, window: Any) -> Iterator:
        known = article.get(SIGNATURE_FIELD)  # remembered from an earlier run (transforms/state/memory.py)
        sig = signature_of(known) if known is not None else self._sketch(article.get("text"))  # type: ignore[misc]
        if sig is None:
            self._short.inc()
            return
        self._signatures.inc()
        node = tuple(node_of(article))
        packed = packed_node(node)
        yield beam.pvalue.TaggedOutput(SIGNATURES, (packed, signature_bytes(sig)))
        batches, shards = self._batches, self._shards
        name = node_hash(packed)
        for band, h in enumerate(band_hashes(sig, self._bands, self._rows)):
            key = (window, f"{band}:{h % shards}")
            batch = batches.get(key)
            if batch is None:
                batch = batches[key] = ([], [])
            batch[0].append(h)
            batch[1].append(name)
        self._held += self._bands
        if self._held >= FLUSH_BAND_ENTRIES:
            yield from self._send_batches()

    def _send_batches(self) -> Iterator[WindowedValue]:
        for (window, shard), (hashes, nodes) in self._batches.items():
            yield WindowedValue((shard, pack_band_batch(hashes, nodes)), window.max_timestamp(), [window])
        self._batches = {}
        self._held = 0

    def finish_bundle(self) -> Iterator[Any]:
        yield from super().finish_bundle()  # the last run: its band entries join the batches
        yield from self._send_batches()


SEEN_PAIRS = 1_000_000  # candidate pairs a VerifyCandidates instance remembers within a bundle


class _VerifyInShard(beam.DoFn):
    """(band shard, batches) -> a verified :class:`Edge` for each candidate pair
    (later -> earlier) whose estimated Jaccard reaches the threshold.

    Signatures come from a ``{packed node: signature bytes}`` side input (one
    copy per worker), so the pairs need no join; it also names the nodes that
    band entries carry as hashes (:class:`NodeNames`). A pair that shares several
    bands is a candidate in several shards: it is verified once per bundle
    (most of its repeats land in the same bundle) and any edge left repeated
    across bundles is harmless, as edges are resolved as a set."""

    def __init__(self, threshold: float, max_bucket: int, compare_earliest: int, bands: int, rows: int) -> None:
        self._threshold = threshold
        self._max_bucket = max_bucket
        self._compare_earliest = compare_earliest
        self._bands, self._rows = bands, rows
        self._seen: set[tuple[NodeKey, NodeKey]] = set()
        self._names: NodeNames | None = None
        ns = namespace("neardup")
        self._buckets = Metrics.counter(ns, "buckets")
        self._oversized = Metrics.counter(ns, "oversized_buckets")
        self._candidates = Metrics.counter(ns, "candidates")
        self._verified = Metrics.counter(ns, "verified")

    def start_bundle(self) -> None:
        self._seen = set()

    def process(self, keyed: tuple[str, Iterable[BandBatch]], signatures: Mapping[str, bytes]) -> Iterator[Edge]:
        seen = self._seen
        names = self._names
        if names is None or names.signatures is not signatures:  # once per side input a worker holds
            names = self._names = NodeNames(signatures, self._bands, self._rows)
        band = int(keyed[0].split(":", 1)[0])
        for bucket, ids in shared_buckets(keyed[1]):
            members = names.nodes(ids, band, bucket)
            pairs, oversized = bucket_pairs(members, self._max_bucket, self._compare_earliest)
            self._buckets.inc()
            if oversized:
                self._oversized.inc()
            n = 0
            for earlier, later in pairs:
                if is_prior(later):
                    continue  # both remembered: settled by an earlier run
                if (later, earlier) in seen:
                    continue
                seen.add((later, earlier))
                if len(seen) > SEEN_PAIRS:
                    seen.clear()  # bounded memory; a pair verified again is only repeated work
                n += 1
                edge = verified_edge(
                    later, signatures[packed_node(later)], earlier, signatures[packed_node(earlier)], self._threshold
                )
                if edge is not None:
                    self._verified.inc()
                    yield edge
            self._candidates.inc(n)

    def finish_bundle(self) -> None:
        self._seen = set()
        self._names = None  # holds the side input: let it go with the bundle


def packed_node(node: NodeKey) -> str:
    """A node as band batches and the signatures side input spell it."""
    return f"{node[0]}\0{node[1]}"


class FindNearDuplicates(beam.PTransform):
    """Articles -> near-duplicate :class:`Edge` s (child = later, parent = earlier).

    SignAndBand (MinHash per article; band hashes batched per bundle and shard)
      -> GroupBandShards -> VerifyCandidates (pairs inside each band bucket, capped
      for oversized buckets, each verified on the signatures of a side input:
      estimated Jaccard >= threshold). All-pairs comparison never happens.
    Articles with fewer than ``min_shingles`` distinct shingles are skipped
    (exact dedup still covers them). ``bands``/``rows`` of 0 are chosen by
    :func:`choose_bands`.
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        num_perm: int = DEFAULT_NUM_PERM,
        bands: int = 0,
        rows: int = 0,
        shingle_k: int = DEFAULT_K,
        min_shingles: int = DEFAULT_MIN_SHINGLES,
        seed: int = DEFAULT_SEED,
        max_bucket: int = DEFAULT_MAX_BUCKET,
        compare_earliest: int = DEFAULT_COMPARE_EARLIEST,
        shards: int = 64,
    ) -> None:
        super().__init__()
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if not bands or not rows:
            bands, rows = choose_bands(min(threshold, 0.999), num_perm)
        if bands * rows > num_perm:
            raise ValueError(f"bands*rows = {bands * rows} exceeds num_perm = {num_perm}")
        self._threshold = threshold
        self._sign_args = (num_perm, seed, shingle_k, min_shingles, bands, rows, max(1, shards))
        self._verify_args = (max_bucket, compare_earliest, bands, rows)

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        signed = articles | "SignAndBand" >> beam.ParDo(_SignAndBand(*self._sign_args)).with_outputs(
            SIGNATURES, main="bands"
        )
        return (
            signed["bands"]
            | "GroupBandShards" >> beam.GroupByKey()
            | "VerifyCandidates"
            >> beam.ParDo(
                _VerifyInShard(self._threshold, *self._verify_args),
                signatures=beam.pvalue.AsDict(signed[SIGNATURES]),
            )
        )
