"""Stories across streaming windows, without Beam (transforms/stories/windows.py)."""

import pickle

from tests.support.story_cases import QUAKE_PE_EN, QUAKE_TR_DE, QUAKE_TR_EN, QUAKE_TR_FR, art, flood_block
from transforms.stories.blocks import block_payload, member_payload
from transforms.stories.features import article_features
from transforms.stories.find import story_roots
from transforms.stories.params import StoryParams
from transforms.stories.vectors import epoch_hours
from transforms.stories.windows import (
    FrequencyMemory,
    Held,
    Proposal,
    Rooted,
    RootMemory,
    Stored,
    all_expired,
    block_candidates,
    block_step,
    choose_root,
    expire_block,
    feature_names,
    in_windows,
    resolve_root,
    pack_block,
    pack_held,
    pack_roots,
    split_names,
    stream_memory,
    stream_story_roots,
    unpack_block,
    unpack_roots,
)



def test_a_story_grows_over_three_windows_and_keeps_the_first_articles_id():
    roots = stream_story_roots([[QUAKE_TR_EN], [QUAKE_TR_FR], [QUAKE_PE_EN, QUAKE_TR_DE]])
    assert roots["tr-en"] == roots["tr-fr"] == roots["tr-de"] == "tr-en"
    assert roots["pe-en"] == "pe-en"


def test_streaming_gives_the_batch_stories_on_a_small_set():
    articles = [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN, QUAKE_TR_DE, *flood_block(5)]
    ordered = sorted(articles, key=lambda a: a["published_at"])
    batch = story_roots(ordered)
    for size in (1, 3, len(ordered)):
        assert stream_story_roots(in_windows(ordered, size)) == batch, size


def test_duplicates_take_their_originals_story_even_windows_later():
    copy = art("copy", "Quake", QUAKE_TR_FR["text"], "2025-04-23T12:00:00Z", duplicate_of="tr-fr")
    roots = stream_story_roots([[QUAKE_TR_EN], [QUAKE_TR_FR], [copy]])
    assert roots["copy"] == "tr-en"


def test_frequency_memory_counts_an_article_once_and_forgets_old_buckets():
    memory = FrequencyMemory()
    memory.add("a", ["w:x", "w:y"], bucket=0)
    memory.add("a", ["w:x", "w:y"], bucket=0)  # delivered again
    memory.add("b", ["w:x"], bucket=3)
    assert memory.frequencies(["w:x", "w:y", "w:z"]) == {"w:x": 2, "w:y": 1, "w:z": 0}
    assert memory.n == 2
    assert memory.expire(oldest_kept=1) == 1
    assert memory.frequencies(["w:x", "w:y"]) == {"w:x": 1, "w:y": 0}
    assert memory.n == 1 and memory.oldest() == 3
    assert pickle.loads(pickle.dumps(memory)).frequencies(["w:x"]) == {"w:x": 1}


def test_every_shard_gets_every_article_and_each_name_lands_in_one_shard():
    names = feature_names(article_features(QUAKE_TR_EN))
    parts = split_names(names, 4)
    assert len(parts) == 4
    assert sorted(n for part in parts for n in part) == sorted(names)
    assert split_names(names, 4) == parts  # deterministic


def _members(*articles, params=StoryParams()):
    payloads = [article_features(a, params) for a in articles]
    df: dict = {}
    for p in payloads:
        for name in feature_names(p):
            df[name] = df.get(name, 0) + 1
    return {p[0]: block_payload(p, df, len(payloads), params) for p in payloads}


def _held(article_id, article, member, at):
    return Held(article_id, article["published_at"], at, member_payload(member))


def test_a_block_wants_the_remembered_member_proposes_its_story_and_remembers_the_newcomer_in_it():
    blocked = _members(QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)
    keys_en, member_en = blocked["tr-en"]
    keys_fr, member_fr = blocked["tr-fr"]
    key = sorted(set(keys_en) & set(keys_fr))[0]
    stored = [Stored("tr-en", epoch_hours(QUAKE_TR_EN["published_at"]), 10.0)]
    wanted, again, memory = block_candidates(stored, [("tr-fr", QUAKE_TR_FR["published_at"])], 20.0)
    assert wanted == ["tr-en"] and not again
    assert [(s.id, s.stored_at) for s in memory] == [("tr-en", 10.0), ("tr-fr", 20.0)]
    rooted = [Rooted("tr-en", "tr-en", 10.0)]
    proposals, roots = block_step(key, rooted, [_held("tr-en", QUAKE_TR_EN, member_en, 10.0)],
                                  [member_payload(member_fr)], 20.0)
    assert [(p.article_id, p.root) for p in proposals] == [("tr-fr", "tr-en")]
    assert proposals[0].links and proposals[0].links[0][0] == "tr-en"
    assert roots == [Rooted("tr-en", "tr-en", 10.0), Rooted("tr-fr", "tr-en", 20.0)]
    wanted, again, same = block_candidates(memory, [("tr-fr", QUAKE_TR_FR["published_at"])], 30.0)  # again
    assert (wanted, again, same) == ([], {"tr-fr"}, memory)
    assert block_step(key, roots, [], [member_payload(member_fr)], 30.0) == ([], roots)
    assert [s.id for s in expire_block(memory, 10.0 + 15.0, retention_seconds=15.0)] == ["tr-fr"]


def test_a_block_wants_only_the_time_neighbours_of_its_new_members():
    params = StoryParams(window=2)
    stored = [Stored(f"m{i}", float(i), 1.0) for i in range(10)]
    wanted, _, memory = block_candidates(stored, [("new", "1970-01-01T05:30:00Z")], 2.0, params)
    assert wanted == ["m4", "m5", "m6", "m7"]  # two on either side of hour 5.5
    capped, _, _ = block_candidates(stored, [("new", "")], 2.0, params)  # undated: after every dated one
    assert capped == ["m8", "m9"]
    assert len(block_candidates(memory, [("late", "")], 3.0, StoryParams(max_block_size=5))[2]) == 5


def test_an_unrelated_newcomer_starts_its_own_story_in_the_block():
    blocked = _members(QUAKE_TR_EN, QUAKE_PE_EN, QUAKE_TR_FR)
    keys_en, member_en = blocked["tr-en"]
    keys_pe, member_pe = blocked["pe-en"]
    shared = sorted(set(keys_en) & set(keys_pe))
    assert shared, "the two earthquakes share a rare feature (magnitude, earthquake)"
    proposals, _ = block_step(shared[0], [Rooted("tr-en", "tr-en", 1.0)],
                              [_held("tr-en", QUAKE_TR_EN, member_en, 1.0)], [member_payload(member_pe)], 2.0)
    assert [(p.root, p.links) for p in proposals] == [("pe-en", ())]


def test_block_state_packs_and_unpacks_to_the_same_members():
    stored = [Stored("a", 1.5, 10.0), Stored("b", None, 11.0)]
    assert unpack_block(pack_block(stored)) == stored and unpack_block(pack_block([])) == []
    rooted = [Rooted("a", "a", 10.0), Rooted("b", "a", 11.0), Rooted("c", "gone", 12.0)]
    assert unpack_roots(pack_roots(rooted)) == rooted and unpack_roots(pack_roots([])) == []


def test_all_expired_says_what_expire_block_leaves_nothing_of():
    """Read from the packed state's storage times alone, for blocks and roots: one
    window's entries (one time), several windows', at the slack's edge, and empty."""
    import random

    rng = random.Random(11)
    retention = 15.0
    for _ in range(300):
        times = [rng.choice([10.0, 20.0, 20.0004, 30.5]) for _ in range(rng.randrange(0, 6))]
        stored = [Stored(f"m{i}", rng.choice([None, 1.5 * i]), t) for i, t in enumerate(times)]
        rooted = [Rooted(s.id, "m0", s.stored_at) for s in stored]
        for now in (24.0, 25.0, 25.001, 35.0, 35.0004, 35.001, 45.6, 60.0):
            gone = not expire_block(stored, now, retention)
            assert all_expired(pack_block(stored), now, retention) == gone
            assert all_expired(pack_roots(rooted), now, retention) == gone
    assert all_expired(pack_block([Stored("a", 1.0, 20.0)]), 35.0, retention)
    assert not all_expired(pack_block([Stored("a", 1.0, 10.0), Stored("b", 1.0, 20.0)]), 25.0, retention)


def test_the_roots_of_a_block_kept_by_two_steps_merge_in_storage_order():
    from transforms.stories.blockstate import merge_roots

    remembered = [Rooted("a", "a", 10.0), Rooted("c", "a", 30.0)]
    scored = [Rooted("b", "a", 20.0), Rooted("d", "d", 30.0)]
    assert [r.id for r in merge_roots(remembered, scored, 300)] == ["a", "b", "c", "d"]
    assert [r.id for r in merge_roots(remembered, scored, 3)] == ["b", "c", "d"]  # the oldest go, as from one list
    assert merge_roots([], scored, 300) == scored


def test_block_state_bytes_keep_their_format():
    """The bytes of the numpy packing before the eighth round (a running job's state, and
    the state sizes of eval.streamstories, stay what they were)."""
    stored = [Stored("a1", 480000.5, 60.0), Stored("b22", None, 59.999999), Stored("c", 12.25, 60.0)]
    rooted = [Rooted("a1", "a1", 60.0), Rooted("b22", "zz9", 59.999999), Rooted("c", "a1", 60.0), Rooted("d", "qq", 61.5)]
    assert pack_block(stored).hex() == (
        "030008006131006232320063180000000000024c1d41000000000000f87f0000000000802840"
        "100030849cf7ffff4d400000000000004e400600010000000100")
    assert pack_roots(rooted).hex() == (
        "0600110061310062323200630064007a7a3900717108000000ffff0000ffff180030849cf7ffff4d40"
        "0000000000004e400000000000c04e4008000100000001000200")
    assert pack_block([]).hex() == pack_roots([]).hex() == "00000000000000000000"


def test_the_root_with_the_most_distinct_support_wins():
    proposals = [
        Proposal("x", "a", (("a", 0.5),)),
        Proposal("x", "s", (("s", 0.4), ("t", 0.3))),
        Proposal("x", "s", (("t", 0.35),)),  # the same link seen in two blocks counts once, at its best
        Proposal("x", "x", ()),
    ]
    assert choose_root("x", proposals) == "s"
    assert choose_root("x", [Proposal("x", "x", ())]) == "x"
    assert choose_root("x", []) == "x"


def test_an_article_rooting_its_own_group_in_one_block_weighs_it_half_beside_another_story():
    """Its own group (new members of its window, it the earliest) follows it through its
    choice; on its own, or far stronger than the other story, it still starts a story."""
    joined = Proposal("x", "s", (("m", 0.3),))  # in another block, in the group of story s
    assert choose_root("x", [Proposal("x", "x", (("y", 0.5),)), joined]) == "s"  # 0.25 against 0.3
    assert choose_root("x", [Proposal("x", "x", (("y", 0.9), ("z", 0.8))), joined]) == "x"  # 0.85 against 0.3
    assert choose_root("x", [Proposal("x", "x", (("y", 0.5),))]) == "x"
    assert choose_root("y", [Proposal("y", "x", (("x", 0.5),))]) == "x"  # y follows x, so to s (one hop)


def test_a_root_that_joined_a_story_sends_its_followers_there():
    assert resolve_root("a", RootMemory("s", 1.0)) == "s"
    assert resolve_root("a", None) == "a"
    assert resolve_root("a", RootMemory(None, 1.0)) == "a"


def test_state_per_remembered_article_is_within_two_kilobytes():
    """Every keyed state of the stream (block ids and times, block roots, the vector
    store, the frequency shards), encoded as Beam encodes it, per remembered article;
    docs/streaming.md gives it on the eval sets."""
    from apache_beam.coders import PickleCoder

    coder = PickleCoder()
    articles = sorted([*flood_block(8), QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_TR_DE, QUAKE_PE_EN],
                      key=lambda a: a["published_at"])
    _, blocks, rooted, store, memories = stream_memory(in_windows(articles, 1))
    total = (sum(len(pack_block(v)) for v in blocks.values())  # bytes states: stored as they are
             + sum(len(pack_roots(v)) for v in rooted.values())
             + sum(len(coder.encode(pack_held(h))) for h in store.values())
             + sum(len(coder.encode(m)) for m in memories))
    assert len(store) == len(articles)
    assert total / len(store) < 2048, total / len(store)
