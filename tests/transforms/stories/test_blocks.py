"""Blocking and block scoring (transforms/stories/blocks.py): bounded cost, exact scores."""

import numpy as np
import pytest

from tests.support.story_cases import QUAKE_PE_EN, QUAKE_TR_EN, QUAKE_TR_FR, art, block_members, flood_block
from transforms.stories.blocks import block_features, block_payload, blocked, member_of, member_payload, score_block
from transforms.stories.features import article_features, feature_key, features_of, is_cross_only, story_features
from transforms.stories.params import StoryParams
from transforms.stories.spelling import word_key
from transforms.stories.vectors import (
    document_frequencies,
    feature_hash,
    max_gap_hours,
    similarity,
    time_decay,
    vectorize,
)


def test_block_payload_is_compact_primitives_that_survive_beams_default_coder():
    from apache_beam.coders.coders import FastPrimitivesCoder

    feats = [story_features(x) for x in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)]
    df, n = document_frequencies(feats)
    vector = vectorize(feats[0], df, n)
    keys, member = blocked(vector, df, prior=True)
    payload = member_payload(member)
    assert all(isinstance(x, (str, bytes, bool, float)) for x in payload)
    coder = FastPrimitivesCoder()
    encoded = coder.encode(payload)
    assert member_of(coder.decode(encoded)) == member
    shared = sum(1 for f in vector.weights if df[f] >= 2)
    assert len(encoded) <= 12 * shared + 8 * len(keys) + 64  # 8-byte hash + float32 a feature
    assert len(coder.encode((tuple(vector), tuple(keys), True))) > 2 * len(encoded)  # the dict it replaces


def test_a_block_compares_each_member_with_at_most_window_later_neighbours():
    params = StoryParams(window=3)
    articles = flood_block(15)
    members, keys = block_members(articles, params)
    shared = set.intersection(*keys)
    assert "w:" + word_key("Quelimane") in shared
    edges = [e for k in sorted(shared) for e in score_block(k, members, params)]
    order = {a["id"]: i for i, a in enumerate(articles)}  # already in time order
    assert edges and all(0 < order[b.id] - order[a.id] <= 3 for a, b, _ in edges)
    assert len(edges) == len({(a.id, b.id) for a, b, _ in edges}) <= 15 * 3


def test_pairs_beyond_the_decay_horizon_are_not_compared():
    params = StoryParams()
    gap = max_gap_hours(params)
    near = flood_block(2, hours_apart=gap * 0.5)
    far = flood_block(2, hours_apart=gap * 1.05)
    for pair, expect in ((near, 1), (far, 0)):
        members, keys = block_members(pair, params)
        shared = sorted(keys[0] & keys[1])
        assert len([e for k in shared for e in score_block(k, members, params)]) == expect


def test_every_pair_is_scored_in_one_block_only():
    params = StoryParams(window=4)
    articles = flood_block(12) + [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN]
    members, keys = block_members(articles, params)
    blocks = {}
    for m, ks in zip(members, keys):
        for k in ks:
            blocks.setdefault(k, []).append(m)
    pairs = [(a.id, b.id) for k in blocks for a, b, _ in score_block(k, blocks[k], params)]
    assert pairs and len(pairs) == len(set(pairs))


def test_bulk_blocking_gives_the_same_keys_and_members_as_vectorize_then_blocked():
    articles = [*flood_block(30), QUAKE_PE_EN]
    for params in (StoryParams(), StoryParams(block_keys_per_article=3, max_block_size=10)):
        feats = [story_features(a, params) for a in articles]
        df, n = document_frequencies(feats)
        for f in feats:
            keys, member = block_features(f, df, n, params, prior=True)
            want_keys, want = blocked(vectorize(f, df, n), df, params, prior=True)
            assert keys == want_keys
            assert (member.vector.id, member.vector.hashes, member.keys, member.prior) == (
                want.vector.id, want.vector.hashes, want.keys, want.prior)
            assert member.vector.weights == want.vector.weights


def test_window_scoring_equals_pair_by_pair_cosines_in_the_tightest_block():
    params = StoryParams(window=4, edge_floor=1e-6)
    articles = flood_block(12)
    feats = [story_features(a, params) for a in articles]
    df, n = document_frequencies(feats)
    keyed = [blocked(vectorize(f, df, n), df, params) for f in feats]
    ordered = sorted((m for _, m in keyed), key=lambda m: m.vector.published_at)  # dated, distinct times
    scored = 0
    for key in sorted({k for keys, _ in keyed for k in keys}):
        this = feature_hash(key)
        inside = [m for m in ordered if this in np.frombuffer(m.keys, "<u8").tolist()]
        want = {}
        for i, a in enumerate(inside):
            for b in inside[i + 1 : i + 1 + params.window]:
                shared = set(np.frombuffer(b.keys, "<u8").tolist())
                if next(k for k in np.frombuffer(a.keys, "<u8").tolist() if k in shared) == this:
                    want[(a.vector.id, b.vector.id)] = similarity(a.vector, b.vector, params)
        got = {(x.id, y.id): s for x, y, s in score_block(key, inside, params)}
        assert set(got) == set(want)
        for pair, score in want.items():
            assert got[pair] == pytest.approx(score, abs=1e-5)
        scored += len(got)
    assert scored >= 12 * 3  # every article met its neighbours somewhere


def test_block_payload_is_block_features_of_the_payload():
    articles = [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN, art("empty", "", "", "2025-01-01T00:00:00Z")]
    payloads = [article_features(a) for a in articles]
    df, n = document_frequencies(features_of(p) for p in payloads)
    for payload in payloads + [(*payloads[0], True)]:
        for prior in (False, True):
            assert block_payload(payload, df, n, StoryParams(), prior) == block_features(
                features_of(payload), df, n, StoryParams(), prior
            )
    assert block_payload(payloads[0], df, n)[0]  # the test compares real keys, not two empty results


def test_vectorising_reads_vector_hashes_from_its_table():
    from transforms.stories import blocks, vectors

    feats = [story_features(a) for a in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)]
    df, n = document_frequencies(feats)
    _, member = block_features(feats[0], df, n)
    keys = [feature_key(f) for f, _ in feats[0].counts]
    kept = sorted(vectors.vector_hash(k) for k in keys if df.get(k, 1) >= 2 and not is_cross_only(k))
    places = sorted(vectors.vector_hash(k) for k in keys if df.get(k, 1) >= 2 and is_cross_only(k))
    assert np.frombuffer(member.vector.hashes, "<u4").tolist() == sorted(set(kept))
    assert places and np.frombuffer(member.vector.cross_hashes, "<u4").tolist() == places
    assert all(blocks._VECTOR_HASHES[k] == vectors.vector_hash(k) for k in keys)


def test_block_scoring_is_the_pair_loop_with_time_cut_undated_members_and_remembered_pairs():
    """score_block against the loop it replaces: each member with its next ``window``
    members in time order, stopping at the first dated one beyond the decay horizon
    (the undated ones after it are not reached), remembered pairs skipped, scores
    with the time decay, pairs only in their tightest block."""
    from datetime import datetime, timedelta

    from transforms.stories.blocks import _window_order

    params = StoryParams(window=5, edge_floor=0.05)
    gap = max_gap_hours(params)
    t0 = datetime(2025, 3, 1)
    offsets = [0, 1, 2, params.grace_hours + 3, params.grace_hours + 30, 2.5 * gap, 2.5 * gap + 2, None, None, None]
    articles = []
    for i, hours in enumerate(offsets):
        when = None if hours is None else (t0 + timedelta(hours=hours)).isoformat() + "Z"
        articles.append(art(f"a{i:03d}", f"Flood in Quelimane, update {i}",
                            f"The Licungo river flooded Quelimane; {120 + i} families moved to Zambezia schools.", when))
    feats = [story_features(a, params) for a in articles]
    df, n = document_frequencies(feats)
    keyed = [blocked(vectorize(f, df, n), df, params, prior=i in (1, 2, 8)) for i, f in enumerate(feats)]
    pairs = set()
    for key in sorted({k for keys, _ in keyed for k in keys}):
        this = feature_hash(key)
        inside = sorted((m for keys, m in keyed if key in keys), key=_window_order)
        want = {}
        for i, a in enumerate(inside):
            for b in inside[i + 1 : i + 1 + params.window]:
                dated = a.vector.published_at and b.vector.published_at
                if dated and time_decay(a.vector.published_at, b.vector.published_at, params) < params.edge_floor:
                    break
                if a.prior and b.prior:
                    continue
                shared = set(np.frombuffer(b.keys, "<u8").tolist())
                if next(k for k in np.frombuffer(a.keys, "<u8").tolist() if k in shared) != this:
                    continue
                score = similarity(a.vector, b.vector, params)
                if score >= params.edge_floor:
                    want[(a.vector.id, b.vector.id)] = score
        got = {(x.id, y.id): s for x, y, s in score_block(key, reversed(inside), params)}
        assert set(got) == set(want)
        assert all(got[pair] == pytest.approx(score, abs=1e-5) for pair, score in want.items())
        pairs |= set(want)
    assert len(pairs) >= 10 and ("a000", "a003") in pairs and ("a006", "a007") in pairs
    assert ("a004", "a005") not in pairs  # beyond the horizon
    assert ("a004", "a007") not in pairs  # undated, but after one beyond the horizon: never reached
    assert ("a001", "a002") not in pairs  # both remembered


def test_block_scoring_does_not_depend_on_the_order_the_members_arrive_in():
    """Members published at the same time are put in a fixed order (a hash of the id),
    not the shuffle's: the same block gives the same edges however it is delivered."""
    import random

    params = StoryParams(window=3)
    articles = flood_block(16, hours_apart=0.0)  # all at the same time: the window order is all ties
    members, keys = block_members(articles, params)
    key = sorted(set.intersection(*keys))[0]
    expected = sorted(score_block(key, members, params))
    assert expected
    rng = random.Random(3)
    for _ in range(5):
        shuffled = members[:]
        rng.shuffle(shuffled)
        assert sorted(score_block(key, shuffled, params)) == expected


def test_places_add_cross_keys_whose_blocks_score_only_pairs_in_two_languages():
    """An article's keys of the other features are those it has without places (one
    language is blocked as before them); a place among its most specific features is a
    cross key, and a cross key's block scores only pairs in two languages that share
    no other key."""
    params = StoryParams(block_keys_per_article=4)
    articles = [  # Lviv is "Lwowie" in Polish: only the place links the two languages
        art("en-1", "Fire in Lviv", "A warehouse burned in Lviv overnight, firefighters said. Lviv roads were closed.",
            "2025-05-04T05:00:00Z"),
        art("en-2", "Lviv: warehouse fire out", "Firefighters put out the warehouse fire in Lviv, and roads reopened.",
            "2025-05-04T07:00:00Z"),
        art("pl-1", "Pożar we Lwowie", "We Lwowie w nocy płonął magazyn, podali strażacy. Ulice we Lwowie zamknięto.",
            "2025-05-04T06:00:00Z", lang="pl"),
    ]
    feats = [story_features(a, params) for a in articles]
    plain = [story_features(dict(a, places=[], organisations=[]), params) for a in articles]
    df, n = document_frequencies(feats)
    df_plain, _ = document_frequencies(plain)
    keyed = [blocked(vectorize(f, df, n), df, params) for f in feats]
    for (keys, member), f in zip(keyed, plain):
        want_keys, want = blocked(vectorize(f, df_plain, n), df_plain, params)
        assert tuple(k for k in keys if not is_cross_only(k)) == want_keys and member.keys == want.keys
        assert (member.vector.hashes, member.vector.weights) == (want.vector.hashes, want.vector.weights)
    lviv = next(k for keys, _ in keyed for k in keys if is_cross_only(k))
    inside = [m for keys, m in keyed if lviv in keys]
    assert len(inside) == 3 and all(feature_hash(lviv) in np.frombuffer(m.cross_keys, "<u8") for m in inside)
    edges = {(a.id, b.id) for a, b, _ in score_block(lviv, inside, StoryParams(edge_floor=1e-6))}
    assert edges == {("en-1", "pl-1"), ("pl-1", "en-2")}  # not en-1 with en-2: one language, other keys shared
    assert not list(score_block(lviv, [m for m in inside if m.vector.language == "en"], params))


def test_a_chance_overlap_across_languages_is_rejected_before_it_is_scaled_up():
    """Two long articles in two languages sharing only a concept and a number: their
    plain cosine is tiny, but divided by their small neutral norms it would pass the
    merge threshold. Below ``cross_language_min_cosine`` it is no edge (nor a
    similarity); a translation sharing its names, places and numbers scores as before."""
    import random

    from tests.support.story_cases import QUAKE_TR_EN, QUAKE_TR_FR

    rng = random.Random(5)

    def salad(n):
        return " ".join("".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(n))

    en = art("en", "Tariffs", f"{salad(80)} sanctions 1,450 {salad(80)}.", "2025-05-04T05:00:00Z")
    fr = art("fr", "Tarifs", f"{salad(80)} sanctions 1 450 {salad(80)}.", "2025-05-04T06:00:00Z", lang="fr")
    off, on = StoryParams(cross_language_min_cosine=0.0), StoryParams()
    members, keys = block_members([en, fr], on)
    shared = sorted(keys[0] & keys[1])
    assert "c:sanctions" in shared
    plain = similarity(members[0].vector, members[1].vector, StoryParams(cross_language=False))
    assert plain < on.cross_language_min_cosine
    scaled = [s for k in shared for _, _, s in score_block(k, members, off)]
    assert len(scaled) == 1 and scaled[0] > on.threshold  # what the neutral norms made of it
    assert not [e for k in shared for e in score_block(k, members, on)]
    assert similarity(members[0].vector, members[1].vector, on) == 0.0
    members, keys = block_members([QUAKE_TR_EN, QUAKE_TR_FR], on)
    for k in sorted(keys[0] & keys[1]):
        assert list(score_block(k, members, on)) == list(score_block(k, members, off))
    assert similarity(members[0].vector, members[1].vector, on) == similarity(members[0].vector, members[1].vector, off) > 0.5


def test_block_payload_keys_are_block_payloads_keys():
    """The keys alone (streaming routing) are the keys :func:`block_payload` gives, in its
    order, for articles with and without places, under frequencies of few and many."""
    from bench.streamstories import articles
    from transforms.stories.blocks import block_payload_keys
    from transforms.stories.features import features_payload

    payloads = [features_payload(story_features(a)) for a in articles(300, seed=5)]
    payloads += [features_payload(story_features(a)) for a in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)]
    feats = [features_of(p) for p in payloads]
    for df, n in (document_frequencies(feats), document_frequencies(feats[:20])):
        for params in (StoryParams(), StoryParams(block_keys_per_article=4, max_block_size=30)):
            got = [block_payload_keys(p, df, n, params) for p in payloads]
            assert got == [block_payload(p, df, n, params)[0] for p in payloads]
            assert sum(map(len, got)) > len(payloads)  # keys were found: not a comparison of empty tuples
