"""Small Beam helpers shared by the stage composites.

``GuardedMap`` runs a pure per-element function and routes every failure to the
``dead_letter`` output as a readable record, so no stage can crash a run or drop
an element silently. Counters live in the namespace ``newsbeam.<stage>``:

- ``<stage>.in``: elements seen
- ``<stage>.out``: elements emitted on the main output
- ``<stage>.rejected``: elements routed to the dead letters
"""

from __future__ import annotations

import gc

import logging
from typing import Any, Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.records import Rejected, RejectedInput, make_excerpt

DEAD_LETTER = "dead_letter"
MAIN = "main"

_log = logging.getLogger(__name__)


def namespace(stage: str) -> str:
    return f"newsbeam.{stage}"


def _origin_of(element: Any) -> str:
    if isinstance(element, dict):
        for key in ("origin", "source", "url", "id"):
            value = element.get(key)
            if value:
                return str(value)
    return "<unknown>"


def _excerpt_of(element: Any) -> str:
    if isinstance(element, dict):
        for key in ("text", "html", "title"):
            value = element.get(key)
            if value:
                return make_excerpt(value)
    return make_excerpt(repr(element))


GC_THRESHOLDS = (100_000, 50, 100)  # generation 0 collects every 100,000 allocations, not 700


def settle_heap() -> None:
    """Once a worker has loaded its models: freeze what is on the heap (models,
    compiled taxonomy, caches: long-lived, never cyclic garbage) out of the cyclic
    collector's reach, and collect the young generation less often. Each article
    allocates thousands of short-lived objects; with Python's defaults every 700
    allocations start a collection and every few hundred of those walk the whole
    heap. Measured on 10,000 bench articles in one process: the per-article stage
    6-7 % faster (28.1 -> 26.1 s). Refcounted objects are freed as before; only
    reference cycles wait a little longer. Idempotent and cheap (``gc.freeze`` moves
    a list)."""
    if gc.get_threshold() != GC_THRESHOLDS:
        gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


class GuardedMap(beam.DoFn):
    """Apply ``fn`` to each element; its result (one element, or an iterable when
    ``many=True``) goes to the main output. ``Rejected`` results and
    exceptions go to ``DEAD_LETTER`` as dead-letter records.

    ``fn`` may be a plain function or a zero-argument factory (``setup_fn``)
    called once per DoFn instance in ``setup()``; use the factory for functions
    that close over heavy objects.
    """

    def __init__(
        self,
        stage: str,
        fn: Callable[[Any], Any] | None = None,
        *,
        setup_fn: Callable[[], Callable[[Any], Any]] | None = None,
        many: bool = False,
    ) -> None:
        if (fn is None) == (setup_fn is None):
            raise ValueError("give exactly one of fn and setup_fn")
        self._stage = stage
        self._fn = fn
        self._setup_fn = setup_fn
        self._many = many
        ns = namespace(stage)
        self._in = Metrics.counter(ns, "in")
        self._out = Metrics.counter(ns, "out")
        self._rejected = Metrics.counter(ns, "rejected")

    def setup(self) -> None:
        if self._setup_fn is not None:
            self._fn = self._setup_fn()
        settle_heap()

    def _dead(self, element: Any, error: str) -> beam.pvalue.TaggedOutput:
        self._rejected.inc()
        record = Rejected(
            source=_origin_of(element), stage=self._stage, error=error, excerpt=_excerpt_of(element)
        ).to_record()
        return beam.pvalue.TaggedOutput(DEAD_LETTER, record)

    def process(self, element: Any) -> Iterable[Any]:
        self._in.inc()
        try:
            result = self._fn(element)  # type: ignore[misc]
            results = list(result) if self._many else [result]
        except RejectedInput as exc:
            yield self._dead(element, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the reason is kept in the dead letter
            _log.debug("stage %s failed on %s", self._stage, _origin_of(element), exc_info=True)
            yield self._dead(element, f"{type(exc).__name__}: {exc}")
            return
        for item in results:
            if isinstance(item, Rejected):
                self._rejected.inc()
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, item.to_record())
            elif item is not None:
                self._out.inc()
                yield item


def guarded(label: str, pcoll: beam.PCollection, dofn: GuardedMap) -> tuple[beam.PCollection, beam.PCollection]:
    """Apply a ``GuardedMap`` under ``label``; return ``(main, dead_letters)``."""
    outputs = pcoll | label >> beam.ParDo(dofn).with_outputs(DEAD_LETTER, main=MAIN)
    return outputs[MAIN], outputs[DEAD_LETTER]
