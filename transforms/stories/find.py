"""Finding stories: articles about the same event share one ``story_id``.

A story is an *event*: write-ups of it in other outlets and languages belong
together, similar events (two earthquakes, two sanctions packages) stay apart.
The steps are pure functions (features, vectors, blocks, grouping modules);
:func:`story_roots` runs them in memory and :class:`FindStories` /
:class:`AssignStories` wire the same steps in Beam. Exact and near duplicates are
not clustered themselves: they take their original's story.

Counters (namespace ``newsbeam.stories``): ``edges`` (scored pairs kept),
``unblocked_articles`` (no feature rare enough to pair by: the article stays a
story of its own), ``clustered_articles`` (articles in a story of two or more).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator, Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.common.stage import namespace
from transforms.dedup.exact import is_original
from transforms.stories.blocks import (
    Member,
    block_features,
    block_payload,
    member_of,
    member_payload,
    member_ref,
    score_block,
)
from transforms.stories.features import FeaturesPayload, feature_keys, features_payload, story_features
from transforms.stories.grouping import ScoredEdges, cluster_edges
from transforms.stories.params import StoryParams
from transforms.stories.records import story_id_for
from transforms.stories.vectors import document_frequencies


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
            df.update(feature_keys(payload[2]))  # distinct within an article
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
        if len(payload) > 5 or is_original(payload[0], duplicates):  # remembered, or no copy
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
        if not keys:  # in no block: nothing will look it up
            self._unblocked.inc()
            return
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
        """One element per block that scored a pair: its edges :meth:`~ScoredEdges.packed`
        (an element per edge cost the runner ~1M elements at 100,000 articles, each
        through two more steps before the combine took it)."""
        key, refs = keyed
        block = [member_of(members[ref]) for ref in refs]
        edges = ScoredEdges()
        for a, b, score in score_block(key, block, self._params):
            edges.add(a, b, score)
        if edges.scores:
            self._edges.inc(len(edges.scores))
            yield edges.packed()


class _ClusterEdges(beam.CombineFn):
    """Scored edges (a block's edges :meth:`~ScoredEdges.packed`, or single
    ``(a, b, score)`` edges) and ``(article id, None, story root)`` elements, which fix
    remembered articles to their story, -> :func:`cluster_edges`. Accumulates
    :class:`ScoredEdges`, which leave a worker :meth:`~ScoredEdges.packed`."""

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold

    def create_accumulator(self) -> ScoredEdges:
        return ScoredEdges()

    def add_input(self, acc: ScoredEdges, edge: tuple) -> ScoredEdges:
        if len(edge) == 5:  # a block's edges, packed
            acc.extend(edge)
            return acc
        a, b, score = edge
        if b is None:
            acc.fixed[a] = score
        else:
            acc.add(a, b, score)
        return acc

    def merge_accumulators(self, accs: Iterable[ScoredEdges | tuple]) -> ScoredEdges:
        merged = ScoredEdges()
        for acc in accs:
            merged.extend(acc)
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
    of ScoreBlocks loads that map whole, so worker memory, not the runner's
    shuffle, bounds a run (sizes: ``docs/performance.md``, Stories).

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
