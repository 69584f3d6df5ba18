"""Keep a long-running process's heap small and its garbage collector quiet (glibc, CPython).

Element buffers of a few KB come from glibc's heaps; freed, they leave holes glibc keeps,
so each runner process would hold its high-water mark for the whole run. The launcher
caps malloc's arenas (:func:`limit_malloc_arenas`) and every process hands free pages
back every few seconds (:func:`start_heap_trimmer`). A worker that has loaded its models
freezes them out of the cyclic collector's reach (:func:`settle_heap`). Switched by
``tuning.heap`` (:mod:`transforms.runtime`); measured in ``docs/performance.md#tuning``.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from typing import Callable

GC_THRESHOLDS = (100_000, 50, 100)  # generation 0 collects every 100,000 allocations, not 700
TRIM_INTERVAL_SECONDS = 2.0
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # from glibc's malloc.h

_trimmer_lock = threading.Lock()
_trimmer_started = False


def _malloc_trim() -> Callable[[], object] | None:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


def trim_heap() -> bool:
    """Hand the free pages inside glibc's heaps back to the system now; False off glibc."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim()
    return True


def start_heap_trimmer(interval: float = TRIM_INTERVAL_SECONDS) -> bool:
    """Trim the process's heaps every ``interval`` seconds from a daemon thread (once per
    process; later calls do nothing). Returns whether it runs (False off glibc)."""
    global _trimmer_started
    with _trimmer_lock:
        if _trimmer_started:
            return True
        trim = _malloc_trim()
        if trim is None:
            return False

        def loop() -> None:
            while True:
                time.sleep(interval)
                trim()

        threading.Thread(target=loop, name="newsbeam-heap-trimmer", daemon=True).start()
        _trimmer_started = True
        return True


def settle_heap() -> None:
    """Once a worker has loaded its models: freeze what is on the heap (long-lived, never
    cyclic garbage) and collect the young generation every 100,000 allocations instead of
    700. Refcounted objects are freed as before; only cycles wait a little longer.
    Idempotent and cheap. Also starts the worker's heap trimmer."""
    start_heap_trimmer()
    if gc.get_threshold() != GC_THRESHOLDS:
        gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


def quiet_collector() -> None:
    """Collect the young generation every 100,000 allocations instead of 700 (and the
    older ones as rarely), without freezing anything: for a launcher that runs the
    steps itself (Beam's streaming DirectRunner), from the start. There the full
    collections, each a pass over every object of the process, were ~30 % of the CPU
    of the story steps (ninth round, ``docs/performance.md``)."""
    if gc.get_threshold() != GC_THRESHOLDS:
        gc.set_threshold(*GC_THRESHOLDS)


_settled_once = False
_settle_lock = threading.Lock()


def settle_heap_once() -> None:
    """:func:`settle_heap` the first time in this process, nothing after: where a step's
    DoFn is set up for every bundle (the streaming DirectRunner), a freeze at each
    would put what each bundle holds then out of the collector's reach for good."""
    global _settled_once
    with _settle_lock:
        if _settled_once:
            return
        _settled_once = True
    settle_heap()


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process and the worker processes it starts
    (they read ``MALLOC_ARENA_MAX``; this process is told through ``mallopt``). An
    explicit ``MALLOC_ARENA_MAX`` wins. Returns whether the cap is in place."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return True
    os.environ["MALLOC_ARENA_MAX"] = str(arenas)
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))
