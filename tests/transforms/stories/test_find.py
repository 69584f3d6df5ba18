"""Stories found on articles: the plain twin and the Beam composites (transforms/stories/find.py)."""

import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support import REPO
from tests.support.story_cases import QUAKE_PE_EN, QUAKE_TR_EN, QUAKE_TR_FR, art, flood_block, random_edges
from transforms.stories.features import article_features, features_of
from transforms.stories.features import story_features as story_features_of
from tests.support.assign_stories import AssignStories
from transforms.stories.find import FindStories, _ClusterEdges, _KeepOriginals, assign_story, story_roots
from transforms.stories.grouping import ScoredEdges, cluster_edges
from transforms.stories.params import StoryParams
from transforms.stories.records import story_id_for


def test_french_and_english_write_ups_of_one_event_are_one_story():
    roots = story_roots([QUAKE_TR_EN, QUAKE_TR_FR])
    assert roots["tr-en"] == roots["tr-fr"] == "tr-en"


def test_two_different_earthquakes_stay_apart():
    roots = story_roots([QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN])
    assert roots["tr-en"] == roots["tr-fr"]
    assert roots["pe-en"] == "pe-en"


# two look-alike events of consecutive nights: drones on Dnipro, then drones on Zaporizhzhia
DNIPRO_UK = art(
    "dn-uk", "Нічна атака дронів на Дніпро: двоє загиблих",
    "У ніч на 4 травня російські дрони атакували Дніпро. Загинули двоє людей, ще 11 поранені, повідомив голова "
    "обласної адміністрації Сергій Лисак. Пошкоджено енергетичний обʼєкт і школу.", "2025-05-04T05:10:00Z", lang="uk",
)
DNIPRO_DE = art(
    "dn-de", "Drohnenangriff auf Dnipro: zwei Tote",
    "Bei einem russischen Drohnenangriff auf Dnipro sind in der Nacht zum 4. Mai zwei Menschen getötet und 11 "
    "verletzt worden, teilte Gouverneur Serhij Lyssak mit. Getroffen wurden eine Energieanlage und eine Schule.",
    "2025-05-04T09:30:00Z", lang="de",
)
DNIPRO_EN = art(
    "dn-en", "Russian drones kill two in Dnipro",
    "Russian drones struck Dnipro overnight into May 4, killing two people and wounding 11, regional governor "
    "Serhiy Lysak said. An energy facility and a school were damaged.", "2025-05-04T07:45:00Z",
)
ZAPORIZHZHIA_UK = art(
    "zp-uk", "Дрони атакували Запоріжжя: поранено сімох",
    "У ніч на 5 травня російські дрони атакували Запоріжжя. Семеро людей поранені, пошкоджено житлові будинки, "
    "повідомив голова обласної адміністрації Іван Федоров.", "2025-05-05T04:50:00Z", lang="uk",
)
ZAPORIZHZHIA_EN = art(
    "zp-en", "Drone attack on Zaporizhzhia injures seven",
    "Russian drones attacked Zaporizhzhia overnight into May 5, injuring seven people and damaging apartment "
    "buildings, regional governor Ivan Fedorov said.", "2025-05-05T08:20:00Z",
)


def test_write_ups_in_three_languages_and_scripts_are_one_story_and_the_next_nights_attack_another():
    roots = story_roots([DNIPRO_UK, DNIPRO_DE, DNIPRO_EN, ZAPORIZHZHIA_UK, ZAPORIZHZHIA_EN])
    assert roots["dn-uk"] == roots["dn-de"] == roots["dn-en"]
    assert roots["zp-uk"] == roots["zp-en"]
    assert roots["dn-uk"] != roots["zp-uk"]


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

    path = os.path.join(REPO, "eval", "data", "stories_multilingual.jsonl")
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


def test_undated_members_are_still_compared_within_the_window():
    params = StoryParams(window=20)
    roots = story_roots(flood_block(6, dated=False), params)
    assert len({roots[f"a{i:03d}"] for i in range(6)}) == 1


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


@pytest.mark.slow
def test_assign_stories_composite_matches_the_plain_twin():
    copy = art("copy", "Quake: 14 dead in Malatya", QUAKE_TR_EN["text"], "2025-04-23T09:00:00Z", duplicate_of="tr-en")
    articles = [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN, copy]
    expected = [(a["id"], story_id_for(root)) for a, root in
                zip(articles, (story_roots(articles)[a["id"]] for a in articles))]
    assert dict(expected) == {"tr-en": "s-tr-en", "tr-fr": "s-tr-en", "pe-en": "s-pe-en", "copy": "s-tr-en"}
    assert_assigned_in_beam(articles, expected)


@pytest.mark.slow
def test_assign_stories_matches_the_plain_twin_when_blocks_exceed_the_window():
    params = StoryParams(window=2)
    articles = flood_block(9, hours_apart=30.0) + [QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN]
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


@pytest.mark.slow
def test_assign_stories_matches_the_plain_twin_on_the_multilingual_set():
    import os

    path = os.path.join(REPO, "eval", "data", "stories_multilingual.jsonl")
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    undated = [dict(r, id=r["id"] + "-undated", published_at=None) for r in rows[::5]]
    articles = rows + undated
    roots = story_roots(articles)
    expected = [(a["id"], story_id_for(roots[a["id"]])) for a in articles]
    assert len(set(roots.values())) < len(articles)  # some stories of several articles
    assert_assigned_in_beam(articles, expected)


@pytest.mark.slow
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


def test_the_story_combine_gives_cluster_edges_of_all_edges_however_they_are_split():
    edges = random_edges(3000, 400, seed=7)
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


def test_the_story_combine_takes_a_blocks_edges_packed_as_score_blocks_sends_them():
    edges = random_edges(3000, 400, seed=11)
    expected = cluster_edges(edges, 0.3)
    assert len(set(expected.values())) > 5
    combine = _ClusterEdges(0.3)
    acc = combine.create_accumulator()
    for start in range(0, len(edges), 700):  # blocks of edges, nodes shared between them
        block = ScoredEdges()
        for a, b, score in edges[start : start + 700]:
            block.add(a, b, score)
        acc = combine.add_input(acc, block.packed())
    acc = combine.add_input(acc, edges[0])  # a single edge still counts (twice: best score kept)
    assert combine.extract_output(combine.merge_accumulators([combine.compact(acc)])) == expected


def test_score_blocks_sends_one_packed_element_per_block_with_the_edges_of_score_block():
    from transforms.stories.blocks import block_features, member_payload, score_block
    from transforms.stories.find import _ScoreBlock
    from transforms.stories.vectors import document_frequencies

    params = StoryParams()
    feats = [story_features_of(a) for a in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN, DNIPRO_UK, DNIPRO_DE)]
    df, n = document_frequencies(feats)
    blocks: dict[str, list] = {}
    members = {}
    for f in feats:
        keys, member = block_features(f, df, n, params)
        members[member.vector.id] = member_payload(member)
        for key in keys:
            blocks.setdefault(key, []).append(member)
    assert any(list(score_block(k, v, params)) for k, v in blocks.items())
    for key, block in blocks.items():
        want = [(tuple(a), tuple(b), s) for a, b, s in score_block(key, block, params)]
        out = list(_ScoreBlock(params).process((key, [m.vector.id for m in block]), members))
        if not want:
            assert out == []
            continue
        (packed,) = out
        got = ScoredEdges.of(packed)
        pairs = [(tuple(got.keys[i].split("\0")), tuple(got.keys[j].split("\0")), s)
                 for i, j, s in zip(got.a, got.b, got.scores)]
        assert pairs == want
