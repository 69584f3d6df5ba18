"""Per-process tables emptied, so a test computes what it checks.

:mod:`transforms.dedup.minhash` keeps its hash functions, position multipliers and token
hashes per process (:func:`~transforms.dedup.minhash.permutations`, ``Memo`` tables). A
test that only reads values an earlier test already computed cannot notice a change in
how they are computed (``make mutate`` runs every mutant in a process that has run the
tests once: every table is full of the original's values). Tests of stored values start
from empty tables; the tables refill as the code runs.
"""

from __future__ import annotations

from transforms.dedup import minhash


def forget_minhash_tables() -> None:
    """Empty the MinHash module's per-process tables (they refill on use)."""
    minhash._PERMUTATIONS.clear()
    minhash._POSITION_MULTIPLIERS.clear()
    minhash._TOKEN_HASHES.clear()
    minhash._ASCII_TOKEN_HASHES.clear()
