"""``MarkDuplicates``: duplicate marking as a plain composite, the reference the tests read.

The pipeline marks duplicates and assigns stories in one pass
(:class:`transforms.dedup.resolve.ResolveArticles`); this is its dedup half
spelled out: the map of :class:`~transforms.dedup.exact.FindDuplicates` set on
every article by :class:`~transforms.dedup.exact.MarkFn`.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.dedup.exact import FindDuplicates, MarkFn


class MarkDuplicates(FindDuplicates):
    """Set ``dedup = {status, duplicate_of}`` on every article; none is dropped.

    Same arguments as :class:`~transforms.dedup.exact.FindDuplicates`, whose
    map every article reads as a side input; ``prior`` articles are not
    marked or emitted.
    """

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        duplicates = super().expand(articles)
        return articles | "Mark" >> beam.ParDo(MarkFn(), duplicates=beam.pvalue.AsSingleton(duplicates))
