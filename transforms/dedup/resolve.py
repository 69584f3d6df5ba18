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

The articles wait for that ParDo packed in runs (:mod:`transforms.common.packed`): a local
run holds them in its launcher meanwhile, ~3x smaller so.
"""

from __future__ import annotations

from typing import Any, Iterator

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from transforms.common.packed import Packer, Unpacker
from transforms.common.stage import MapInRuns, run_length
from transforms.dedup.exact import FindDuplicates, MarkFn
from transforms.stories.features import article_features
from transforms.stories.find import AssignStoryFn, FindStories
from transforms.stories.params import StoryParams


PACK_RUN = 64  # articles packed together: ~1.4 KB an article on bench data against ~1.8 KB one by one


class _PackRuns(beam.DoFn):
    """Articles -> runs of up to :data:`PACK_RUN` articles, each run one list packed by
    :meth:`~transforms.common.packed.Packer.pack`, while they wait for
    :class:`_MarkAndAssign`: compressed together (shared words) and fewer elements for the
    runner to move. A run holds articles of one timestamp and window only (it carries them)."""

    def __init__(self, run: int = PACK_RUN) -> None:
        self._size = run
        self._run: list[dict] = []
        self._at: tuple | None = None

    def setup(self) -> None:
        self._packer = Packer()

    def start_bundle(self) -> None:
        self._run, self._at = [], None

    def process(
        self, article: dict, timestamp: Any = beam.DoFn.TimestampParam, window: Any = beam.DoFn.WindowParam
    ) -> Iterator[WindowedValue]:
        if self._run and self._at != (timestamp, window):
            yield from self.finish_bundle()
        self._at = (timestamp, window)
        self._run.append(article)
        if len(self._run) >= self._size:
            yield from self.finish_bundle()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        run, self._run = self._run, []
        if run:
            timestamp, window = self._at
            yield WindowedValue(self._packer.pack(run), timestamp, (window,))


class _MarkAndAssign(beam.DoFn):
    """MarkDuplicates' and AssignStories' ParDos chained in one (same records, same counters),
    on packed runs of articles (:class:`_PackRuns`)."""

    def __init__(self) -> None:
        self._mark = MarkFn()
        self._assign = AssignStoryFn()

    def setup(self) -> None:
        self._unpacker = Unpacker()

    def process(self, packed: bytes, duplicates: dict, roots: dict) -> Iterator[dict]:
        for article in self._unpacker.unpack(packed):
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
        return articles | "PackArticles" >> beam.ParDo(_PackRuns()) | "MarkAndAssign" >> beam.ParDo(
            _MarkAndAssign(), duplicates=duplicates, roots=beam.pvalue.AsSingleton(roots)
        )
