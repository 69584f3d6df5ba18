import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.stories.records import story_id_for
from transforms.stories.blocks import Node, block_features, block_payload, blocked, member_of, member_payload, score_block
from transforms.stories.features import (
    StoryFeatures,
    article_features,
    features_of,
    features_payload,
    story_features,
)
from transforms.stories.find import AssignStories, FindStories, _ClusterEdges, _KeepOriginals, assign_story, story_roots
from transforms.stories.grouping import ScoredEdges, cluster_edges
from transforms.stories.params import StoryParams
from transforms.stories.spelling import transliterate, word_key
from transforms.stories.vectors import (
    compact,
    document_frequencies,
    feature_hash,
    max_gap_hours,
    similarity,
    time_decay,
    vectorize,
)


def art(id_, title, text, published=None, lang="en", duplicate_of=None):
    status = "unique" if duplicate_of is None else "near_duplicate"
    return {"id": id_, "title": title, "text": text, "published_at": published, "language": lang,
            "dedup": {"status": status, "duplicate_of": duplicate_of}, "topics": []}


QUAKE_TR_EN = art(
    "tr-en", "Magnitude 6.2 earthquake strikes Malatya province, 14 dead",
    "A magnitude 6.2 earthquake shook Malatya province in eastern Turkey on Wednesday, killing at least 14 people "
    "and injuring 300, the disaster agency AFAD said. Apartment blocks collapsed in Yesilyurt and rescue teams "
    "searched the rubble. Interior Minister Ali Yerlikaya said 2,400 tents were sent.",
    "2025-04-23T06:40:00Z",
)
QUAKE_TR_FR = art(
    "tr-fr", "Turquie : un séisme de magnitude 6,2 fait 14 morts à Malatya",
    "Un tremblement de terre de magnitude 6,2 a frappé mercredi la province de Malatya, dans l'est de la Turquie, "
    "faisant au moins 14 morts et 300 blessés selon l'agence AFAD. Des immeubles se sont effondrés à Yesilyurt. "
    "Le ministre de l'Intérieur Ali Yerlikaya a annoncé l'envoi de 2 400 tentes.",
    "2025-04-23T08:15:00Z", lang="fr",
)
QUAKE_PE_EN = art(
    "pe-en", "Magnitude 7.1 quake hits southern Peru, three killed",
    "A magnitude 7.1 earthquake struck the Arequipa region of southern Peru on Saturday, killing three people and "
    "injuring 45, the Geophysical Institute of Peru said. The epicentre was 38 kilometres from Chala. The navy ruled "
    "out a tsunami threat. Adobe houses collapsed in Caraveli.",
    "2025-04-26T16:05:00Z",
)


def vectors(*articles):
    feats = [story_features(a) for a in articles]
    df, n = document_frequencies(feats)
    return [vectorize(f, df, n) for f in feats]


# --- pure functions -------------------------------------------------------------------


def test_transliteration_makes_ukrainian_russian_and_english_names_meet():
    assert transliterate("Зеленський", "uk") == "Zelenskyy"
    assert transliterate("Зеленский", "ru") == "Zelenskiy"
    assert transliterate("Харків") == "Kharkiv"  # і marks Ukrainian rules when no language is given
    assert transliterate("Paris reste Paris") == "Paris reste Paris"
    keys = {word_key(transliterate(w, lang)) for w, lang in
            [("Зеленський", "uk"), ("Зеленский", "ru"), ("Зеленського", "uk"), ("Zelensky", "en"), ("Zelenskyy", "en")]}
    assert keys == {"selensk"}


def test_features_are_language_neutral_for_terms_numbers_and_dates():
    en = dict(story_features(art("a", "", "The earthquake killed 1,200 people on 15 March; losses of 2.5 billion.")).counts)
    de = dict(story_features(art("b", "", "Das Erdbeben am 15. März tötete 1.200 Menschen; Schäden von 2,5 Milliarden.",
                                 lang="de")).counts)
    uk = dict(story_features(art("c", "", "Землетрус 15 березня забрав життя 1200 людей, збитки 2,5 млрд.",
                                 lang="uk")).counts)
    for feature in ("c:earthquake", "n:1.2e+03", "n:2.5e+09", "d:3-15"):
        assert feature in en and feature in de and feature in uk, feature


def test_names_inside_sentences_weigh_more_than_plain_words():
    counts = dict(story_features(art("a", "", "Officials met in Geneva. The officials said Geneva talks went well.")).counts)
    assert counts["w:" + word_key("Geneva")] > counts["w:" + word_key("officials")]


def test_similarity_is_symmetric_and_decays_with_time():
    a, b = vectors(QUAKE_TR_EN, QUAKE_TR_FR)
    assert similarity(a, b) == pytest.approx(similarity(b, a))
    assert 0.0 < similarity(a, b) <= 1.0
    later = b._replace(published_at="2025-05-03T08:15:00Z")
    much_later = b._replace(published_at="2025-06-03T08:15:00Z")
    undated = b._replace(published_at="")
    assert similarity(a, much_later) < similarity(a, later) < similarity(a, b)
    assert similarity(a, undated) == pytest.approx(similarity(a, b._replace(published_at=a.published_at)))


def test_compact_vectors_score_like_the_exact_cosine():
    vs = vectors(QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)
    for a in vs:
        for b in vs:
            exact = sum(w * b.weights[f] for f, w in a.weights.items() if f in b.weights)
            decay = time_decay(a.published_at, b.published_at)
            # float16 weights: 11 significant bits, so a score moves by well under 1e-3
            assert similarity(compact(a), compact(b)) == pytest.approx(min(1.0, exact) * decay, abs=1e-3)
    a, b, c = vs
    assert similarity(a, b) > similarity(a, c) > 0.0


def test_features_of_no_other_article_are_not_carried_and_change_no_score():
    feats = [story_features(x) for x in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)]
    df, n = document_frequencies(feats)
    a, b, c = (vectorize(f, df, n) for f in feats)
    kept = compact(a, df)
    own = sum(1 for f in a.weights if df[f] < 2)
    # 4-byte hashes and 2-byte weights per carried feature
    assert own > 0 and len(kept.hashes) == 4 * (len(a.weights) - own) and len(kept.weights) == 2 * (len(a.weights) - own)
    assert similarity(kept, compact(b, df)) == pytest.approx(similarity(compact(a), compact(b)), abs=1e-6)
    assert similarity(kept, compact(c, df)) == pytest.approx(similarity(compact(a), compact(c)), abs=1e-6)


def test_block_payload_is_compact_primitives_that_survive_beams_default_coder():
    from apache_beam.coders.coders import FastPrimitivesCoder

    feats = [story_features(x) for x in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)]
    df, n = document_frequencies(feats)
    vector = vectorize(feats[0], df, n)
    keys, member = blocked(vector, df, prior=True)
    payload = member_payload(member)
    assert all(isinstance(x, (str, bytes, bool)) for x in payload)
    coder = FastPrimitivesCoder()
    encoded = coder.encode(payload)
    assert member_of(coder.decode(encoded)) == member
    shared = sum(1 for f in vector.weights if df[f] >= 2)
    assert len(encoded) <= 12 * shared + 8 * len(keys) + 64  # 8-byte hash + float32 a feature
    assert len(coder.encode((tuple(vector), tuple(keys), True))) > 2 * len(encoded)  # the dict it replaces


def test_time_decay_has_a_grace_period_and_a_half_life():
    params = StoryParams(grace_hours=24, half_life_hours=72)
    assert time_decay("2025-01-01T00:00:00Z", "2025-01-01T20:00:00Z", params) == 1.0
    assert time_decay("2025-01-01T00:00:00Z", "2025-01-05T00:00:00Z", params) == pytest.approx(0.5)
    assert time_decay("2025-01-01T00:00:00Z", None, params) == 1.0


def test_average_link_does_not_chain_through_a_bridge():
    a, b, c, d = (Node("2025-01-01T00:00:00Z", x) for x in "abcd")
    # a-b and c-d are tight; b-c is a single strong bridge; average over all cross pairs stays low
    edges = [(a, b, 0.9), (c, d, 0.9), (b, c, 0.5)]
    roots = cluster_edges(edges, threshold=0.3)
    assert roots == {"a": "a", "b": "a", "c": "c", "d": "c"}
    assert cluster_edges(reversed(edges), threshold=0.3) == roots


# --- behaviour on articles -------------------------------------------------------------


def test_french_and_english_write_ups_of_one_event_are_one_story():
    roots = story_roots([QUAKE_TR_EN, QUAKE_TR_FR])
    assert roots["tr-en"] == roots["tr-fr"] == "tr-en"


def test_two_different_earthquakes_stay_apart():
    roots = story_roots([QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN])
    assert roots["tr-en"] == roots["tr-fr"]
    assert roots["pe-en"] == "pe-en"


def test_duplicates_join_their_originals_story():
    copy = art("copy", "Quake: 14 dead in Malatya", QUAKE_TR_EN["text"], "2025-04-23T09:00:00Z", duplicate_of="tr-fr")
    roots = story_roots([QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN, copy])
    assert roots["copy"] == roots["tr-fr"] == "tr-en"
    assert assign_story(copy, roots)["story_id"] == story_id_for("tr-en")


def test_seed_articles_are_one_story(shared_data):
    seeds = sorted((shared_data / "seeds").glob("*.txt"))
    assert len(seeds) == 2
    articles = [art(p.name, "", p.read_text(encoding="utf-8")) for p in seeds]
    roots = story_roots(articles)
    assert roots[seeds[0].name] == roots[seeds[1].name]


def test_own_multilingual_set_keeps_near_miss_events_apart():
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "eval", "data", "stories_multilingual.jsonl")
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    roots = story_roots(rows)
    by_story = {}
    for row in rows:
        by_story.setdefault(row["story"], set()).add(roots[row["id"]])
    for near_miss in (("sanctions-16", "sanctions-17"), ("ceasefire-riyadh", "ceasefire-istanbul"),
                      ("quake-malatya", "quake-arequipa"), ("fire-marseille", "fire-athens")):
        first, second = (by_story[s] for s in near_miss)
        assert not first & second, near_miss


# --- Beam -------------------------------------------------------------------------------


def assert_assigned_in_beam(articles, expected):
    """AssignStories in a TestPipeline gives these (id, story_id) pairs."""
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(articles)
            | "AssignStories" >> AssignStories(StoryParams())
            | beam.Map(lambda a: (a["id"], a["story_id"]))
        )
        assert_that(out, equal_to(expected))


def test_assign_stories_composite_matches_the_plain_twin():
    copy = art("copy", "Quake: 14 dead in Malatya", QUAKE_TR_EN["text"], "2025-04-23T09:00:00Z", duplicate_of="tr-en")
    articles = [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN, copy]
    expected = [(a["id"], story_id_for(root)) for a, root in
                zip(articles, (story_roots(articles)[a["id"]] for a in articles))]
    assert dict(expected) == {"tr-en": "s-tr-en", "tr-fr": "s-tr-en", "pe-en": "s-pe-en", "copy": "s-tr-en"}
    assert_assigned_in_beam(articles, expected)


# --- bounded cost --------------------------------------------------------------------


def _block(n, hours_apart=1.0, start="2025-03-01T00:00:00Z", dated=True):
    """n near-identical articles about one event, ``hours_apart`` apart."""
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
    out = []
    for i in range(n):
        when = (t0 + timedelta(hours=i * hours_apart)).isoformat().replace("+00:00", "Z") if dated else None
        out.append(art(f"a{i:03d}", f"Flood in Quelimane, update {i}",
                       f"The Licungo river flooded Quelimane; {120 + i} families moved to Zambezia schools.", when))
    return out


def _members(articles, params):
    feats = [story_features(a, params) for a in articles]
    df, n = document_frequencies(feats)
    keyed = [blocked(vectorize(f, df, n), df, params) for f in feats]
    return [m for _, m in keyed], [set(k) for k, _ in keyed]


def test_a_block_compares_each_member_with_at_most_window_later_neighbours():
    params = StoryParams(window=3)
    articles = _block(15)
    members, keys = _members(articles, params)
    shared = set.intersection(*keys)
    assert "w:" + word_key("Quelimane") in shared
    edges = [e for k in sorted(shared) for e in score_block(k, members, params)]
    order = {a["id"]: i for i, a in enumerate(articles)}  # already in time order
    assert edges and all(0 < order[b.id] - order[a.id] <= 3 for a, b, _ in edges)
    assert len(edges) == len({(a.id, b.id) for a, b, _ in edges}) <= 15 * 3


def test_pairs_beyond_the_decay_horizon_are_not_compared():
    params = StoryParams()
    gap = max_gap_hours(params)
    near = _block(2, hours_apart=gap * 0.5)
    far = _block(2, hours_apart=gap * 1.05)
    for pair, expect in ((near, 1), (far, 0)):
        members, keys = _members(pair, params)
        shared = sorted(keys[0] & keys[1])
        assert len([e for k in shared for e in score_block(k, members, params)]) == expect


def test_every_pair_is_scored_in_one_block_only():
    params = StoryParams(window=4)
    articles = _block(12) + [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN]
    members, keys = _members(articles, params)
    blocks = {}
    for m, ks in zip(members, keys):
        for k in ks:
            blocks.setdefault(k, []).append(m)
    pairs = [(a.id, b.id) for k in blocks for a, b, _ in score_block(k, blocks[k], params)]
    assert pairs and len(pairs) == len(set(pairs))


def test_undated_members_are_still_compared_within_the_window():
    params = StoryParams(window=20)
    roots = story_roots(_block(6, dated=False), params)
    assert len({roots[f"a{i:03d}"] for i in range(6)}) == 1


def test_edges_that_cannot_change_a_merge_do_not_change_the_grouping():
    import random

    rng = random.Random(5)
    nodes = [Node(f"2025-01-{1 + i // 10:02d}T00:00:00Z", f"n{i:02d}") for i in range(40)]
    strong = [(a, b, round(rng.uniform(0.2, 0.9), 3)) for a, b in
              (rng.sample(nodes[:20], 2) for _ in range(30))] + [(nodes[25], nodes[26], 0.6)]
    weak_inside = [(a, b, round(rng.uniform(0.0, 0.19), 3)) for a, b in (rng.sample(nodes[:20], 2) for _ in range(30))]
    roots = cluster_edges(strong + weak_inside, 0.3)
    noise = [(a, b, 0.19) for a in nodes[30:] for b in nodes[:30]]  # weak, towards articles in no strong group
    assert cluster_edges(strong + weak_inside + noise, 0.3) == roots
    assert roots["n25"] == roots["n26"] == "n25"
    assert "n30" not in roots


def test_names_are_not_confused_with_sentence_initial_words_and_numbers_keep_their_context():
    counts = dict(story_features(art("a", "", "Officials spoke. Officials met in Geneva, and talks in Geneva went on; "
                                             "costs reached 3,5 million by 15 mars 2025.")).counts)
    assert counts["w:" + word_key("Geneva")] == 2 * StoryParams().entity_weight
    assert counts["w:" + word_key("Officials")] == 2  # capitalised only at sentence starts: not a name
    assert "n:3.5e+06" in counts and "d:3-15" in counts and "y:2025" in counts


def test_assign_stories_matches_the_plain_twin_when_blocks_exceed_the_window():
    params = StoryParams(window=2)
    articles = _block(9, hours_apart=30.0) + [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN]
    roots = story_roots(articles, params)
    expected = [(a["id"], story_id_for(roots[a["id"]])) for a in articles]
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(articles)
            | "AssignStories" >> AssignStories(params)
            | beam.Map(lambda a: (a["id"], a["story_id"]))
        )
        assert_that(out, equal_to(expected))


def test_assign_stories_matches_the_plain_twin_on_the_multilingual_set():
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "eval", "data", "stories_multilingual.jsonl")
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    undated = [dict(r, id=r["id"] + "-undated", published_at=None) for r in rows[::5]]
    articles = rows + undated
    roots = story_roots(articles)
    expected = [(a["id"], story_id_for(roots[a["id"]])) for a in articles]
    assert len(set(roots.values())) < len(articles)  # some stories of several articles
    assert_assigned_in_beam(articles, expected)


def test_bulk_blocking_gives_the_same_keys_and_members_as_vectorize_then_blocked():
    articles = [*_block(30), QUAKE_PE_EN]
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
    articles = _block(12)
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


def test_features_travel_as_plain_strings_and_bytes_and_come_back_unchanged():
    feats = story_features(QUAKE_PE_EN)
    payload = features_payload(feats)
    assert [type(x) for x in payload] == [str, str, str, bytes]
    assert features_of(payload) == feats
    empty = StoryFeatures("x", "", ())
    assert features_of(features_payload(empty)) == empty


def test_find_stories_leaves_out_the_duplicates_it_is_told_of():
    originals = [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN]
    copy = dict(QUAKE_PE_EN, id="pe-copy")  # would make a story with the Peru article
    duplicates = {"pe-copy": ("exact_duplicate", QUAKE_PE_EN["id"])}
    roots = story_roots(originals)
    sizes = {root: list(roots.values()).count(root) for root in roots.values()}
    expected = {a: root for a, root in roots.items() if sizes[root] > 1}
    assert expected and "pe-copy" not in expected
    with TestPipeline() as p:
        payloads = p | beam.Create([article_features(a) for a in [*originals, copy]])
        dups = beam.pvalue.AsSingleton(p | "Duplicates" >> beam.Create([duplicates]))
        assert_that(payloads | FindStories(StoryParams(), duplicates=dups), equal_to([expected]))


def test_keep_originals_keeps_remembered_articles_whatever_the_duplicates_say():
    payload = article_features(QUAKE_TR_EN)
    duplicates = {QUAKE_TR_EN["id"]: ("near_duplicate", "other")}
    assert list(_KeepOriginals().process(payload, duplicates)) == []
    assert list(_KeepOriginals().process((*payload, True), duplicates)) == [(*payload, True)]
    assert features_of((*payload, True)) == features_of(payload)


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


def _random_edges(count, nodes, seed):
    rng = np.random.default_rng(seed)
    pool = [(f"2025-03-{1 + i % 28:02d}T{i % 24:02d}:00:00Z", f"a{i:04d}") for i in range(nodes)]
    pool[3] = ("9999-12-31T23:59:59Z", "undated")
    picks = rng.integers(0, nodes, size=(count, 2))
    return [(pool[i], pool[j], round(float(rng.random()), 6)) for i, j in picks]


def test_the_story_combine_gives_cluster_edges_of_all_edges_however_they_are_split():
    edges = _random_edges(3000, 400, seed=7)
    fixed = {"a0010": "a0002", "a0011": "a0002"}
    expected = cluster_edges(edges, 0.3, fixed)
    assert len(set(expected.values())) > 5  # real groups, not a trivial result
    combine = _ClusterEdges(0.3)
    parts = []
    for part in (edges[:1000], edges[1000:2500], edges[2500:]):
        acc = combine.create_accumulator()
        for edge in part:
            acc = combine.add_input(acc, edge)
        parts.append(acc)
    parts[1] = combine.add_input(parts[1], ("a0010", None, "a0002"))
    parts[2] = combine.add_input(parts[2], ("a0011", None, "a0002"))
    packed = [combine.compact(parts[0]), parts[1], combine.compact(parts[2])]  # as a worker sends them
    assert all(isinstance(x, (tuple, str, bytes)) for x in packed[0])
    merged = combine.merge_accumulators(packed)
    assert combine.extract_output(combine.compact(merged)) == expected
    assert combine.extract_output(merged) == expected


def test_scored_edges_keep_each_node_once_and_survive_packing():
    edges = _random_edges(500, 50, seed=3)
    held = ScoredEdges()
    for a, b, score in edges:
        held.add(a, b, score)
    assert len(held.keys) == len({n for a, b, _ in edges for n in (a, b)}) <= 50
    back = ScoredEdges.of(held.packed())
    assert back.keys == held.keys and back.a == held.a and back.b == held.b and back.scores == held.scores
    assert back.cluster(0.3) == cluster_edges(edges, 0.3)


def test_sentence_heads_are_the_words_that_start_the_text_or_a_sentence():
    import re
    from collections import Counter

    from transforms.stories.features import _sentence_heads

    # the single pattern the two-pattern form replaces (slower: it tries ^ at every character)
    single = re.compile(r"(?:^|[.!?\n:;])[ \t\u00a0\"'“”«»(–—-]*([^\W\d_]+)")
    texts = [
        "Officials met. They said: «Talks» went on; (Geneva) hosted\nthem! Why? Because.",
        " «Quoted» start. 12 numbers. ",
        ".Leading dot then Word",
        "\nNew line first",
        "3 starts with a digit. Then words",
        "",
        "—Dash start: Kyiv",
        "...",
    ]
    for text in texts:
        assert _sentence_heads(text) == Counter(single.findall(text)), text


def test_article_features_is_the_payload_of_story_features():
    for article in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN, art("e", "", ""), art("n", "Only a title", "")):
        assert article_features(article) == features_payload(story_features(article))


def test_vectorising_reads_vector_hashes_from_its_table():
    from transforms.stories import blocks, vectors

    feats = [story_features(a) for a in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)]
    df, n = document_frequencies(feats)
    _, member = block_features(feats[0], df, n)
    kept = sorted(vectors.vector_hash(f) for f, _ in feats[0].counts if df.get(f, 1) >= 2)
    assert np.frombuffer(member.vector.hashes, "<u4").tolist() == sorted(set(kept))
    assert all(blocks._VECTOR_HASHES[f] == vectors.vector_hash(f) for f, _ in feats[0].counts)


def test_components_are_the_connected_parts_of_the_link_graph():
    from transforms.stories.grouping import _components

    link = {1: {2: 0.5}, 2: {1: 0.5, 3: 0.1}, 3: {2: 0.1}, 4: {5: 0.9}, 5: {4: 0.9}, 6: {}}
    assert sorted(sorted(c) for c in _components(link)) == [[1, 2, 3], [4, 5], [6]]


def _plain_average_link(edges, threshold, fixed, ids):
    """Average link the slow, obvious way: every step recomputes every cross-group
    mean and merges the best pair (ties: smallest pair of node ranks) if it reaches
    ``threshold``; groups holding two remembered stories never merge."""
    best = {}
    for a, b, s in edges:
        if a != b:
            pair = (min(a, b), max(a, b))
            best[pair] = max(s, best.get(pair, -1.0))
    group = {n: n for pair in best for n in pair}  # node -> its group's smallest node
    size = {n: 1 for n in group}
    label = {}
    story_size = {}
    for root in fixed.values():
        story_size[root] = story_size.get(root, 0) + 1
    for n in sorted(group):  # the members of a remembered story start as one group
        if ids[n] in fixed:
            root = fixed[ids[n]]
            first = next((g for g, lab in label.items() if lab == root), None)
            if first is None:
                label[n] = root
            else:
                group[n] = first
                size[first] += size.pop(n)
    for g, root in label.items():
        size[g] = max(size[g], story_size[root])  # all of the story counts, not just these

    while True:
        totals = {}
        for (a, b), s in best.items():
            ga, gb = group[a], group[b]
            if ga != gb:
                key = (min(ga, gb), max(ga, gb))
                totals[key] = totals.get(key, 0.0) + s
        means = [(-(t / (size[x] * size[y])), x, y) for (x, y), t in totals.items()
                 if not (x in label and y in label)]
        if not means or -min(means)[0] < threshold:
            break
        _, keep, gone = min(means)
        for m in group:
            if group[m] == gone:
                group[m] = keep
        size[keep] += size.pop(gone)
        if gone in label:
            label[keep] = label.pop(gone)
    out = {}
    for g in set(group.values()):
        members = [m for m in group if group[m] == g]
        if g in label:
            out.update({ids[m]: label[g] for m in members})
        elif len(members) > 1:
            out.update({ids[m]: ids[g] for m in members})
    for article_id, root in fixed.items():
        out.setdefault(article_id, root)
    return out


def test_story_grouping_is_plain_average_link_on_random_graphs():
    """The heap agglomeration (stale entries re-queued, dead ones swept out in bulk:
    ~1,300 sweeps over these graphs, components on arrays) merges exactly what the
    obvious every-pair-every-step average link merges, with remembered stories and
    with means landing exactly on the threshold."""
    import random

    from transforms.stories.grouping import _agglomerate

    rng = random.Random(11)
    checked = 0
    for trial in range(300):
        n = rng.randint(2, 30)
        ids = [f"i{i:02d}" for i in range(n)]
        # multiples of 1/16: sums are exact whatever their order, so means tie exactly
        edges = [(rng.randrange(n), rng.randrange(n), rng.randint(0, 16) / 16) for _ in range(rng.randint(0, 80))]
        fixed = {ids[i]: rng.choice(["S1", "S2"]) for i in rng.sample(range(n), min(n, 4))} if trial % 3 == 0 else {}
        a, b, s = (np.array(col) for col in zip(*edges)) if edges else (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
        for threshold in (0.125, 0.25, 0.375):
            assert _agglomerate(a, b, s, threshold, fixed, ids) == _plain_average_link(edges, threshold, fixed, ids)
            checked += 1
    assert checked == 900


def test_component_roots_are_each_components_smallest_node():
    from transforms.stories.grouping import _component_roots

    # a long path (many rounds of label propagation), a star and isolated nodes
    path = np.arange(199, 0, -1)
    a = np.concatenate([path, [300, 300, 300], [500]])
    b = np.concatenate([path - 1, [301, 302, 250], [500]])
    root = _component_roots(a, b, 600)
    assert (root[:200] == 0).all()
    assert root[[250, 300, 301, 302]].tolist() == [250] * 4
    assert root[[200, 400, 500, 599]].tolist() == [200, 400, 500, 599]


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
    articles = _block(16, hours_apart=0.0)  # all at the same time: the window order is all ties
    members, keys = _members(articles, params)
    key = sorted(set.intersection(*keys))[0]
    expected = sorted(score_block(key, members, params))
    assert expected
    rng = random.Random(3)
    for _ in range(5):
        shuffled = members[:]
        rng.shuffle(shuffled)
        assert sorted(score_block(key, shuffled, params)) == expected


@pytest.mark.parametrize(
    "raw, value",
    [
        ("2024", 2024.0), ("15%", 15.0), ("٢٠٢٤", 2024.0),  # digits only, also non-Latin ones
        ("1.5", 1.5), ("12,75", 12.75), ("1,234.5", 1234.5), ("1.234,5", 1234.5),
        ("1,000", 1000.0), ("1.000", 1000.0), ("15 000", 15000.0), ("15\u00a0000", 15000.0), ("2\u202f500%", 2500.0),
        ("1.2.3", None),
    ],
)
def test_numbers_are_read_in_the_usual_national_spellings(raw, value):
    from transforms.stories.features import _parse_number

    assert _parse_number(raw) == value
