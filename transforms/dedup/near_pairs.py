"""Near-duplicate pairs without Beam: candidates inside an LSH bucket, their
verification into edges, and the band entries as the composite
(:mod:`transforms.dedup.near`) shuffles them.

Buckets
    Articles whose signatures (:mod:`transforms.dedup.minhash`) share a band
    hash form a bucket; :func:`bucket_pairs` pairs its members, earlier with
    later. An oversized bucket (boilerplate, a template) pairs every member
    only with its few earliest ones, so its cost stays linear in its size.

Verification
    A candidate pair becomes an :class:`~transforms.dedup.exact.Edge` (child =
    later, parent = earlier) when the estimated Jaccard of the two signatures
    reaches the threshold (:func:`verified_edge`).

Band entries
    The composite shuffles ``(band hash, node hash)`` entries packed into
    batches (:func:`pack_band_batch`, :func:`shared_buckets`); verification
    names the nodes again from the signatures (:class:`NodeNames`).

:func:`find_near_pairs` is the in-memory twin of
:class:`transforms.dedup.near.FindNearDuplicates` (the same steps on a list),
for tests and ``eval/neardup.py``.
"""

from __future__ import annotations

import heapq
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import xxhash

from transforms.dedup.exact import Edge, Node
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
    verify,
)

DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_BUCKET = 50
DEFAULT_COMPARE_EARLIEST = 5

NodeKey = tuple[str, str]  # a Node as a plain tuple: (published_at or sentinel, id)


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
    """In-memory twin of :class:`transforms.dedup.near.FindNearDuplicates` (same steps, no Beam)."""
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


# ---------------------------------------------------------------- band entries

BandBatch = tuple  # (band hashes, node hashes): little-endian uint64 bytes each, entry by entry


def packed_node(node: NodeKey) -> str:
    """A node as band batches and the signatures side input spell it."""
    return f"{node[0]}\0{node[1]}"


def node_hash(packed: str) -> int:
    """The 64-bit name a node goes by in band batches: xxh3 of its :func:`packed_node`."""
    return xxhash.xxh3_64_intdigest(packed.encode("utf-8"))


def pack_band_batch(hashes: Sequence[int], node_hashes: Sequence[int]) -> BandBatch:
    """A batch of band entries ``(band hash, node hash)`` as two bytes: 16 bytes an
    entry. The shuffle and the local runner's grouping buffer hold two objects per
    batch instead of five per entry, and a node goes by its 8-byte :func:`node_hash`
    instead of spelled out (``"published_at\0id"``, ~38 bytes); memory and bytes
    saved: docs/performance.md. Verification names the nodes again from the
    signatures side input (:class:`NodeNames`)."""
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
