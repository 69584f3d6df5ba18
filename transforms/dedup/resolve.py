"""Duplicates and stories resolved in one pass over the articles (the batch path).

``MarkDuplicates`` (kept as the tests' reference, ``tests/support/mark_duplicates.py``) then
``AssignStories`` is the plain reading of the method, but
each of them ends in a ParDo over the full articles that waits for a side input,
so the runner holds and ships every article twice more. :class:`ResolveArticles`
computes both lookups from compact projections instead (exact-copy keys and
near-duplicate edges -> ``{id: (status, duplicate_of)}``; story features of the
originals, duplicates skipped where they are read -> ``{id: story root}``) and
applies them in one ParDo. Same records, same counters (namespaces
``newsbeam.dedup`` and ``newsbeam.stories``).
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from transforms.common.stage import MapInRuns, run_length
from transforms.dedup.exact import FindDuplicates, MarkFn
from transforms.stories.features import article_features
from transforms.stories.find import AssignStoryFn, FindStories
from transforms.stories.params import StoryParams


class _MarkAndAssign(beam.DoFn):
    """MarkDuplicates' and AssignStories' ParDos chained in one (same records, same counters)."""

    def __init__(self) -> None:
        self._mark = MarkFn()
        self._assign = AssignStoryFn()

    def process(self, article: dict, duplicates: dict, roots: dict) -> Iterator[dict]:
        for marked in self._mark.process(article, duplicates):
            yield from self._assign.process(marked, roots)


class ResolveArticles(beam.PTransform):
    """Articles -> the same articles with ``dedup`` and ``story_id`` set, none dropped:
    the result of ``MarkDuplicates(...)`` then ``AssignStories(...)`` with the same
    arguments, in one pass over the articles."""

    def __init__(
        self,
        by_url: bool = True,
        by_content: bool = True,
        params: StoryParams | None = None,
        extra_edges: beam.PCollection | None = None,
        prior: beam.PCollection | None = None,
        prior_features: beam.PCollection | None = None,
        prior_roots: beam.PCollection | None = None,
    ) -> None:
        super().__init__()
        self._by_url = by_url
        self._by_content = by_content
        self._params = params or StoryParams()
        self._extra_edges = extra_edges
        self._prior = prior
        self._prior_features = prior_features
        self._prior_roots = prior_roots

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        duplicates = beam.pvalue.AsSingleton(
            articles
            | "FindDuplicates" >> FindDuplicates(self._by_url, self._by_content, self._extra_edges, self._prior)
        )
        roots = (
            articles
            | "StoryFeatures" >> beam.ParDo(MapInRuns(article_features, self._params, batch_size=run_length()))
            | "FindStories" >> FindStories(self._params, self._prior_features, self._prior_roots, duplicates)
        )
        return articles | "MarkAndAssign" >> beam.ParDo(
            _MarkAndAssign(), duplicates=duplicates, roots=beam.pvalue.AsSingleton(roots)
        )
