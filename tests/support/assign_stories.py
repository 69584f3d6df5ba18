"""``AssignStories``: story assignment as a plain composite, the reference the tests read.

The pipeline marks duplicates and assigns stories in one pass
(:class:`transforms.dedup.resolve.ResolveArticles`); this is its story half spelled
out: originals featurised and grouped by :class:`~transforms.stories.find.FindStories`,
whose roots every article reads through :class:`~transforms.stories.find.AssignStoryFn`.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.common.stage import MapInRuns
from transforms.stories.features import article_features
from transforms.stories.find import AssignStoryFn, FindStories


def _is_original(article: dict) -> bool:
    return not (article.get("dedup") or {}).get("duplicate_of")


class AssignStories(FindStories):
    """Articles (with ``dedup`` marked) -> the same articles with ``story_id`` set.

    Originals are featurised and grouped into stories (:class:`FindStories`, same
    arguments), whose result every article reads as a side input; duplicates
    follow their original. Remembered articles (``prior_features``,
    ``prior_roots``) are never emitted.
    """

    def expand(self, articles: beam.PCollection) -> beam.PCollection:
        params = self._params
        roots = (
            articles
            | "KeepOriginals" >> beam.Filter(_is_original)
            | "StoryFeatures" >> beam.ParDo(MapInRuns(article_features, params, batch_size=64))
            | "FindStories" >> FindStories(params, self._prior_features, self._prior_roots)
        )
        return articles | "SetStoryId" >> beam.ParDo(AssignStoryFn(), roots=beam.pvalue.AsSingleton(roots))
