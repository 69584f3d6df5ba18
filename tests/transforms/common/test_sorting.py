"""A stable sort order by a plain sort of packed keys (transforms/common/sorting.py)."""

import numpy as np
import pytest

from transforms.common.sorting import stable_order


@pytest.mark.parametrize("dtype", ["<u4", "<i8", "<u8"])
@pytest.mark.parametrize("n", [0, 1, 2, 17, 5000])
def test_the_order_is_numpys_stable_argsort(dtype, n):
    rng = np.random.default_rng(n)
    pool = rng.integers(0, 2**32, size=max(1, n // 4), dtype=np.uint64)
    values = pool[rng.integers(0, len(pool), size=n)].astype(dtype)
    values[: n // 10] = 2**32 - 1  # the largest that fits, repeated
    order, ordered = stable_order(values)
    expected = np.argsort(values, kind="stable")
    assert np.array_equal(order, expected) and np.array_equal(ordered, values[expected])
    assert ordered.dtype == values.dtype


@pytest.mark.parametrize("values", [np.array([3, -1, 3, 0], dtype=np.int64), np.array([2**32, 5, 2**32], dtype=np.int64),
                                    np.array([0.5, 0.25, 0.5])])
def test_values_that_do_not_fit_below_32_bits_take_numpys_stable_argsort(values):
    order, ordered = stable_order(values)
    assert np.array_equal(order, np.argsort(values, kind="stable"))
    assert np.array_equal(ordered, values[order])
