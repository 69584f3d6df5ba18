"""Duplicate marking: exact copies (same canonical URL or same normalized content).

Layers add *edges* between an article and an earlier one it copies; the edges of
all layers are resolved together into groups with one original each, so chains
(C copies B, B copies A) always point at the root A. The original of a group is
chosen deterministically: earliest ``published_at`` (articles without a date
come last), then smallest ``id``.

Edges are few (only duplicates make them), so resolution runs as one combine over
the edges, not over the articles; articles meet the result as a side input.

Counters (namespace ``newsbeam.dedup``): ``unique``, ``exact_duplicate``,
``near_duplicate``, ``groups``.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.common.stage import namespace

UNIQUE = "unique"
EXACT = "exact_duplicate"
NEAR = "near_duplicate"

_NO_DATE = "9999-12-31T23:59:59Z"


class Node(NamedTuple):
    """An article as the dedup layers see it: its sort key and id."""

    published_at: str
    id: str


class Edge(NamedTuple):
    """``child`` copies ``parent``; ``kind`` is ``exact`` or ``near``."""

    child: Node
    parent: Node
    kind: str


PRIOR_MARK = "!"  # sort-key prefix of articles remembered from earlier runs (transforms/state/memory.py)


def is_prior(node: tuple) -> bool:
    """Whether a node is an article remembered from an earlier run: its sort key
    starts with ``PRIOR_MARK``, so it sorts before every article of this run and
    stays the original of any group it is in."""
    return node[0].startswith(PRIOR_MARK)


def node_of(article: dict) -> Node:
    return Node(article.get("published_at") or _NO_DATE, article["id"])


def exact_keys(article: dict, *, by_url: bool = True, by_content: bool = True) -> list[str]:
    """The keys under which two articles are exact copies of each other."""
    keys = []
    if by_url and article.get("url"):
        keys.append("url:" + article["url"])
    if by_content and article.get("content_hash"):
        keys.append("content:" + article["content_hash"])
    return keys


def group_edges(members: Iterable[Node], kind: str) -> Iterator[Edge]:
    """Edges from every member of a group of copies to its earliest member."""
    ordered = sorted(set(members))
    for child in ordered[1:]:
        yield Edge(child, ordered[0], kind)


class UnionFind:
    """Disjoint sets whose representative is always the smallest node."""

    def __init__(self) -> None:
        self._parent: dict[Node, Node] = {}

    def find(self, node: Node) -> Node:
        parent = self._parent
        if node not in parent:
            parent[node] = node
            return node
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def union(self, a: Node, b: Node) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            self._parent[rb] = ra

    def nodes(self) -> Iterable[Node]:
        return list(self._parent)


def resolve_duplicates(edges: Iterable[Edge]) -> dict[str, tuple[str, str]]:
    """``{article_id: (status, original_id)}`` for every article that copies another.

    An article is an ``exact_duplicate`` when it is joined to its group's
    original by exact edges alone, otherwise a ``near_duplicate``. Originals and
    articles with no edges are absent (they are ``unique``).
    """
    edges = list(edges)
    # An id is one article even when it comes with two sort keys (an article read
    # again that is also remembered from an earlier run): its smallest key counts.
    canonical: dict[str, Node] = {}
    for edge in edges:
        for node in (edge.child, edge.parent):
            known = canonical.get(node.id)
            if known is None or node < known:
                canonical[node.id] = node
    exact, every = UnionFind(), UnionFind()
    for edge in edges:
        child, parent = canonical[edge.child.id], canonical[edge.parent.id]
        if child == parent:
            continue
        every.union(child, parent)
        if edge.kind == "exact":
            exact.union(child, parent)
    result: dict[str, tuple[str, str]] = {}
    for node in every.nodes():
        root = every.find(node)
        if root == node:
            continue
        status = EXACT if exact.find(node) == exact.find(root) else NEAR
        result[node.id] = (status, root.id)
    return result


def is_original(article_id: str, duplicates: Mapping[str, tuple[str, str | None]]) -> bool:
    """Whether the article copies no other (it is not a key of the resolved duplicates
    with an original)."""
    return duplicates.get(article_id, (UNIQUE, None))[1] is None


def mark(article: dict, duplicates: dict[str, tuple[str, str]]) -> dict:
    """A copy of ``article`` with ``dedup`` set from the resolved groups."""
    out = dict(article)
    status, original = duplicates.get(article["id"], (UNIQUE, None))
    out["dedup"] = {"status": status, "duplicate_of": original}
    return out


class _CollectEdges(beam.CombineFn):
    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, edge: Edge) -> list:
        acc.append(tuple(edge))
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        return [e for acc in accs for e in acc]

    def extract_output(self, acc: list) -> dict[str, tuple[str, str]]:
        return resolve_duplicates(Edge(Node(*c), Node(*p), k) for c, p, k in acc)


class FindExactDuplicates(beam.PTransform):
    """Articles -> exact-copy edges (one per copy, pointing at its group's earliest member)."""

    def __init__(self, by_url: bool = True, by_content: bool = True):
        super().__init__()
        self._by_url = by_url
        self._by_content = by_content

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        by_url, by_content = self._by_url, self._by_content
        return (
            articles
            | "KeyByCopyKey"
            >> beam.FlatMap(
                lambda a: [(k, tuple(node_of(a))) for k in exact_keys(a, by_url=by_url, by_content=by_content)]
            )
            | "GroupCopies" >> beam.GroupByKey()
            | "EdgesToEarliest" >> beam.FlatMap(lambda kv: group_edges((Node(*n) for n in kv[1]), "exact"))
        )


class MarkFn(beam.DoFn):
    """Sets ``dedup`` from the resolved duplicates (side input); counts each status."""

    def __init__(self) -> None:
        ns = namespace("dedup")
        self._counters = {s: Metrics.counter(ns, s) for s in (UNIQUE, EXACT, NEAR)}

    def process(self, article: dict, duplicates: dict) -> Iterator[dict]:
        out = mark(article, duplicates)
        self._counters[out["dedup"]["status"]].inc()
        yield out


class FindDuplicates(beam.PTransform):
    """Articles -> one ``{article id: (status, duplicate_of)}`` for every duplicate
    (a singleton PCollection, for side inputs; :class:`MarkFn` sets it on articles).

    ``extra_edges`` (a PCollection of :class:`Edge`, e.g. near-duplicate pairs)
    are resolved together with the exact-copy edges. ``prior`` (records with
    ``id``, ``published_at`` = a :data:`PRIOR_MARK` sort key, ``url``,
    ``content_hash``: articles remembered from earlier runs) take part in the
    exact-copy layer as originals.
    """

    def __init__(
        self,
        by_url: bool = True,
        by_content: bool = True,
        extra_edges: beam.PCollection | None = None,
        prior: beam.PCollection | None = None,
    ):
        super().__init__()
        self._by_url = by_url
        self._by_content = by_content
        self._extra_edges = extra_edges
        self._prior = prior

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        candidates = articles
        if self._prior is not None:
            candidates = (articles, self._prior) | "WithPrior" >> beam.Flatten()
        edges = candidates | "FindExactDuplicates" >> FindExactDuplicates(self._by_url, self._by_content)
        if self._extra_edges is not None:
            edges = (edges, self._extra_edges) | "AllEdges" >> beam.Flatten()
        return edges | "ResolveGroups" >> beam.CombineGlobally(_CollectEdges())
