"""Beam counters of code run in this process without a pipeline (a DoFn's ``process``, a
stage function), read the way Beam's own metric tests do: a state sampler whose current
state holds a fresh ``MetricsContainer``. Counters are part of what a stage promises
(``newsbeam.<stage>`` namespaces, documented names), and a fast test can check them so.

    with counting() as counters:
        fn(article)
    assert counters() == {("newsbeam.language", "lang_de"): 1, ...}
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from apache_beam.metrics.execution import MetricsContainer
from apache_beam.runners.worker import statesampler
from apache_beam.utils.counters import CounterFactory


@contextlib.contextmanager
def counting(step: str = "test") -> Iterator[Callable[[], dict[tuple[str, str], int]]]:
    """Collect the counters incremented inside the block; yields a function that returns
    them as ``{(namespace, name): value}`` (counters never incremented are absent)."""
    container = MetricsContainer(step)
    sampler = statesampler.StateSampler("", CounterFactory())
    previous = statesampler.get_current_tracker()
    statesampler.set_current_tracker(sampler)
    state = sampler.scoped_state(step, "process", metrics_container=container)

    def read() -> dict[tuple[str, str], int]:
        counters = container.get_cumulative().counters
        return {(key.metric.namespace, key.metric.name): value for key, value in counters.items() if value}

    sampler.start()
    try:
        with state:
            yield read
    finally:
        sampler.stop()
        statesampler.set_current_tracker(previous)
