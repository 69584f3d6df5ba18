"""Near-duplicate detection in Beam: the composite :class:`FindNearDuplicates`.

Articles -> MinHash signatures (:mod:`transforms.dedup.minhash`) -> LSH band
entries, batched per shard -> candidate pairs inside each band bucket ->
verified near-duplicate edges (:mod:`transforms.dedup.near_pairs`, whose
:func:`~transforms.dedup.near_pairs.find_near_pairs` is the same steps without Beam).
All-pairs comparison never happens.

Counters (namespace ``newsbeam.neardup``): ``signatures``, ``too_short``,
``buckets``, ``oversized_buckets``, ``candidates``, ``verified``.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms.common.stage import InRuns, namespace, run_length
from transforms.dedup.exact import Edge, is_prior, node_of
from transforms.dedup.minhash import (
    DEFAULT_K,
    DEFAULT_MIN_SHINGLES,
    DEFAULT_NUM_PERM,
    DEFAULT_SEED,
    Sketcher,
    band_hashes,
    choose_bands,
    signature_bytes,
    signature_of,
)
from transforms.dedup.near_pairs import (
    DEFAULT_COMPARE_EARLIEST,
    DEFAULT_MAX_BUCKET,
    DEFAULT_THRESHOLD,
    BandBatch,
    NodeKey,
    NodeNames,
    bucket_pairs,
    node_hash,
    pack_band_batch,
    packed_node,
    shared_buckets,
    verified_edge,
)

SIGNATURES = "signatures"
SIGNATURE_FIELD = "minhash"  # an article carrying its signature (bytes) is not sketched again

FLUSH_BAND_ENTRIES = 100_000  # band entries a SignAndBand instance holds before it sends its batches


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
        batch_size: int | None = None,
    ) -> None:
        super().__init__(run_length() if batch_size is None else batch_size)
        self._args = (num_perm, seed, k, min_shingles)
        self._bands, self._rows, self._shards = bands, rows, shards
        self._sketch: Sketcher | None = None
        self._batches: dict = {}
        ns = namespace("neardup")
        self._signatures = Metrics.counter(ns, "signatures")
        self._short = Metrics.counter(ns, "too_short")

    def setup(self) -> None:
        self._sketch = Sketcher(*self._args)
        # each band's shard names, made once: "<band>:<hash mod shards>"
        self._shard_names = [[f"{band}:{shard}" for shard in range(self._shards)] for band in range(self._bands)]

    def start_bundle(self) -> None:
        super().start_bundle()
        self._batches = {}
        self._order = []
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
        shards, names = self._shards, self._shard_names
        name = node_hash(packed)
        batches = self._batches.get(window)  # per window, then per shard: a window is hashed once per article
        if batches is None:
            batches = self._batches[window] = {}
        for band, h in enumerate(band_hashes(sig, self._bands, self._rows)):
            shard = names[band][h % shards]
            batch = batches.get(shard)
            if batch is None:
                batch = batches[shard] = ([], [])
                self._order.append((window, shard, batch))
            batch[0].append(h)
            batch[1].append(name)
        self._held += self._bands
        if self._held >= FLUSH_BAND_ENTRIES:
            yield from self._send_batches()

    def _send_batches(self) -> Iterator[WindowedValue]:
        for window, shard, (hashes, nodes) in self._order:  # in the order the batches were started
            yield WindowedValue((shard, pack_band_batch(hashes, nodes)), window.max_timestamp(), [window])
        self._batches = {}
        self._order = []
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
