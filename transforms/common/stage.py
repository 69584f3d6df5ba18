"""Small Beam helpers shared by the stage composites.

``GuardedMap`` runs a pure per-element function and routes every failure to the
``dead_letter`` output as a readable record, so no stage can crash a run or drop
an element silently. Counters live in the namespace ``newsbeam.<stage>``:

- ``<stage>.in``: elements seen
- ``<stage>.out``: elements emitted on the main output
- ``<stage>.rejected``: elements routed to the dead letters
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms import runtime
from transforms.common.records import Rejected, RejectedInput, make_excerpt

DEAD_LETTER = "dead_letter"
MAIN = "main"
SETUP_LOG_ENV = "NEWSBEAM_SETUP_LOG"  # a file each GuardedMap.setup appends its cost to (bench.stages)

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


def run_length() -> int:
    """How many elements a per-article step handles in a row: ``tuning.run_length``
    of the run being built (1: one by one)."""
    return runtime.active().run_length


class Memo(dict):
    """``key -> fn(key)``, computed on first sight and kept, up to ``max_size`` keys
    (then the table starts over). Read with ``map(memo.__getitem__, keys)``: a key
    seen before costs a C-level dict hit, not a Python-level call (~3x cheaper than
    an LRU cache, which also reorders on every hit). For per-token and per-feature
    hashes: news vocabularies repeat."""

    def __init__(self, fn: Callable[[Any], Any], max_size: int) -> None:
        super().__init__()
        self._fn = fn
        self.max_size = max_size

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.max_size:
            self.clear()
        value = self[key] = self._fn(key)
        return value



class InRuns(beam.DoFn):
    """A DoFn that handles its elements in runs of ``batch_size`` (the rest at the
    end of the bundle); subclasses implement :meth:`handle`. Each output keeps its
    element's timestamp and window. Same outputs as one by one; only their order
    within a bundle changes.

    Running several steps of one fused chain in runs keeps each step's tables and
    regexes in the CPU caches (measured: ``docs/performance.md``). The run length is a
    tuning switch (``tuning.run_length``; :func:`run_length`).

    ``order_by`` (an element -> str key) handles a run's elements grouped by that
    key (stable: in arrival order within a key) and emits them in that order, which
    the next steps of the chain keep: per-language tables (a topic scan regex is
    ~1 MB of compiled code per language set) then serve many articles in a row
    instead of changing at almost every article. A key that fails is ``""``.
    """

    def __init__(self, batch_size: int = 1, order_by: Callable[[Any], str] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._batch_size = batch_size
        self._order_by = order_by
        self._run: list[tuple[Any, Any, Any]] = []

    def handle(self, element: Any, window: Any) -> Iterable[Any]:
        """The outputs of one element: values or ``TaggedOutput`` s (given the element's
        timestamp and window), or ``WindowedValue`` s (passed on as they are).
        Subclasses override it; this base passes the element on unchanged."""
        yield element

    def start_bundle(self) -> None:
        self._run = []

    def process(
        self, element: Any, timestamp: Any = beam.DoFn.TimestampParam, window: Any = beam.DoFn.WindowParam
    ) -> Iterable[Any]:
        if self._batch_size == 1:
            yield from self.handle(element, window)
            return
        self._run.append((element, timestamp, window))
        if len(self._run) >= self._batch_size:
            yield from self._flush()

    def finish_bundle(self) -> Iterable[Any]:
        yield from self._flush()

    def _flush(self) -> Iterable[Any]:
        run, self._run = self._run, []
        if self._order_by is not None and len(run) > 1:
            run.sort(key=self._run_key)
        for element, timestamp, window in run:
            windows = (window,)
            for out in self.handle(element, window):
                if isinstance(out, WindowedValue):  # placed by handle() itself
                    yield out
                elif isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(out.tag, WindowedValue(out.value, timestamp, windows))
                else:
                    yield WindowedValue(out, timestamp, windows)

    def _run_key(self, item: tuple[Any, Any, Any]) -> str:
        try:
            return str(self._order_by(item[0]))  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - the element's own step reports what is wrong with it
            return ""


class MapInRuns(InRuns):
    """``beam.Map(fn, *args)`` in runs of ``batch_size`` elements (see :class:`InRuns`)."""

    def __init__(self, fn: Callable[..., Any], *args: Any, batch_size: int = 1) -> None:
        super().__init__(batch_size)
        self._fn = fn
        self._args = args

    def handle(self, element: Any, window: Any) -> Iterable[Any]:
        yield self._fn(element, *self._args)


class GuardedMap(InRuns):
    """Apply ``fn`` to each element; its result (one element, or an iterable when
    ``many=True``) goes to the main output. ``Rejected`` results and
    exceptions go to ``DEAD_LETTER`` as dead-letter records.

    ``fn`` may be a plain function or a zero-argument factory (``setup_fn``)
    called once per DoFn instance in ``setup()``; use the factory for functions
    that close over heavy objects.

    ``batch_size > 1``: in runs of that many elements (:class:`InRuns`, also for
    ``order_by``); same outputs, counters and dead letters.
    """

    def __init__(
        self,
        stage: str,
        fn: Callable[[Any], Any] | None = None,
        *,
        setup_fn: Callable[[], Callable[[Any], Any]] | None = None,
        many: bool = False,
        batch_size: int = 1,
        order_by: Callable[[Any], str] | None = None,
    ) -> None:
        if (fn is None) == (setup_fn is None):
            raise ValueError("give exactly one of fn and setup_fn")
        super().__init__(batch_size, order_by)
        self._stage = stage
        self._fn = fn
        self._setup_fn = setup_fn
        self._many = many
        ns = namespace(stage)
        self._in = Metrics.counter(ns, "in")
        self._out = Metrics.counter(ns, "out")
        self._rejected = Metrics.counter(ns, "rejected")
        self._tuning = runtime.active()  # the launcher's switches, carried to the workers

    def setup(self) -> None:
        started, cpu = time.time(), time.process_time()
        runtime.activate(self._tuning)  # before the models load: the regex cache reads it
        if self._setup_fn is not None:
            self._fn = self._setup_fn()
        runtime.settle_worker(self._tuning)
        _note_setup(self._stage, started, time.time() - started, time.process_time() - cpu)

    def _dead(self, element: Any, error: str) -> beam.pvalue.TaggedOutput:
        self._rejected.inc()
        record = Rejected(
            source=_origin_of(element), stage=self._stage, error=error, excerpt=_excerpt_of(element)
        ).to_record()
        return beam.pvalue.TaggedOutput(DEAD_LETTER, record)

    def handle(self, element: Any, window: Any = None) -> Iterable[Any]:
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


def _note_setup(stage: str, started: float, seconds: float, cpu: float) -> None:
    """With ``NEWSBEAM_SETUP_LOG`` set (``bench.stages``), append what this setup cost, so the
    benchmark can tell worker start and model loads from the work of the first stage."""
    path = os.environ.get(SETUP_LOG_ENV)
    if not path:
        return
    line = json.dumps({"pid": os.getpid(), "stage": stage, "started": started, "seconds": seconds, "cpu": cpu})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def guarded(label: str, pcoll: beam.PCollection, dofn: GuardedMap) -> tuple[beam.PCollection, beam.PCollection]:
    """Apply a ``GuardedMap`` under ``label``; return ``(main, dead_letters)``."""
    outputs = pcoll | label >> beam.ParDo(dofn).with_outputs(DEAD_LETTER, main=MAIN)
    return outputs[MAIN], outputs[DEAD_LETTER]
