"""MinHash edges and boundaries: band choice at its limits, empty and one-shingle sets,
seeds and sizes other than the defaults, the arguments refused, and hashes that do
not depend on the integer type a signature is held in (values users store:
tests/transforms/test_pinned_values.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.fresh import forget_minhash_tables
from transforms.dedup.minhash import (
    Sketcher,
    band_hashes,
    band_keys,
    candidate_probability,
    choose_bands,
    exact_jaccard,
    minhash,
    permutations,
    shingles,
    signature_bytes,
    signature_of,
    tokens,
    verify,
)

TEXT = (
    "Rescue teams reached the flooded villages in the north of the province on Wednesday, two days "
    "after the dam gave way, and began to evacuate families who had spent the nights on their roofs."
)


@pytest.fixture(autouse=True)
def _fresh_tables():
    forget_minhash_tables()


@pytest.mark.parametrize(
    ("threshold", "num_perm", "expected"),
    [
        # the docstring's examples for 128 permutations
        (0.5, 128, (35, 3)), (0.6, 128, (19, 3)), (0.7, 128, (17, 4)), (0.8, 128, (16, 6)),
        (0.05, 128, (90, 1)),  # only one row per band reaches 99 %: 90 of them, not all 128
        (0.9999, 128, (1, 100)),  # one band of 100 rows is the most selective that reaches 99 %
        (0.352, 70, (35, 2)),  # every band the permutations allow (70 // 2)
        (0.01, 16, (16, 1)),  # nothing reaches 99 %: all permutations, one row each
    ],
)
def test_band_choice_at_its_limits(threshold, num_perm, expected):
    bands, rows = choose_bands(threshold, num_perm)
    assert (bands, rows) == expected
    assert bands * rows <= num_perm


def test_band_choice_takes_a_probability_exactly_at_the_recall():
    # 4 permutations, threshold 0.5: one band of one row is a candidate with probability 0.5 exactly
    assert candidate_probability(0.5, 1, 1) == 0.5
    assert choose_bands(0.5, 4, min_recall=0.5) == (1, 1)


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5, -0.2])
def test_band_choice_refuses_a_threshold_outside_the_open_interval(threshold):
    with pytest.raises(ValueError, match=rf"threshold must be between 0 and 1, got {threshold}"):
        choose_bands(threshold, 128)


def test_band_hashes_take_every_permutation_and_refuse_more():
    signature = Sketcher()(TEXT)
    assert len(band_hashes(signature, 16, 8)) == 16  # 16 * 8 = 128: the whole signature
    with pytest.raises(ValueError, match=r"bands\*rows = 130 exceeds the signature length 128"):
        band_hashes(signature, 65, 2)


def test_stored_forms_do_not_depend_on_the_integer_type_holding_the_signature():
    signature = Sketcher()(TEXT)
    wide = signature.astype(np.int64)  # e.g. read back from JSON numbers
    assert signature_bytes(wide) == signature_bytes(signature)
    assert band_keys(wide, 16, 8) == band_keys(signature, 16, 8)
    assert np.array_equal(signature_of(signature_bytes(wide)), signature)


def test_exact_jaccard_of_empty_sets():
    one, some = shingles("a b c d e"), shingles(TEXT)
    empty = shingles("")
    assert exact_jaccard(empty, empty) == 1.0
    for a, b in ((empty, some), (some, empty), (empty, one), (one, empty)):
        assert exact_jaccard(a, b) == 0.0
    assert exact_jaccard(some, some) == 1.0


def test_an_empty_set_has_the_all_ones_signature_and_an_empty_text_no_shingles():
    empty = shingles("  ,;  ")
    assert empty.size == 0 and empty.dtype == np.uint64
    signature = minhash(empty, num_perm=16)
    assert signature.dtype == np.uint32 and signature.tolist() == [0xFFFFFFFF] * 16


def test_one_shingle_gets_a_real_signature():
    # fewer tokens than k: one shingle of all of them; with min_shingles=1 it is sketched
    one = shingles("Markets fall")
    assert one.size == 1
    signature = Sketcher(min_shingles=1)("Markets fall")
    assert signature is not None and signature.dtype == np.uint32 and signature.size == 128
    assert 0xFFFFFFFF not in signature.tolist()
    assert np.array_equal(signature, minhash(one))
    assert verify(signature, Sketcher(min_shingles=1)("Markets rise")) < 0.1


def test_a_repeated_phrase_has_each_shingle_once():
    assert shingles("again " * 1000).size == 1
    assert shingles("one two three four five " * 200).size == 5


def test_shingles_of_one_word_each():
    assert shingles("a b a c", k=1).size == 3
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        shingles("a b c", k=0)


def test_the_sketch_uses_its_own_k_seed_and_size():
    default = Sketcher(min_shingles=5)(TEXT)
    for kwargs in ({"k": 3}, {"seed": 7}, {"num_perm": 64}):
        other = Sketcher(min_shingles=5, **kwargs)(TEXT)
        args = {"num_perm": kwargs.get("num_perm", 128), "seed": kwargs.get("seed", 1)}
        assert np.array_equal(other, minhash(shingles(TEXT, kwargs.get("k", 5)), **args))
        assert other.size == args["num_perm"]
        if "num_perm" in kwargs:  # hash function i is the same whatever their number
            assert np.array_equal(other, default[:64])
        else:
            assert not np.array_equal(other, default)


def test_minhash_of_the_hashes_as_a_list_is_that_of_the_array():
    sh = shingles(TEXT)
    assert sh.max() > 2**63  # hashes over the int64 range: a list of them must still be read as uint64
    assert np.array_equal(minhash(sh.tolist()), minhash(sh))


def test_minhash_with_a_seed_other_than_the_default():
    sh = shingles(TEXT)
    assert not np.array_equal(minhash(sh, seed=7), minhash(sh))
    assert np.array_equal(minhash(sh, seed=7), minhash(sh, perms=permutations(128, 7)))


def test_the_shortest_text_sketched_has_exactly_min_shingles_shingles():
    words = tokens(TEXT)
    at, below = " ".join(words[:24]), " ".join(words[:23])  # 20 and 19 five-word shingles
    assert shingles(at).size == 20 and shingles(below).size == 19
    assert Sketcher(min_shingles=20)(at) is not None
    assert Sketcher(min_shingles=20)(below) is None


def test_one_permutation_is_a_signature_and_none_is_refused():
    signature = Sketcher(num_perm=1, min_shingles=5)(TEXT)
    assert signature.size == 1 and verify(signature, signature) == 1.0
    assert len(permutations(1).a) == 1
    with pytest.raises(ValueError, match="num_perm must be >= 1, got 0"):
        permutations(0)


def test_signatures_of_different_sizes_are_not_compared():
    a, b = Sketcher(num_perm=128)(TEXT), Sketcher(num_perm=64)(TEXT)
    with pytest.raises(ValueError, match=r"signatures differ in shape: \(128,\) vs \(64,\)"):
        verify(a, b)
    with pytest.raises(ValueError, match="signatures differ in shape"):
        verify(a[:0], b[:0])
