"""The progress line of a long local run, on stderr: articles read, the rate, the stage.

``newsbeam: 0:01:10  52,300 articles read (747/s), 51,900 enriched, 0 resolved  [reading and enriching]``

Nothing is printed in the first :data:`FIRST_AFTER` seconds (short runs stay quiet); then on a
terminal the line is redrawn every second, in a log (not a terminal) a new line every
:data:`LOG_EVERY` seconds (``NEWSBEAM_PROGRESS_EVERY`` in the environment, default 30). ``-q`` turns it off. The counts come from
:mod:`transforms.common.progress` checkpoints that ``build_pipeline`` adds when
``config.progress_dir`` is set.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from typing import TextIO

from transforms.common.progress import read_counts

FIRST_AFTER = 5.0
LOG_EVERY = float(os.environ.get("NEWSBEAM_PROGRESS_EVERY", 30))  # seconds between lines in a log
TICK = min(1.0, LOG_EVERY)  # a line every LOG_EVERY seconds needs a look at least that often
CHECKPOINTS = ("read", "enriched", "resolved")


def stage_of(counts: dict[str, int], previous: dict[str, int]) -> str:
    """What the run is doing, from the checkpoint counts now and a tick ago: enriching while
    fewer articles are enriched than read or the counts still move, then duplicates and stories
    (the groupings: no checkpoint moves), then writing once articles come out resolved."""
    read, enriched = counts.get("read", 0), counts.get("enriched", 0)
    if counts.get("resolved", 0):
        return "marking duplicates, writing"
    if read and enriched >= read and counts == previous:
        return "finding duplicates and stories"
    return "reading and enriching"


def progress_line(elapsed: float, counts: dict[str, int], stage: str) -> str:
    read = counts.get("read", 0)
    rate = read / elapsed if elapsed > 0 else 0.0
    rate_text = f"{rate:,.0f}" if rate >= 10 or rate == 0 else f"{rate:.1f}"
    seconds = int(elapsed)
    clock = f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
    return (
        f"newsbeam: {clock}  {read:,} articles read ({rate_text}/s), {counts.get('enriched', 0):,} enriched, "
        f"{counts.get('resolved', 0):,} resolved  [{stage}]"
    )


class ProgressLine:
    """While a run is going: a folder for the counts, and a thread that prints the line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.folder = tempfile.mkdtemp(prefix="newsbeam-progress-")
        self._stream = stream or sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="newsbeam-progress", daemon=True)
        self._started = time.monotonic()
        self._drawn = False

    def __enter__(self) -> "ProgressLine":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._drawn and self._tty:
            self._stream.write("\n")
            self._stream.flush()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _loop(self) -> None:
        previous: dict[str, int] = {}
        last_print = 0.0
        while not self._stop.wait(TICK):
            elapsed = time.monotonic() - self._started
            counts = read_counts(self.folder)
            stage = stage_of(counts, previous)
            previous = counts
            if elapsed < min(FIRST_AFTER, LOG_EVERY) or (not self._tty and elapsed - last_print < LOG_EVERY):
                continue
            line = progress_line(elapsed, counts, stage)
            try:
                if self._tty:
                    self._stream.write("\r\033[K" + line)
                else:
                    self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):  # stderr closed: progress is never worth a failure
                return
            self._drawn = True
            last_print = elapsed
