"""A stable sort order of small non-negative integers, found by a plain sort.

``np.argsort(values, kind="stable")`` of uint32 or int64 arrays is numpy's merge or tim
sort; packing each value with its position below it into one uint64 makes every key
distinct, so numpy's default (SIMD) sort of the keys gives the same order several times
faster (measured in docs/performance.md, "Ninth round: per-article CPU").
"""

from __future__ import annotations

import numpy as np

_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)


def stable_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, values[order])`` with ``order == np.argsort(values, kind="stable")``, for a
    1-D array of integers in ``[0, 2**32)`` (other arrays: numpy's stable argsort)."""
    n = len(values)
    fits = values.dtype.kind == "u" and values.dtype.itemsize <= 4 or (
        values.dtype.kind in "iu" and (n == 0 or (int(values.min()) >= 0 and int(values.max()) <= 0xFFFFFFFF))
    )
    if not fits or n > 0xFFFFFFFF:
        order = np.argsort(values, kind="stable")
        return order, values[order]
    key = values.astype(np.uint64)
    key <<= _SHIFT
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    order = (key & _LOW).astype(np.intp)
    key >>= _SHIFT
    return order, key.astype(values.dtype)
