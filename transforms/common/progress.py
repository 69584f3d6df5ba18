"""Progress counts of a local run, for the launcher's progress line (``pipeline/progress.py``).

:class:`CountProgress` passes a PCollection through unchanged and counts its elements at a named
checkpoint (``read``, ``enriched``, ``resolved``). Every DoFn instance keeps its running count in
its own small file under a local folder, rewritten at most once a second and at the end of each
bundle; :func:`read_counts` adds them up. Files, not metrics: the local runner reports metrics
only when the job has ended, and the worker processes of ``multi_processing`` share no memory
with the launcher. Only for runners whose workers share the launcher's disk.
"""

from __future__ import annotations

import collections
import logging
import os
import time
import uuid
from typing import Any, Iterator

import apache_beam as beam

_log = logging.getLogger(__name__)
SUFFIX = ".count"
FLUSH_SECONDS = 1.0


class _CountFn(beam.DoFn):
    def __init__(self, folder: str, checkpoint: str) -> None:
        self._folder = folder
        self._checkpoint = checkpoint

    def setup(self) -> None:
        self._path: str | None = os.path.join(self._folder, f"{self._checkpoint}.{os.getpid()}.{uuid.uuid4().hex}{SUFFIX}")
        self._count = 0
        self._written = -1
        self._last = time.monotonic()

    def process(self, element: Any) -> Iterator[Any]:
        self._count += 1
        if not self._count & 63 and time.monotonic() - self._last >= FLUSH_SECONDS:
            self._flush()
        yield element

    def finish_bundle(self) -> None:
        self._flush()

    def teardown(self) -> None:
        self._flush()

    def _flush(self) -> None:
        self._last = time.monotonic()
        if self._path is None or self._count == self._written:
            return
        try:
            tmp = f"{self._path}.tmp"
            with open(tmp, "w", encoding="ascii") as fh:
                fh.write(str(self._count))
            os.replace(tmp, self._path)
            self._written = self._count
        except OSError as exc:  # the folder is gone (the run ended) or not ours: progress only, never the run
            _log.debug("progress counts not written to %s: %s", self._folder, exc)
            self._path = None


class CountProgress(beam.PTransform):
    """Count the elements passing checkpoint ``checkpoint`` into files under ``folder``."""

    def __init__(self, folder: str, checkpoint: str) -> None:
        super().__init__()
        self._folder = folder
        self._checkpoint = checkpoint

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | "Count" >> beam.ParDo(_CountFn(self._folder, self._checkpoint))


def read_counts(folder: str) -> dict[str, int]:
    """Elements counted so far per checkpoint (files being replaced are skipped this time)."""
    counts: collections.Counter = collections.Counter()
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    for name in names:
        if not name.endswith(SUFFIX):
            continue
        try:
            with open(os.path.join(folder, name), encoding="ascii") as fh:
                counts[name.split(".", 1)[0]] += int(fh.read() or 0)
        except (OSError, ValueError):
            continue
    return dict(counts)
