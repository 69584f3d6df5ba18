"""Story grouping: scored edges -> stories, by sparse average-link agglomeration.

Two groups merge only when the *mean* similarity over all their cross pairs
(unscored pairs count 0) reaches ``threshold``, so one strong link cannot chain
two events through a shared bridge article. A mean never exceeds its largest
term, so groups only form inside connected components of the edges scoring at
least ``threshold``; every other edge is dropped first (exact), which keeps the
agglomeration near-linear. A story's root is its earliest member (earliest
``published_at``, undated last, then smallest id), so results are deterministic.
"""

from __future__ import annotations

import heapq
from array import array
from typing import Iterable, Iterator, Mapping

import numpy as np

from transforms.common.sorting import stable_order
from transforms.stories.blocks import Node


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
    # both directions, grouped by node: one dict per node from its slice. The slices
    # become Python objects one node at a time, and every neighbour is one shared int
    # object: this is the peak of the grouping worker (whole lists of both directions
    # beside the dicts, and an int object per entry, were ~40 % of it)
    src = np.concatenate([lo, hi])
    dst = np.concatenate([hi, lo])
    both = np.concatenate([score, score])
    order, src = stable_order(src)
    dst, both = dst[order], both[order]
    del lo, hi, score, order, keep, touched, root
    starts = np.flatnonzero(np.concatenate([[True], src[1:] != src[:-1]])).tolist()
    bounds = starts + [len(dst)]
    shared = list(range(size)).__getitem__
    return {
        node: dict(zip(map(shared, dst[bounds[i] : bounds[i + 1]].tolist()), both[bounds[i] : bounds[i + 1]].tolist()))
        for i, node in enumerate(map(shared, src[starts].tolist()))
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
    story grouping combine accumulates: arrays, many times smaller than the edge
    tuples to encode, ship and decode."""

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

    def extend(self, other: "ScoredEdges | tuple") -> None:
        """Add ``other``'s edges and fixed articles (``other`` may be :meth:`packed`)."""
        keys, a, b, scores, fixed = other.packed() if isinstance(other, ScoredEdges) else other
        mapping = np.fromiter(map(self._key, keys), np.intc, len(keys))
        self.a.frombytes(mapping[np.frombuffer(a, np.intc)].tobytes())
        self.b.frombytes(mapping[np.frombuffer(b, np.intc)].tobytes())
        self.scores.frombytes(scores)
        self.fixed.update(fixed)

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
    # instead of one holding every strong pair
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
                # is cheaper than popping each through a deep heap. The live entries, so
                # the merges, stay the same
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
