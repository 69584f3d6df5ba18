"""Feed entries and Pub/Sub messages in the streaming job's seen record.

Watched files are committed by path (:mod:`transforms.io.seen`); feed entries and
pulled Pub/Sub messages have no path, so each gets an *item key*, committed with
its window the same way (``{"item": key}`` lines in the window's part):

- a feed entry: ``feed:<sha256 of the feed URL and the entry's id, else link, else
  title and text>`` (hashed: a feed URL may carry a password). A restarted job, or a
  later poll of the same job, skips entries whose key is committed or already
  emitted (:class:`SkipSeenEntries`), so a re-polled feed gives only new entries
  (an entry whose content changed later keeps its id: it is not read again);
- a Pub/Sub message: its origin, ``pubsub://<subscription>/messages/<id>``. On the
  DirectRunner the live poller does not acknowledge a message when it pulls it:
  :data:`LEDGER` holds its ack id (the poller extends its deadline while the job
  runs) and :func:`settle_committed`, called by the window's commit, acknowledges it
  once the window's files are written. A message redelivered after its window was
  committed (ack lost, deadline passed during a long drain) is acknowledged and
  skipped by its key. Killed before the commit: the deadline passes and Pub/Sub
  delivers the message to the next job.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any, Callable, Iterable, Iterator

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from transforms.common.stage import namespace

__all__ = ["ITEMS", "LEDGER", "AckLedger", "SkipSeenEntries", "feed_item_key", "settle_committed"]

ITEMS = "items"  # tagged output of SkipSeenEntries: the item keys of the entries it let through
FEED_PREFIX = "feed:"
PUBSUB_PREFIX = "pubsub://"
LEASE_SECONDS = 60  # ack deadline asked for pulled messages, renewed every third of it while the job runs
DONE_KEPT_SECONDS = 3600.0  # how long this job remembers a committed message against redeliveries

_log = logging.getLogger(__name__)


def feed_item_key(raw: dict[str, Any]) -> str:
    """The item key of a RawArticle from a feed (origin ``<feed url>#entry <i>``): stable
    across polls and jobs (the entry's position in the feed is not part of it)."""
    feed = str(raw.get("origin") or "").rsplit("#entry ", 1)[0]
    ident = raw.get("external_id") or raw.get("url")
    who = f"id\n{ident}" if ident else f"text\n{raw.get('title') or ''}\n{raw.get('text') or raw.get('html') or ''}"
    return FEED_PREFIX + hashlib.sha256(f"{feed}\n{who}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


class SkipSeenEntriesFn(beam.DoFn):
    """Keyed by item key: the entry unless an earlier job committed the key or this job
    emitted it already (state per key in the global window, so every worker and bundle
    agrees); its key to the ``items`` output."""

    EMITTED = ReadModifyWriteStateSpec("emitted", BooleanCoder())

    def __init__(self, folder: str | None) -> None:
        self._folder = folder
        self._committed: set[str] = set()
        self._skipped = Metrics.counter(namespace("streaming"), "feed_entries_seen")

    def setup(self) -> None:
        from transforms.io.seen import read_items

        self._committed = read_items(self._folder) if self._folder else set()

    def process(self, element: tuple[str, dict[str, Any]], emitted=beam.DoFn.StateParam(EMITTED)) -> Iterator[Any]:
        key, raw = element
        if key in self._committed or emitted.read():
            self._skipped.inc()
            return
        emitted.write(True)
        yield raw
        yield beam.pvalue.TaggedOutput(ITEMS, key)


class SkipSeenEntries(beam.PTransform):
    """Feed RawArticles -> ``(entries not seen before, their item keys)``: a re-polled
    feed (same job, or a job restarted on the same ``--output``) gives only new entries.
    ``folder``: the seen-record folder (None: no earlier job to honour)."""

    def __init__(self, folder: str | None) -> None:
        super().__init__()
        self._folder = folder

    def expand(self, raw: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        out = (
            raw
            | "KeyByEntry" >> beam.Map(lambda r: (feed_item_key(r), r))
            | "SkipEmitted" >> beam.ParDo(SkipSeenEntriesFn(self._folder)).with_outputs(ITEMS, main="entries")
        )
        return out.entries, out[ITEMS]


class AckLedger:
    """Pulled, not yet acknowledged Pub/Sub messages of this process, by item key.

    The live poller adds what it pulls and renews the deadlines; the window commit
    settles the keys it committed (acknowledged through the ``ack`` bound by the
    poller). Thread-safe: the poller and the runner's threads share it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, str, float]] = {}  # key -> (subscription, ack id, renewed at)
        self._done: dict[str, float] = {}  # key -> committed at; forgotten after DONE_KEPT_SECONDS
        self._ack: Callable[[str, list[str]], None] | None = None
        self._clock = clock

    def bind(self, ack: Callable[[str, list[str]], None] | None) -> None:
        """Who acknowledges: ``ack(subscription, ack_ids)``."""
        self._ack = ack

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._done.clear()
            self._ack = None

    def add(self, key: str, subscription: str, ack_id: str) -> str:
        """Record a pulled message: ``"new"`` (emit it), ``"pending"`` (redelivered while
        its window is open: not again, the newer ack id kept) or ``"done"`` (committed
        already: acknowledge it, do not emit)."""
        with self._lock:
            if key in self._done:
                return "done"
            state = "pending" if key in self._pending else "new"
            self._pending[key] = (subscription, ack_id, self._clock())
            return state

    def due(self, every: float) -> dict[str, list[str]]:
        """Ack ids whose deadline was renewed more than ``every`` s ago, by subscription
        (marked renewed now). Also forgets keys committed long ago (a redelivery comes
        within an ack deadline or two; the seen record covers the next job)."""
        now, found = self._clock(), {}
        with self._lock:
            old = [k for k, at in self._done.items() if now - at > DONE_KEPT_SECONDS]
            for key in old:
                del self._done[key]
            for key, (sub, ack_id, renewed) in self._pending.items():
                if now - renewed >= every:
                    found.setdefault(sub, []).append(ack_id)
                    self._pending[key] = (sub, ack_id, now)
        return found

    def settle(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """Mark ``keys`` committed; return their ack ids by subscription."""
        found: dict[str, list[str]] = {}
        with self._lock:
            for key in keys:
                if not key.startswith(PUBSUB_PREFIX):
                    continue
                self._done[key] = self._clock()
                entry = self._pending.pop(key, None)
                if entry is not None and entry[1]:
                    found.setdefault(entry[0], []).append(entry[1])
        return found

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def acknowledge(self, keys: Iterable[str]) -> int:
        """Settle ``keys`` and acknowledge their messages; a failed acknowledgement is
        logged (the message comes back and is skipped by its committed key)."""
        acked = 0
        for sub, ids in self.settle(keys).items():
            if self._ack is None:
                continue
            try:
                self._ack(sub, ids)
                acked += len(ids)
            except Exception as exc:  # noqa: BLE001 - redelivered later, then skipped as committed
                _log.warning("cannot acknowledge %d message(s) of %s: %s: %s", len(ids), sub, type(exc).__name__, exc)
        return acked


LEDGER = AckLedger()


def settle_committed(keys: Iterable[str]) -> int:
    """The commit hook of :class:`transforms.io.seen.RecordSeenFiles`: acknowledge the
    Pub/Sub messages among ``keys`` (no-op for feed entries and on other runners)."""
    return LEDGER.acknowledge(keys)
