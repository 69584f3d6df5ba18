"""Stories across streaming windows, without Beam (transforms/stories/windows.py)."""

import pickle

from tests.support.story_cases import QUAKE_PE_EN, QUAKE_TR_DE, QUAKE_TR_EN, QUAKE_TR_FR, art, flood_block
from transforms.stories.blocks import block_payload, member_payload
from transforms.stories.features import article_features
from transforms.stories.find import story_roots
from transforms.stories.params import StoryParams
from transforms.stories.windows import (
    FrequencyMemory,
    Proposal,
    RootMemory,
    Stored,
    block_step,
    choose_root,
    expire_block,
    feature_names,
    in_windows,
    resolve_root,
    route,
    split_names,
    stream_story_roots,
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


def test_a_block_proposes_the_remembered_story_and_remembers_the_newcomer_in_it():
    blocked = _members(QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)
    keys_en, member_en = blocked["tr-en"]
    keys_fr, member_fr = blocked["tr-fr"]
    key = sorted(set(keys_en) & set(keys_fr))[0]
    stored = [Stored("tr-en", QUAKE_TR_EN["published_at"], "tr-en", 10.0, member_payload(member_en))]
    proposals, memory = block_step(key, stored, [member_payload(member_fr)], 20.0)
    assert [(p.article_id, p.root) for p in proposals] == [("tr-fr", "tr-en")]
    assert proposals[0].links and proposals[0].links[0][0] == "tr-en"
    assert [(s.id, s.root, s.stored_at) for s in memory] == [("tr-en", "tr-en", 10.0), ("tr-fr", "tr-en", 20.0)]
    again, same = block_step(key, memory, [member_payload(member_fr)], 30.0)  # delivered again
    assert [(p.article_id, p.root) for p in again] == [("tr-fr", "tr-en")] and same == memory
    assert [s.id for s in expire_block(memory, 10.0 + 15.0, retention_seconds=15.0)] == ["tr-fr"]


def test_an_unrelated_newcomer_starts_its_own_story_in_the_block():
    blocked = _members(QUAKE_TR_EN, QUAKE_PE_EN, QUAKE_TR_FR)
    keys_en, member_en = blocked["tr-en"]
    keys_pe, member_pe = blocked["pe-en"]
    shared = sorted(set(keys_en) & set(keys_pe))
    assert shared, "the two earthquakes share a rare feature (magnitude, earthquake)"
    stored = [Stored("tr-en", QUAKE_TR_EN["published_at"], "tr-en", 1.0, member_payload(member_en))]
    proposals, _ = block_step(shared[0], stored, [member_payload(member_pe)], 2.0)
    assert [(p.root, p.links) for p in proposals] == [("pe-en", ())]


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


def test_a_root_that_joined_a_story_sends_its_followers_there():
    assert resolve_root("a", RootMemory("s", 1.0)) == "s"
    assert resolve_root("a", None) == "a"
    assert resolve_root("a", RootMemory(None, 1.0)) == "a"


def test_a_block_key_holds_an_article_in_under_a_kilobyte():
    """What one block key remembers of an article (its compact vector, ids, root); an
    article is held by each key it was routed to (docs/streaming.md: 8-12 KB in all)."""
    articles = [*flood_block(8), QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_TR_DE]
    payloads = [article_features(a) for a in articles]
    df: dict = {}
    for p in payloads:
        for name in feature_names(p):
            df[name] = df.get(name, 0) + 1
    for payload in payloads:
        keys, member = route(payload, df, len(payloads))
        assert 1 <= len(keys) <= 24
        entry = Stored(payload[0], payload[1], payload[0], 1.0, member_payload(member))
        assert len(pickle.dumps(entry)) < 1024
