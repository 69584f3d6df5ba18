"""Entity tagging: the places and organisations each article names, as ``places`` and
``organisations`` fields with evidence spans (the finder: :mod:`transforms.stories.entities`,
its data: ``configs/places.tsv.gz``, ``configs/entities.yaml``).

Pure part: :func:`tag_entities`. Beam part: :class:`TagEntities` (dead letters of stage
``entities``). Story features read the two fields instead of finding the names again.

Counters (namespace ``newsbeam.entities``): ``in``/``out``/``rejected`` from GuardedMap,
``with_places`` and ``with_organisations`` (articles naming at least one).
"""

from __future__ import annotations

from typing import Any, Callable

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.common.records import RejectedInput
from transforms.common.stage import GuardedMap, guarded, namespace, run_length
from transforms.stories.entities import entity_fields, warm

STAGE = "entities"


def tag_entities(article: Any) -> dict[str, Any]:
    """A copy of ``article`` with ``places`` and ``organisations`` set."""
    if not isinstance(article, dict):
        raise RejectedInput(f"expected an article dict, got {type(article).__name__}")
    if not isinstance(article.get("text"), str):
        raise RejectedInput(f"article has no text string (text is {type(article.get('text')).__name__})")
    if not isinstance(article.get("title") or "", str):
        raise RejectedInput(f"article title is {type(article.get('title')).__name__}, not a string")
    return {**article, **entity_fields(article)}


def _setup_tagger() -> Callable[[Any], dict[str, Any]]:
    warm()  # the gazetteer loads once per process, before the first article
    ns = namespace(STAGE)
    with_places, with_organisations = Metrics.counter(ns, "with_places"), Metrics.counter(ns, "with_organisations")

    def tag(article: Any) -> dict[str, Any]:
        out = tag_entities(article)
        if out["places"]:
            with_places.inc()
        if out["organisations"]:
            with_organisations.inc()
        return out

    return tag


class TagEntities(beam.PTransform):
    """Sets ``places`` and ``organisations`` on each article dict; returns ``(tagged, dead_letters)``."""

    def expand(self, articles: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        return guarded("TagEachArticle", articles, GuardedMap(STAGE, setup_fn=_setup_tagger, batch_size=run_length()))
