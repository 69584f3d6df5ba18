"""Live inputs for ``--streaming``: watched file patterns and feeds polled on a schedule.

Two interchangeable sources produce the same PCollection of ``(kind, value)``
pairs, timestamped at discovery: ``("file", path)``, ``("feed", url)`` and
``("error", reason)`` (a pattern that cannot be listed: it becomes a dead
letter, never a crash):

- :class:`WatchInputs` with ``live_feeder=False`` uses Beam's own unbounded
  transforms, ``fileio.MatchContinuously`` (one per pattern) and
  ``PeriodicImpulse`` for feed polls: for Dataflow, Flink, Prism.
- With ``live_feeder=True`` (the Python DirectRunner) the same polling runs in
  :class:`LivePoller`, served to a ``TestStream`` over Beam's own
  ``TestStreamServiceController`` (the mechanism Interactive Beam uses to
  replay unbounded sources). The Python DirectRunner cannot run
  ``PeriodicImpulse``/``MatchContinuously`` in streaming mode (its SDF
  overrides leave a batch GroupByKey in place and it ignores
  ``defer_remainder``), and an SDF there holds the watermark at -infinity
  while it runs, so no window would ever close. The poller advances the
  watermark to the wall clock after every poll, so windows close on time.

Stopping (DirectRunner): :func:`request_stop` (the launcher's SIGTERM/SIGINT
handler calls it) ends every live poller's iteration at its next wait, without
listing again; the TestStream then ends, Beam advances the watermark to +inf,
every open window fires and the runner finishes. Files already emitted are
drained; files not emitted yet were never seen and are read by the next job.
With ``seen`` (a folder of :mod:`transforms.io.seen`), files an earlier job
committed are not emitted again.

Pure part: :func:`ready_files` decides which listed files to emit.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.common.unicode import valid_unicode
from transforms.io.read import path_element
from transforms.io.seen import SkipSeenFiles, read_seen

_log = logging.getLogger(__name__)

FILE = "file"
FEED = "feed"
ERROR = "error"

_STOP = threading.Event()  # set once per process: the job is draining (see request_stop)


def request_stop() -> None:
    """Make every live poller of this process stop emitting and end (safe from a signal handler)."""
    _STOP.set()


def poll_until_stopped(
    poll_once: Callable[[], tuple[float, list[tuple[str, str]]]],
    poll_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None] | None,
    stop: threading.Event,
) -> Iterator[tuple[float, list[tuple[str, str]]]]:
    """Yield ``poll_once()`` every ``poll_seconds`` until ``stop`` is set; the wait
    between polls ends early when it is (``sleep``, if given, replaces that wait)."""
    while not stop.is_set():
        started = clock()
        yield poll_once()
        pause = max(0.0, poll_seconds - (clock() - started))
        if sleep is None:
            stop.wait(pause)
        else:
            sleep(pause)


@dataclasses.dataclass(frozen=True)
class Listing:
    """One observation of a file: size and modification time."""

    size: int
    mtime: float


def ready_files(
    listing: dict[str, Listing],
    previous: dict[str, Listing],
    emitted: set[str],
    now: float,
    settle_seconds: float,
) -> list[str]:
    """Paths to emit now: not emitted before, and finished being written.

    A file counts as finished when it looked the same at the previous poll, or
    when it was last modified at least ``settle_seconds`` ago (a file moved
    into the folder whole). A file that changes after it was emitted is not
    read again (it would duplicate its articles).
    """
    ready = []
    for path, seen in sorted(listing.items()):
        if path in emitted:
            continue
        if previous.get(path) == seen or now - seen.mtime >= settle_seconds:
            ready.append(path)
    return ready


def list_patterns(patterns: Sequence[str]) -> tuple[dict[str, Listing], list[str]]:
    """Every file matching ``patterns`` and the readable errors of patterns that failed."""
    listing: dict[str, Listing] = {}
    errors = []
    for pattern in patterns:
        try:
            for result in FileSystems.match([pattern]):
                for m in result.metadata_list:
                    listing[m.path] = Listing(int(m.size_in_bytes), float(m.last_updated_in_seconds or 0.0))
        except Exception as exc:  # noqa: BLE001 - becomes a dead letter with the reason
            errors.append(f"cannot list '{pattern}': {type(exc).__name__}: {exc}".splitlines()[0])
    return listing, errors


class LivePoller:
    """Polls patterns and feeds forever; yields ``(timestamp seconds, [(kind, value), ...])``.

    ``clock`` and ``sleep`` are injectable so tests can drive it without waiting;
    ``stop`` (default: the process-wide one of :func:`request_stop`) ends the
    iteration; ``seen`` is the folder of paths committed by earlier jobs, loaded
    at the first poll and never emitted.
    """

    def __init__(
        self,
        patterns: Sequence[str],
        feeds: Sequence[str],
        poll_seconds: float,
        feed_poll_seconds: float,
        settle_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
        seen: str | None = None,
    ) -> None:
        self._patterns = list(patterns)
        self._feeds = list(feeds)
        self._poll = poll_seconds
        self._feed_poll = feed_poll_seconds
        self._settle = settle_seconds
        self._clock = clock
        self._sleep = sleep
        self._stop = _STOP if stop is None else stop
        self._seen_folder = seen
        self._previous: dict[str, Listing] = {}
        self._emitted: set[str] = set()
        self._reported: set[str] = set()
        self._next_feed_poll = 0.0

    @property
    def stop(self) -> threading.Event:
        return self._stop

    def poll_once(self) -> tuple[float, list[tuple[str, str]]]:
        if self._seen_folder is not None:  # at run time, not while the graph is built
            self._emitted |= read_seen(self._seen_folder)
            self._seen_folder = None
        now = self._clock()
        items: list[tuple[str, str]] = []
        if self._patterns:
            listing, errors = list_patterns(self._patterns)
            for error in errors:
                if error not in self._reported:  # one dead letter per distinct failure, not one per poll
                    self._reported.add(error)
                    items.append((ERROR, valid_unicode(error)[0]))
            for path in ready_files(listing, self._previous, self._emitted, now, self._settle):
                self._emitted.add(path)
                items.append((FILE, path_element(path)))  # type: ignore[arg-type]
            self._previous = listing
        if self._feeds and now >= self._next_feed_poll:
            self._next_feed_poll = now + self._feed_poll
            items.extend((FEED, url) for url in self._feeds)
        return now, items

    def __iter__(self) -> Iterator[tuple[float, list[tuple[str, str]]]]:
        return poll_until_stopped(self.poll_once, self._poll, self._clock, self._sleep, self._stop)


ELEMENT_CODER = beam.coders.TupleCoder([beam.coders.StrUtf8Coder(), beam.coders.StrUtf8Coder()])


class _PollerEvents:
    """The reader a ``TestStreamServiceController`` serves: poll results as
    TestStream events (elements at the poll time, then the watermark)."""

    def __init__(self, poller: LivePoller) -> None:
        self._poller = poller

    def read_multiple(self, unused_specs: Any) -> Iterator[Any]:
        from apache_beam.portability.api import beam_runner_api_pb2

        payload = beam_runner_api_pb2.TestStreamPayload
        for now, items in self._poller:
            micros = int(now * 1_000_000)
            if items:
                yield payload.Event(
                    element_event=payload.Event.AddElements(
                        tag="None",
                        elements=[
                            payload.TimestampedElement(encoded_element=ELEMENT_CODER.encode(i), timestamp=micros)
                            for i in items
                        ],
                    )
                )
            yield payload.Event(watermark_event=payload.Event.AdvanceWatermark(tag="None", new_watermark=micros))


_SERVERS: list[Any] = []
_SERVERS_LOCK = threading.Lock()


def start_live_feeder(poller: Any) -> str:
    """Serve ``poller`` (an iterable of poll results) as a TestStream event service
    on localhost; return its endpoint. The server lives until :func:`stop_live_feeders`.
    """
    from apache_beam.testing.test_stream_service import TestStreamServiceController

    controller = TestStreamServiceController(_PollerEvents(poller))
    controller.start()
    with _SERVERS_LOCK:
        _SERVERS.append(controller)
    return controller.endpoint


def stop_live_feeders() -> None:
    """Shut down the event services of this process (after the job has ended)."""
    with _SERVERS_LOCK:
        servers, _SERVERS[:] = list(_SERVERS), []
    for controller in servers:
        controller.stop()


class _StartFeeder(beam.PTransform):
    """TestStream reading from a live poller started when the graph is expanded."""

    def __init__(self, poller_args: dict) -> None:
        super().__init__()
        self._poller_args = poller_args

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        from apache_beam.testing.test_stream import TestStream

        endpoint = start_live_feeder(LivePoller(**self._poller_args))
        return pbegin | "LiveEvents" >> TestStream(coder=ELEMENT_CODER, endpoint=endpoint)


class WatchInputs(beam.PTransform):
    """Apply to the pipeline root: an unbounded PCollection of ``(kind, value)``.

    ``patterns`` are listed every ``poll_seconds``; each new file is emitted once.
    ``feeds`` are emitted every ``feed_poll_seconds`` (the poll itself is
    ``transforms.io.poll``'s job, with its conditional GET memory).
    """

    def __init__(
        self,
        patterns: Iterable[str],
        feeds: Iterable[str],
        *,
        poll_seconds: float = 5.0,
        feed_poll_seconds: float = 300.0,
        settle_seconds: float = 1.0,
        live_feeder: bool = True,
        seen: str | None = None,
    ) -> None:
        super().__init__()
        self._patterns = list(patterns)
        self._feeds = list(feeds)
        self._poll = poll_seconds
        self._feed_poll = feed_poll_seconds
        self._settle = settle_seconds
        self._live_feeder = live_feeder
        self._seen = seen

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        if self._live_feeder:
            return pbegin | "PollLive" >> _StartFeeder(
                dict(
                    patterns=self._patterns,
                    feeds=self._feeds,
                    poll_seconds=self._poll,
                    feed_poll_seconds=self._feed_poll,
                    settle_seconds=self._settle,
                    seen=self._seen,
                )
            )
        from apache_beam.io import fileio
        from apache_beam.transforms.periodicsequence import PeriodicImpulse

        parts = []
        for i, pattern in enumerate(self._patterns):
            parts.append(
                pbegin
                | f"MatchContinuously{i}" >> fileio.MatchContinuously(pattern, interval=self._poll)
                | f"FilePath{i}" >> beam.Map(lambda m: (FILE, path_element(m.path)))
            )
        if self._feeds:
            feeds = list(self._feeds)
            parts.append(
                pbegin
                | "FeedSchedule" >> PeriodicImpulse(fire_interval=self._feed_poll)
                | "FeedUrls" >> beam.FlatMap(lambda _: [(FEED, u) for u in feeds])
            )
        watched = parts | "FlattenWatched" >> beam.Flatten()
        if self._seen is None:
            return watched
        return watched | "SkipSeenFiles" >> beam.ParDo(SkipSeenFiles(self._seen))
