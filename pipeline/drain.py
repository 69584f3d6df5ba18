"""Stopping a streaming job: the first SIGTERM or SIGINT drains, a second one forces.

Drain: the live pollers stop emitting (``transforms.io.watch.request_stop``), the
TestStream ends, Beam advances the watermark to +inf, the open windows fire
(files written, their seen-files parts committed) and the runner returns; the
launcher then exits 0. If that takes longer than ``streaming.drain_seconds``, or
a second signal comes, the process ends at once with status 128 + the signal
number (143 for SIGTERM, 130 for SIGINT) and a one-line message: windows not yet
committed are read again by the next job. ``os._exit`` because the runner's
threads are not daemons: a normal exit would wait for them, i.e. hang.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Callable

from transforms.io.watch import request_stop

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def forced_status(signum: int) -> int:
    """The exit status of a forced stop: what a shell reports for a process killed by ``signum``."""
    return 128 + int(signum)


class DrainOnSignal:
    """Context manager for the launcher's main thread: installs the handlers, puts the
    previous ones back on exit. ``exit`` and ``stop`` are injectable for tests."""

    def __init__(
        self,
        drain_seconds: float,
        stop: Callable[[], None] = request_stop,
        exit: Callable[[int], None] = os._exit,
    ) -> None:
        self._drain_seconds = drain_seconds
        self._stop = stop
        self._exit = exit
        self._first: int | None = None
        self._started = 0.0
        self._previous: dict[int, object] = {}
        self._timer: threading.Timer | None = None

    @property
    def draining(self) -> bool:
        return self._first is not None

    def __enter__(self) -> "DrainOnSignal":
        if threading.current_thread() is threading.main_thread():  # only there can handlers be installed
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def handle(self, signum: int, frame: FrameType | None = None) -> None:
        name = signal.Signals(signum).name
        if self._first is not None:
            self._force(signum, f"second {name} during the drain: stopped without finishing it")
            return
        self._first = signum
        self._started = time.monotonic()
        _say(
            f"newsbeam: {name}: draining (no new inputs; writing the open windows), at most "
            f"{self._drain_seconds:g} s; send it again to stop at once"
        )
        self._stop()
        self._timer = threading.Timer(self._drain_seconds, self._timed_out)
        self._timer.daemon = True
        self._timer.start()

    def _timed_out(self) -> None:
        assert self._first is not None
        self._force(self._first, f"the drain did not finish within {self._drain_seconds:g} s: stopped without it")

    def _force(self, signum: int, why: str) -> None:
        _say(f"newsbeam: error: {why}; windows not committed are read again by the next job")
        self._exit(forced_status(signum))

    def seconds(self) -> float:
        """How long the drain took so far (0 when no signal came)."""
        return time.monotonic() - self._started if self._first is not None else 0.0


def _say(line: str) -> None:
    try:
        sys.stdout.flush()
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError, RuntimeError):  # a closed pipe (or a re-entered print) must not block the stop
        pass
