"""Blocking and block scoring to the value (transforms/stories/blocks.py): which features become
block keys at the document-frequency bounds and the per-article limit, the order of a member's
keys, the window order, and exact edges at the score floor, the grace period, the window and
for remembered articles, on small vectors whose weights are exact in float16 (issue 21)."""

import numpy as np
import xxhash

from transforms.stories.blocks import (
    Member,
    Node,
    _most_specific,
    _window_order,
    block_features,
    block_keys,
    blocked,
    member_ref,
    node_of,
    score_block,
)
from transforms.stories.features import StoryFeatures
from transforms.stories.params import StoryParams
from transforms.stories.vectors import Vector, compact, feature_hash, similarity, vectorize


def test_block_keys_are_the_shared_rare_blockable_features_by_weight():
    weights = {"w:one": 0.9, "w:two": 0.8, "w:many": 0.7, "w:toomany": 0.95, "y:2019": 0.85, "n:14": 0.6,
               "d:may-4": 0.5, "c:flood": 0.4, "p:123": 0.3, "o:77": 0.2, "k:TR": 0.99}
    df = {"w:one": 1, "w:two": 2, "w:many": 10, "w:toomany": 11, "y:2019": 5, "n:14": 2, "d:may-4": 2,
          "c:flood": 2, "p:123": 2, "o:77": 2, "k:TR": 2}
    v = Vector("a", "", weights)
    params = StoryParams(max_block_size=10, block_keys_per_article=20)
    # df 1 (no other article) and df > max_block_size are no keys; years and countries never are
    assert block_keys(v, df, params) == sorted(["w:two", "w:many", "n:14", "d:may-4", "c:flood", "p:123", "o:77"])
    # the limit: the heaviest non-places; a place only when among the heaviest of all
    assert block_keys(v, df, StoryParams(max_block_size=10, block_keys_per_article=2)) == ["w:many", "w:two"]
    heavy_place = Vector("a", "", dict(weights, **{"p:123": 0.85}))
    assert block_keys(heavy_place, df, StoryParams(max_block_size=10, block_keys_per_article=2)) == [
        "p:123", "w:many", "w:two"]
    # a feature the frequencies do not list has df 1: no key
    assert block_keys(Vector("a", "", {"w:unlisted": 0.9, "w:two": 0.1}), {"w:two": 2}) == ["w:two"]
    # ties by name
    tied = Vector("t", "", {"w:b": 0.5, "w:a": 0.5, "w:c": 0.5})
    assert block_keys(tied, {"w:a": 2, "w:b": 2, "w:c": 2}, StoryParams(block_keys_per_article=2)) == ["w:a", "w:b"]


def test_a_member_s_keys_are_tightest_first_and_its_cross_keys_after():
    v = Vector("a", "2025-01-01T00:00:00Z", {"w:wide": 0.5, "w:tight": 0.25, "w:mid": 0.5, "p:9": 0.5, "o:3": 0.25})
    df = {"w:wide": 9, "w:tight": 2, "w:mid": 5, "p:9": 4, "o:3": 3}
    keys, member = blocked(v, df, StoryParams(), prior=True)
    assert keys == ("w:tight", "w:mid", "w:wide", "o:3", "p:9")
    assert np.frombuffer(member.keys, "<u8").tolist() == [feature_hash(k) for k in ("w:tight", "w:mid", "w:wide")]
    assert np.frombuffer(member.cross_keys, "<u8").tolist() == [feature_hash("o:3"), feature_hash("p:9")]
    assert member.prior is True and member.vector == compact(v, df)
    # equal df: by key
    keys, _ = blocked(Vector("b", "", {"w:b": 0.5, "w:a": 0.5}), {"w:a": 2, "w:b": 2})
    assert keys == ("w:a", "w:b")


def test_bulk_blocking_of_names_and_of_features_without_weight():
    # names (W:) are blockable words; a zero count is not part of the vector (the slow path)
    counts = (("W:kestria", 2.0), ("c:flood", 1.0), ("n:14", 1.0), ("w:dam", 1.0), ("y:2019", 0.3))
    df = {"w:kestria": 2, "c:flood": 3, "n:14": 2, "w:dam": 1, "y:2019": 2}
    f = StoryFeatures("a", "2025-01-01T00:00:00Z", counts, "en")
    keys, member = block_features(f, df, 4)
    want_keys, want = blocked(vectorize(f, df, 4), df)
    assert keys == want_keys == ("n:14", "w:kestria", "c:flood")
    assert member.keys == want.keys and member.vector.hashes == want.vector.hashes
    assert member.vector.weights == want.vector.weights and member.vector.language == "en"
    assert abs(member.vector.neutral - want.vector.neutral) < 1e-12 and abs(member.vector.full - want.vector.full) < 1e-12
    # a feature the frequencies do not list: df 1, in the bulk path as in vectorize
    unlisted = StoryFeatures("u", "", tuple(sorted(counts + (("w:unlisted", 1.0),))), "en")  # sorted, as always
    keys, member = block_features(unlisted, df, 4)
    want_keys, want = blocked(vectorize(unlisted, df, 4), df)
    assert keys == want_keys == ("n:14", "w:kestria", "c:flood")
    assert (member.keys, member.vector.hashes, member.vector.weights) == (want.keys, want.vector.hashes,
                                                                          want.vector.weights)
    assert abs(member.vector.full - want.vector.full) < 1e-12
    # with places (outside the unit norm; a place is a cross key) and a feature at max_block_size
    params = StoryParams(max_block_size=3)
    placed = StoryFeatures("p", "", tuple(sorted(counts + (("p:123", 2.0),))), "en")
    df_placed = dict(df, **{"p:123": 2})
    keys, member = block_features(placed, df_placed, 4, params)
    want_keys, want = blocked(vectorize(placed, df_placed, 4), df_placed, params)
    assert keys == want_keys and "c:flood" in keys and "p:123" in keys
    assert (member.keys, member.cross_keys, member.vector.weights, member.vector.cross_weights) == (
        want.keys, want.cross_keys, want.vector.weights, want.vector.cross_weights)
    # places only: the unit norm has nothing to divide by
    only = StoryFeatures("o", "", (("p:123", 1.0),), "en")
    assert block_features(only, df_placed, 4)[1].vector.cross_weights == blocked(
        vectorize(only, df_placed, 4), df_placed)[1].vector.cross_weights
    zero = StoryFeatures("z", "", tuple(sorted(counts + (("w:zero", 0.0),))))
    assert block_features(zero, df, 4) == blocked(vectorize(zero, df, 4), df)
    assert block_features(zero, df, 4, prior=True)[1].prior is True


def test_most_specific_cuts_at_the_limit_with_ties_by_name():
    names = ["w:a", "w:b", "w:c", "w:d", "w:e"]
    weight = np.array([0.5, 0.9, 0.5, 0.1, 0.5])
    everything = np.arange(5)
    assert _most_specific(everything, weight, names, 5) == names
    assert _most_specific(everything, weight, names, 1) == ["w:b"]
    assert _most_specific(everything, weight, names, 2) == ["w:b", "w:a"]
    assert _most_specific(everything, weight, names, 3) == ["w:b", "w:a", "w:c"]
    assert _most_specific(everything, weight, names, 4) == ["w:b", "w:a", "w:c", "w:e"]
    assert _most_specific(np.array([2, 4]), weight, names, 1) == ["w:c"]


def test_member_refs_nodes_and_the_window_order():
    assert member_ref("a") == "a" and member_ref("a", prior=True) == "a\0prior"
    assert node_of("a", None) == Node("9999-12-31T23:59:59Z", "a") == node_of("a", "")
    assert node_of("a", "2025-01-01T00:00:00Z") == Node("2025-01-01T00:00:00Z", "a")
    dated = Member(compact(Vector("x", "1970-01-01T02:00:00Z", {})), b"")
    undated = Member(compact(Vector("y", "", {})), b"")
    assert _window_order(dated) == (0, 2.0, xxhash.xxh64_intdigest(b"x"))
    assert _window_order(undated) == (1, 0.0, xxhash.xxh64_intdigest(b"y"))


# ------------------------------------------------------------------ exact edges

DF = {"w:flood": 5, "w:river": 5}


def member(id_, when, flood=0.5, river=0.5, language="", prior=False):
    return blocked(Vector(id_, when, {"w:flood": flood, "w:river": river}, language), DF, prior=prior)[1]


def edges(members, params, key="w:flood"):
    return list(score_block(key, members, params))


def test_an_edge_exactly_at_the_floor_is_kept_and_one_under_it_is_not():
    a, b = member("a", "2025-01-01T00:00:00Z"), member("b", "2025-01-01T00:00:00Z", 0.25, 0.25)  # dot 0.25
    assert edges([a, b], StoryParams(edge_floor=0.25)) == [(node_of("a", "2025-01-01T00:00:00Z"),
                                                            node_of("b", "2025-01-01T00:00:00Z"), 0.25)]
    assert edges([a, b], StoryParams(edge_floor=0.2500001)) == []


def test_scores_decay_past_the_grace_period_with_the_half_life_of_their_kind():
    params = StoryParams(grace_hours=2.0, half_life_hours=1.0, cross_language_half_life_hours=0.5, edge_floor=0.01)
    a = member("a", "2025-01-01T00:00:00Z")
    on_grace = member("b", "2025-01-01T02:00:00Z")
    later = member("c", "2025-01-01T03:00:00Z")
    assert [s for *_, s in edges([a, on_grace], params)] == [0.5]
    assert [s for *_, s in edges([a, later], params)] == [0.25]
    fr_later = member("c", "2025-01-01T03:00:00Z", language="fr")
    en = member("a", "2025-01-01T00:00:00Z", language="en")
    # two languages: the dot divided by the neutral norms (1.0 here), two of the shorter half-lives
    assert [s for *_, s in edges([en, fr_later], params)] == [0.125]


def test_edges_run_from_the_earlier_article_to_the_later_whatever_the_ids_and_undated_last():
    late = member("a", "2025-01-02T00:00:00Z")
    early = member("z", "2025-01-01T20:00:00Z")
    undated = member("b", "")
    found = edges([late, undated, early], StoryParams(window=2))
    assert sorted((x.id, y.id) for x, y, _ in found) == [("a", "b"), ("z", "a"), ("z", "b")]
    assert all(x < y for x, y, _ in found)


def test_each_member_meets_the_next_window_members_only():
    ms = [member(f"m{i}", f"2025-01-01T0{i}:00:00Z") for i in range(4)]
    assert sorted((x.id, y.id) for x, y, _ in edges(ms, StoryParams(window=1))) == [
        ("m0", "m1"), ("m1", "m2"), ("m2", "m3")]
    assert len(edges(ms, StoryParams(window=2))) == 5
    assert len(edges(ms, StoryParams(window=3))) == 6


def test_remembered_pairs_and_an_article_met_again_are_not_scored():
    old_a = member("a", "2025-01-01T00:00:00Z", prior=True)
    old_b = member("b", "2025-01-01T01:00:00Z", prior=True)
    assert edges([old_a, old_b], StoryParams()) == []
    new_c = member("c", "2025-01-01T02:00:00Z")
    assert sorted((x.id, y.id) for x, y, _ in edges([old_a, old_b, new_c], StoryParams())) == [("a", "c"), ("b", "c")]
    again = member("a", "2025-01-01T00:00:00Z")  # the remembered article read again: no edge to itself
    assert edges([old_a, again], StoryParams()) == []


def test_a_pair_is_scored_in_its_tightest_shared_block_only():
    df = {"w:flood": 5, "w:river": 3}  # river is the tighter key
    a = blocked(Vector("a", "", {"w:flood": 0.5, "w:river": 0.5}), df)[1]
    b = blocked(Vector("b", "", {"w:flood": 0.5, "w:river": 0.5}), df)[1]
    assert edges([a, b], StoryParams(), key="w:flood") == []
    assert [s for *_, s in edges([a, b], StoryParams(), key="w:river")] == [0.5]
    c = blocked(Vector("c", "", {"w:flood": 0.5}), df)[1]  # shares only flood with a
    assert [(x.id, y.id) for x, y, _ in edges([a, c], StoryParams(), key="w:flood")] == [("a", "c")]


def test_a_payload_is_blocked_as_a_new_article_unless_told():
    from transforms.stories.blocks import block_payload
    from transforms.stories.features import features_payload

    f = StoryFeatures("a", "", (("n:14", 1.0), ("w:dam", 2.0)), "en")
    df = {"n:14": 2, "w:dam": 3}
    assert block_payload(features_payload(f), df, 4)[1].prior is False
    assert block_payload(features_payload(f), df, 4, prior=True)[1].prior is True
    assert block_features(f, df, 4)[1].prior is False


def test_bulk_neutral_norm_of_a_light_neutral_part():
    # the neutral part (everything but lowercase words) weighs under 1 before normalising: a year
    # with a small count; the bulk path's neutral norm is that weight, not raised to 1
    f = StoryFeatures("a", "", (("w:dam", 2.0), ("y:2019", 0.25)), "en")
    df = {"w:dam": 2, "y:2019": 3}
    _, member = block_features(f, df, 4)
    _, want = blocked(vectorize(f, df, 4), df)
    assert abs(member.vector.neutral - want.vector.neutral) < 1e-12
    assert 0.0 < member.vector.neutral < 0.5
    # no neutral part at all: 0
    assert block_features(StoryFeatures("w", "", (("w:dam", 2.0),), "en"), df, 4)[1].vector.neutral == 0.0


def test_a_zero_count_of_a_shared_feature_takes_the_slow_path():
    # a feature other articles have (df 2) with no weight here: not part of the vector, so neither
    # a block key nor a packed hash, in the bulk path as in vectorize
    f = StoryFeatures("a", "", (("w:dam", 2.0), ("w:gone", 0.0), ("w:river", 1.0)), "en")
    df = {"w:dam": 2, "w:gone": 2, "w:river": 3}
    keys, member = block_features(f, df, 4, StoryParams(block_keys_per_article=5))
    assert keys == ("w:dam", "w:river")
    assert (keys, member) == blocked(vectorize(f, df, 4), df, StoryParams(block_keys_per_article=5))


def test_the_window_follows_time_not_ids():
    # ids in another order than the times: with a window of 1, time neighbours meet
    a, b, c = member("a", "2025-01-01T00:00:00Z"), member("b", "2025-01-01T02:00:00Z"), member("c", "2025-01-01T01:00:00Z")
    assert sorted((x.id, y.id) for x, y, _ in edges([b, c, a], StoryParams(window=1))) == [("a", "c"), ("c", "b")]


def test_a_pair_exactly_at_the_maximum_gap_is_compared():
    # grace 2 h, half-life 1 h, floor 0.25: max_gap_hours is 4, where identical articles score the floor
    params = StoryParams(grace_hours=2.0, half_life_hours=1.0, cross_language=False, edge_floor=0.25)
    one = {"w:flood": 1.0}
    a = blocked(Vector("a", "2025-01-01T00:00:00Z", one), DF)[1]
    b = blocked(Vector("b", "2025-01-01T04:00:00Z", one), DF)[1]
    c = blocked(Vector("c", "2025-01-01T04:00:01Z", one), DF)[1]
    assert edges([a, b], params) == [(node_of("a", "2025-01-01T00:00:00Z"), node_of("b", "2025-01-01T04:00:00Z"), 0.25)]
    assert edges([a, c], params) == []


def test_only_pairs_in_two_known_languages_are_scored_across():
    # factor 0.5: a pair scored across languages gets half the plain dot (neutral norms 1.0 here)
    params = StoryParams(cross_language_factor=0.5, cross_language_min_cosine=0.0, edge_floor=0.01)
    when = "2025-01-01T00:00:00Z"
    ms = [member("en1", when, language="en"), member("en2", when, language="en"),
          member("fr", when, language="fr"), member("xx", when, language="")]
    score = {(x.id, y.id) if x.id < y.id else (y.id, x.id): s for x, y, s in edges(ms, params)}
    assert score == {("en1", "en2"): 0.5, ("en1", "fr"): 0.25, ("en2", "fr"): 0.25,
                     ("en1", "xx"): 0.5, ("en2", "xx"): 0.5, ("fr", "xx"): 0.5}
    # cross-language scoring off: every pair plain
    off = {s for *_, s in edges(ms, StoryParams(cross_language=False, cross_language_factor=0.5, edge_floor=0.01))}
    assert off == {0.5}


def test_a_place_s_block_skips_pairs_sharing_another_key_whatever_its_hash():
    # feature_hash("w:k5381") read as a float64 is a NaN: the keys are compared as the uint64 they are
    df = {"w:k5381": 2, "w:other": 2, "p:123": 2}
    when = "2025-01-01T00:00:00Z"

    def placed(id_, word, language):
        return blocked(Vector(id_, when, {word: 0.5, "p:123": 0.5}, language), df)[1]

    params = StoryParams(edge_floor=0.01)
    assert edges([placed("a", "w:k5381", "en"), placed("b", "w:k5381", "fr")], params, key="p:123") == []
    assert [(x.id, y.id) for x, y, _ in edges([placed("a", "w:other", "en"), placed("b", "w:k5381", "fr")], params,
                                              key="p:123")] == [("a", "b")]


def test_pairs_across_languages_are_scored_with_the_run_s_settings():
    t0, t2 = "2025-01-01T00:00:00Z", "2025-01-01T02:00:00Z"
    # the cross-language half-life longer than the other: 0.5 (plain dot, neutral norms 1.0) halved once
    params = StoryParams(grace_hours=0.0, half_life_hours=1.0, cross_language_half_life_hours=2.0, edge_floor=0.2)
    assert [s for *_, s in edges([member("a", t0, language="en"), member("b", t2, language="fr")], params)] == [0.25]
    # the minimum cosine taken at equality (the plain dot is 0.5)
    en, fr = member("a", t0, language="en"), member("b", t0, language="fr")
    assert [s for *_, s in edges([en, fr], StoryParams(cross_language_min_cosine=0.5, edge_floor=0.01))] == [0.5]
    assert edges([en, fr], StoryParams(cross_language_min_cosine=0.5000001, edge_floor=0.01)) == []
    # the neutral floor and the factor: 0.5 * 0.5 / (0.75 * 0.75), neutral norms 0.5 raised to 0.75 of full
    light = {"w:flood": 0.5, "w:river": 0.5}
    a = blocked(Vector("a", t0, light, "en", 0.5, 1.0), DF)[1]
    b = blocked(Vector("b", t0, light, "fr", 0.5, 1.0), DF)[1]
    settings = StoryParams(neutral_floor=0.75, cross_language_factor=0.5, edge_floor=0.01)
    assert [s for *_, s in edges([a, b], settings)] == [round(0.25 / 0.5625, 6)] == [
        round(similarity(a.vector, b.vector, settings), 6)]


def test_every_pair_of_a_block_is_considered_after_one_is_passed_over():
    t = [f"2025-01-01T0{h}:00:00Z" for h in range(3)]
    # a pair scored in a tighter block first (river is tighter than flood), then pairs of this block
    df = {"w:flood": 5, "w:river": 3}
    a, b = (blocked(Vector(x, w, {"w:flood": 0.5, "w:river": 0.5}), df)[1] for x, w in (("a", t[0]), ("b", t[1])))
    c = blocked(Vector("c", t[2], {"w:flood": 0.5}), df)[1]
    assert sorted((x.id, y.id) for x, y, _ in edges([a, b, c], StoryParams())) == [("a", "c"), ("b", "c")]
    # a pair just under the floor (inside the prefilter's slack) first, then one above it
    floor = StoryParams(edge_floor=0.25 + 5e-10)
    ms = [member("a", t[0]), member("b", t[1], 0.25, 0.25), member("c", t[2])]
    assert [(x.id, y.id, s) for x, y, s in edges(ms, floor)] == [("a", "c", 0.5)]
    # a member without the block's key: its pairs are not this block's
    d = blocked(Vector("d", t[1], {"w:river": 0.5}), DF)[1]
    assert edges([member("a", t[0]), d], StoryParams()) == []


def test_a_place_s_block_goes_on_after_a_pair_sharing_another_key():
    df = {"w:k5381": 2, "w:zzz": 2, "p:123": 2}
    t = [f"2025-01-01T0{h}:00:00Z" for h in range(3)]
    a, b, c = (blocked(Vector(x, w, {word: 0.5, "p:123": 0.5}, lang), df)[1]
               for x, w, word, lang in (("a", t[0], "w:k5381", "en"), ("b", t[1], "w:k5381", "fr"),
                                        ("c", t[2], "w:zzz", "fr")))
    assert [(x.id, y.id) for x, y, _ in edges([a, b, c], StoryParams(edge_floor=0.01), key="p:123")] == [("a", "c")]


def test_chance_overlaps_across_languages_are_rejected_beside_remembered_articles():
    # plain dot 0.25 under a minimum cosine of 0.3: no edge, with or without a remembered article
    params = StoryParams(cross_language_min_cosine=0.3, edge_floor=0.01)
    when = "2025-01-01T00:00:00Z"
    for prior in (False, True):
        assert edges([member("a", when, language="en", prior=prior), member("b", when, 0.25, 0.25, "fr")], params) == []


def test_a_cross_language_score_is_at_most_one():
    # neutral norms 0.5: 0.5 / (0.5 * 0.5) is 2, kept as 1
    when = "2025-01-01T00:00:00Z"
    light = {"w:flood": 0.5, "w:river": 0.5}
    a = blocked(Vector("a", when, light, "en", 0.5, 1.0), DF)[1]
    b = blocked(Vector("b", when, light, "fr", 0.5, 1.0), DF)[1]
    assert [s for *_, s in edges([a, b], StoryParams())] == [1.0]


def test_an_article_without_places_has_no_cross_arrays_in_the_bulk_path():
    f = StoryFeatures("a", "", (("n:14", 1.0), ("w:dam", 2.0)), "en")
    vector = block_features(f, {"n:14": 2, "w:dam": 3}, 4)[1].vector
    assert (vector.cross_hashes, vector.cross_weights) == (b"", b"") and vector.hashes


def test_scores_are_rounded_to_six_places_whichever_member_comes_first():
    # 0.25 / 0.5625 (as above): a member before the other by time, and at the same time (then by a
    # hash of the id, which puts "b" first here)
    light = {"w:flood": 0.5, "w:river": 0.5}
    settings = StoryParams(neutral_floor=0.75, cross_language_factor=0.5, edge_floor=0.01)
    for later in ("2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"):
        x = blocked(Vector("a", "2025-01-01T00:00:00Z", light, "en", 0.5, 1.0), DF)[1]
        y = blocked(Vector("b", later, light, "fr", 0.5, 1.0), DF)[1]
        assert edges([x, y], settings) == [(node_of("a", "2025-01-01T00:00:00Z"), node_of("b", later), 0.444444)]


def test_cross_keys_are_tightest_first_too():
    v = Vector("a", "", {"w:word": 0.5, "o:3": 0.5, "p:9": 0.5})
    keys, member = blocked(v, {"w:word": 2, "o:3": 4, "p:9": 3})
    assert keys == ("w:word", "p:9", "o:3")
    assert np.frombuffer(member.cross_keys, "<u8").tolist() == [feature_hash("p:9"), feature_hash("o:3")]


def test_a_feature_shared_beyond_the_window_adds_to_no_pair():
    # window 1: dam is shared by the first and the fourth member only; nothing of it reaches the
    # pairs the window compares (each scores 0.25 * 0.25 of flood, under the floor)
    df = {"w:flood": 5, "w:dam": 2}
    t = [f"2025-01-01T0{h}:00:00Z" for h in range(4)]
    weights = ({"w:flood": 0.25, "w:dam": 0.5}, {"w:flood": 0.25}, {"w:flood": 0.25}, {"w:flood": 0.25, "w:dam": 0.5})
    ms = [blocked(Vector(f"m{i}", t[i], w), df)[1] for i, w in enumerate(weights)]
    assert edges(ms, StoryParams(window=1)) == []
    # the two of them side by side (in dam's block, their tightest): flood and dam, 0.0625 + 0.25
    assert [(x.id, y.id, s) for x, y, s in edges([ms[0], ms[3]], StoryParams(window=1), key="w:dam")] == [
        ("m0", "m3", 0.3125)]


def test_block_keys_with_unseen_features_counted_as_shared_read_df_as_at_least_two():
    """``unseen_shared`` gives the keys of ``df`` read as ``max(2, df)`` (a feature no other
    article has yet may be found by a later one): unseen and df-1 features are candidates,
    features over ``max_block_size`` are not, the heaviest win."""

    class AtLeastTwo(dict):
        def get(self, key, default=None):
            return max(2, dict.get(self, key, 1))

    v = Vector("a", "", {"w:unseen": 0.9, "w:one": 0.8, "w:two": 0.5, "w:many": 0.7, "n:14": 0.3, "p:123": 0.6,
                         "x:other": 0.95})
    df = {"w:one": 1, "w:two": 2, "w:many": 50, "n:14": 3, "p:123": 2}
    for params in (StoryParams(), StoryParams(max_block_size=10, block_keys_per_article=2),
                   StoryParams(max_block_size=2, block_keys_per_article=3)):
        got = block_keys(v, df, params, unseen_shared=True)
        assert got == block_keys(v, AtLeastTwo(df), params)
    assert block_keys(v, df, StoryParams(max_block_size=10, block_keys_per_article=2), unseen_shared=True) == [
        "w:one", "w:unseen"]  # w:many is over the cap, x: is no blockable prefix, the place not among the two heaviest
    assert "p:123" in block_keys(v, df, StoryParams(max_block_size=10, block_keys_per_article=3), unseen_shared=True)
    assert "w:unseen" not in block_keys(v, df)  # read as it is, an unseen feature blocks nothing
    assert block_keys(v, df, StoryParams(max_block_size=1), unseen_shared=True) == []
