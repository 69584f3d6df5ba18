"""Story vectors to the value (transforms/stories/vectors.py): weights, norms, the compact form
and the similarity computed by hand on small vectors whose weights are exact in float16, so a
changed constant, bound or branch shows (issue 21: mutation testing)."""

import math

import numpy as np
import pytest
import xxhash

from transforms.stories.features import StoryFeatures
from transforms.stories.params import StoryParams
from transforms.stories.vectors import (
    CompactVector,
    _arrays,
    _cosine,
    across_languages,
    compact,
    cross_norm,
    document_frequencies,
    epoch_hours,
    feature_hash,
    idf,
    max_gap_hours,
    packed_arrays,
    similarity,
    time_decay,
    vector_hash,
    vectorize,
    Vector,
)


def test_idf_is_smoothed_and_one_plus_the_log():
    assert idf(1, 3) == pytest.approx(math.log(2.0) + 1.0, rel=1e-15)
    assert idf(3, 3) == 1.0  # a feature of every article still weighs 1
    assert idf(0, 0) == 1.0


def test_a_vector_s_weights_and_norms_by_hand():
    features = StoryFeatures("a", "2025-01-01T00:00:00Z", (
        ("W:kestria", 3.0),  # a name: the word's key, neutral, (1 + log 3) * idf(df=1)
        ("k:TR", 1.0),       # a place: scaled like the rest but outside the unit norm
        ("w:dam", 1.0),      # a word of every article: idf 1
        ("x:none", 0.0),     # no count: no feature
        ("y:2019", 0.3),     # a sub-unit weight is kept as is; absent from df: df 1
    ), "en")
    df = {"w:kestria": 1, "k:TR": 2, "w:dam": 3}
    v = vectorize(features, df, 3)
    w_name = (1.0 + math.log(3.0)) * (math.log(2.0) + 1.0)
    w_place = 1.0 * (math.log(4.0 / 3.0) + 1.0)
    w_word = 1.0
    w_year = 0.3 * (math.log(2.0) + 1.0)
    base = w_name ** 2 + w_word ** 2 + w_year ** 2
    norm = math.sqrt(base)
    assert set(v.weights) == {"w:kestria", "k:TR", "w:dam", "y:2019"}
    assert v.weights["w:kestria"] == pytest.approx(w_name / norm, rel=1e-12)
    assert v.weights["k:TR"] == pytest.approx(w_place / norm, rel=1e-12)
    assert v.weights["w:dam"] == pytest.approx(w_word / norm, rel=1e-12)
    assert v.weights["y:2019"] == pytest.approx(w_year / norm, rel=1e-12)
    # neutral: all but lowercase words (the name, the place, the year); full: places included
    assert v.neutral == pytest.approx(math.sqrt(w_name ** 2 + w_place ** 2 + w_year ** 2) / norm, rel=1e-12)
    assert v.full == pytest.approx(math.sqrt(base + w_place ** 2) / norm, rel=1e-12)
    assert (v.id, v.published_at, v.language) == ("a", "2025-01-01T00:00:00Z", "en")


def test_a_vector_of_places_only_is_not_divided_by_zero():
    v = vectorize(StoryFeatures("p", "", (("k:TR", 2.0),)), {}, 1)
    w = (1.0 + math.log(2.0)) * (math.log(2.0 / 2.0) + 1.0)
    assert v.weights == {"k:TR": pytest.approx(w)} and v.neutral == pytest.approx(w) and v.full == pytest.approx(w)


def test_document_frequencies_count_articles_by_feature_key():
    a = StoryFeatures("a", "", (("W:kestria", 2.0), ("w:dam", 1.0)))
    b = StoryFeatures("b", "", (("w:kestria", 1.0), ("n:14", 1.0)))
    assert document_frequencies([a, b]) == ({"w:kestria": 2, "w:dam": 1, "n:14": 1}, 2)
    assert document_frequencies(iter([])) == ({}, 0)


def test_epoch_hours_reads_iso_times_and_nothing_else():
    epoch_hours.cache_clear()
    assert epoch_hours("1970-01-01T01:00:00Z") == 1.0
    assert epoch_hours("1970-01-02T00:00:00+00:00") == 24.0
    assert epoch_hours("1970-01-01T03:00:00+02:00") == 1.0
    assert epoch_hours("") is None and epoch_hours("yesterday") is None


def test_time_decay_exactly_at_and_past_the_grace_period():
    params = StoryParams(grace_hours=10.0, half_life_hours=4.0, cross_language_half_life_hours=2.0)
    t0, t10, t18 = "2025-01-01T00:00:00Z", "2025-01-01T10:00:00Z", "2025-01-01T18:00:00Z"
    assert time_decay(t0, t10, params) == 1.0
    assert time_decay(t0, t18, params) == 0.25  # 8 h past the grace: two half-lives
    assert time_decay(t18, t0, params) == 0.25  # symmetric
    assert time_decay(t0, t18, params, across=True) == 0.0625  # four of the shorter half-lives
    assert time_decay(t0, "", params) == 1.0 and time_decay("not a date", t18, params) == 1.0


def test_max_gap_hours_takes_the_longer_half_life_only_when_pairs_cross_languages():
    floor = 0.125  # log2(1 / 0.125) = 3 half-lives
    params = StoryParams(grace_hours=5.0, half_life_hours=10.0, cross_language_half_life_hours=20.0, edge_floor=floor)
    assert max_gap_hours(params) == 5.0 + 20.0 * 3
    assert max_gap_hours(StoryParams(grace_hours=5.0, half_life_hours=10.0, cross_language_half_life_hours=20.0,
                                     edge_floor=floor, cross_language=False)) == 5.0 + 10.0 * 3
    assert max_gap_hours(StoryParams(grace_hours=5.0, half_life_hours=30.0, cross_language_half_life_hours=20.0,
                                     edge_floor=floor)) == 5.0 + 30.0 * 3
    # identical articles that far apart decay to exactly the floor
    assert time_decay("2025-01-01T00:00:00Z", "2025-01-03T17:00:00Z", params, across=True) == floor


def test_feature_hashes_are_xxh3_seed_0_and_its_low_half():
    feature_hash.cache_clear()
    assert feature_hash("w:dam") == xxhash.xxh3_64_intdigest(b"w:dam")
    assert vector_hash("w:dam") == xxhash.xxh3_64_intdigest(b"w:dam") & 0xFFFFFFFF
    assert feature_hash("c:séisme") == xxhash.xxh3_64_intdigest("c:séisme".encode("utf-8"))
    assert feature_hash("w:dam") > 0xFFFFFFFF  # 64 bits (this one's high half is not zero)


def test_packed_arrays_sort_by_hash_and_sum_a_hash_that_occurs_twice():
    hashes, weights = packed_arrays(np.array([7, 3, 7, 1], dtype="<u4"), np.array([0.5, 0.25, 0.125, 1.0]))
    assert np.frombuffer(hashes, dtype="<u4").tolist() == [1, 3, 7]
    assert np.frombuffer(weights, dtype="<f2").tolist() == [1.0, 0.25, 0.625]
    # equal weights in another order: sorted stably, nothing summed
    hashes, weights = packed_arrays(np.array([9, 2], dtype="<u4"), np.array([0.5, 0.75]))
    assert np.frombuffer(hashes, dtype="<u4").tolist() == [2, 9]
    assert np.frombuffer(weights, dtype="<f2").tolist() == [0.75, 0.5]
    one = packed_arrays(np.array([4], dtype="<u4"), np.array([0.5]))
    assert one == (np.array([4], dtype="<u4").tobytes(), np.array([0.5], dtype="<f2").tobytes())


def test_arrays_end_in_a_sentinel_of_weight_zero():
    hashes, weights = _arrays(*packed_arrays(np.array([5, 2], dtype="<u4"), np.array([0.5, 0.25])))
    assert hashes.dtype == np.uint32 and hashes.tolist() == [2, 5, 0xFFFFFFFF]
    assert weights.dtype == np.float64 and weights.tolist() == [0.25, 0.5, 0.0]
    empty_h, empty_w = _arrays(b"", b"")
    assert empty_h.tolist() == [0xFFFFFFFF] and empty_w.tolist() == [0.0]


def test_cosine_of_sparse_arrays_either_way_round():
    a = _arrays(*packed_arrays(np.array([1, 2, 3], dtype="<u4"), np.array([0.5, 0.25, 0.125])))
    b = _arrays(*packed_arrays(np.array([2, 3], dtype="<u4"), np.array([0.5, 0.5])))
    assert _cosine(*a, *b) == _cosine(*b, *a) == 0.25 * 0.5 + 0.125 * 0.5
    # a sentinel is no shared feature; nor is a hash past the other's last
    c = _arrays(*packed_arrays(np.array([4], dtype="<u4"), np.array([1.0])))
    assert _cosine(*a, *c) == 0.0 and _cosine(*c, *a) == 0.0


def compact_of(hashes, weights, language="", neutral=1.0, full=1.0, cross=(), published_at=""):
    h, w = packed_arrays(np.array(hashes, dtype="<u4"), np.array(weights, dtype=np.float64))
    ch, cw = packed_arrays(np.array([c[0] for c in cross], dtype="<u4"), np.array([c[1] for c in cross]))
    return CompactVector("x", published_at, h, w, language, neutral, full, ch, cw)


# two compact vectors sharing hash 1 (0.25 * 0.25) and the place hash 9 (0.5 * 0.25): exact in float16
EN = compact_of([1, 2], [0.25, 0.5], "en", cross=[(9, 0.5)])
FR = compact_of([1, 3], [0.25, 0.5], "fr", cross=[(9, 0.25)])


def test_across_languages_needs_two_known_different_languages_and_the_setting():
    assert across_languages("en", "fr") and not across_languages("en", "en")
    assert not across_languages("", "fr") and not across_languages("en", "")
    assert not across_languages("en", "fr", StoryParams(cross_language=False))


def test_cross_norm_is_the_neutral_norm_at_least_the_floor_of_the_whole():
    assert cross_norm(0.5, 1.0) == 0.5
    assert cross_norm(0.1, 2.0) == pytest.approx(0.3 * 2.0)
    assert cross_norm(0.1, 2.0, StoryParams(neutral_floor=0.5)) == 1.0
    assert cross_norm(0.6, 2.0) == 0.6  # exactly at the floor either way


def test_the_similarity_of_two_languages_by_hand():
    # base dot 0.0625 plus the place 0.125 = 0.1875, divided by the neutral norms (1.0 each)
    assert similarity(EN, FR) == 0.1875
    assert similarity(FR, EN) == 0.1875
    assert similarity(EN, FR, StoryParams(cross_language_factor=2.0)) == 0.375
    # one language (or an unknown one, or crossing off): places take no part, no scaling
    assert similarity(EN, FR._replace(language="en")) == 0.0625
    assert similarity(EN, FR._replace(language="")) == 0.0625
    assert similarity(EN, FR, StoryParams(cross_language=False)) == 0.0625
    # the neutral norms, and the floor when a norm is small
    assert similarity(EN._replace(neutral=0.5), FR) == 0.375
    assert similarity(EN._replace(neutral=0.1), FR) == pytest.approx(0.1875 / 0.3)
    # the run's floor, on either side
    assert similarity(EN._replace(neutral=0.1), FR, StoryParams(neutral_floor=0.5)) == 0.375
    assert similarity(EN, FR._replace(neutral=0.1), StoryParams(neutral_floor=0.5)) == 0.375
    # capped at 1
    assert similarity(EN._replace(neutral=0.25), FR._replace(neutral=0.5)) == 1.0


def test_a_cross_language_dot_product_under_the_minimum_scores_zero_and_one_at_it_is_kept():
    assert similarity(EN, FR, StoryParams(cross_language_min_cosine=0.1875)) == 0.1875
    assert similarity(EN, FR, StoryParams(cross_language_min_cosine=0.19)) == 0.0
    # the minimum reads the plain dot product, before the norms scale it up
    assert similarity(EN._replace(neutral=0.5), FR, StoryParams(cross_language_min_cosine=0.2)) == 0.0


def test_the_similarity_decays_with_the_half_life_of_its_kind():
    params = StoryParams(grace_hours=0.0, half_life_hours=4.0, cross_language_half_life_hours=2.0)
    later = FR._replace(published_at="2025-01-01T04:00:00Z")
    first = EN._replace(published_at="2025-01-01T00:00:00Z")
    assert similarity(first, later, params) == 0.1875 * 0.25  # two languages: two 2 h half-lives
    assert similarity(first, later._replace(language="en"), params) == 0.0625 * 0.5  # one language


def test_compact_keeps_the_vector_s_fields_and_parts_apart():
    v = Vector("a", "2025-01-01T00:00:00Z", {"w:dam": 0.5, "k:TR": 0.25, "n:14": 0.75, "w:rare": 0.125},
               "en", 0.75, 1.25)
    c = compact(v)
    assert (c.id, c.published_at, c.language, c.neutral, c.full) == ("a", "2025-01-01T00:00:00Z", "en", 0.75, 1.25)
    base = sorted((vector_hash(f), w) for f, w in (("w:dam", 0.5), ("n:14", 0.75), ("w:rare", 0.125)))
    assert np.frombuffer(c.hashes, dtype="<u4").tolist() == [h for h, _ in base]
    assert np.frombuffer(c.weights, dtype="<f2").tolist() == [w for _, w in base]
    assert np.frombuffer(c.cross_hashes, dtype="<u4").tolist() == [vector_hash("k:TR")]
    assert np.frombuffer(c.cross_weights, dtype="<f2").tolist() == [0.25]
    # with df: features of no other article (df < 2, absent = 1) are left out, df 2 kept
    kept = compact(v, {"w:dam": 2, "k:TR": 1, "n:14": 5})
    assert sorted(np.frombuffer(kept.hashes, dtype="<u4").tolist()) == sorted([vector_hash("w:dam"), vector_hash("n:14")])
    assert kept.cross_hashes == b"" and kept.cross_weights == b""
    assert kept.neutral == 0.75 and kept.full == 1.25


def test_every_place_counts_in_the_full_norm():
    v = vectorize(StoryFeatures("a", "", (("k:TR", 1.0), ("p:123", 1.0), ("w:dam", 1.0))), {}, 1)
    w = math.log(2.0 / 2.0) + 1.0  # idf of df 1 among 1 article: 1.0
    assert v.weights == {"k:TR": w, "p:123": w, "w:dam": w}
    assert v.full == pytest.approx(math.sqrt(3.0), rel=1e-12) and v.neutral == pytest.approx(math.sqrt(2.0), rel=1e-12)


def test_two_equal_hashes_alone_are_summed_into_one():
    hashes, weights = packed_arrays(np.array([5, 5], dtype="<u4"), np.array([0.5, 0.25]))
    assert np.frombuffer(hashes, dtype="<u4").tolist() == [5]
    assert np.frombuffer(weights, dtype="<f2").tolist() == [0.75]


def test_max_gap_hours_with_a_half_life_under_an_hour_and_crossing_off():
    params = StoryParams(grace_hours=0.0, half_life_hours=0.5, cross_language=False, edge_floor=0.125)
    assert max_gap_hours(params) == 1.5
