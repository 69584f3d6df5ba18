import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.mark_duplicates import MarkDuplicates
from transforms.dedup import minhash as minhash_module, near, near_pairs
from transforms.dedup.exact import EXACT, NEAR, UNIQUE, Node
from transforms.dedup.minhash import (
    Sketcher,
    band_hashes,
    band_keys,
    candidate_probability,
    choose_bands,
    exact_jaccard,
    minhash,
    shingles,
    tokens,
    signature_bytes,
    signature_of,
    verify,
)
from transforms.dedup.near import FindNearDuplicates
from transforms.dedup.near_pairs import (
    NodeNames,
    bucket_pairs,
    find_near_pairs,
    node_hash,
    pack_band_batch,
    shared_buckets,
)

# Our own text: a wire story and its republications.
STORY = (
    "The regional council approved a new flood defence plan on Monday after three days of debate, "
    "committing 40 million euros to raise embankments along the river. "
    "Engineers said the work would start in early spring and take about two years to complete. "
    "Residents of the lower town, which was flooded twice in the past decade, welcomed the decision "
    "but asked for temporary barriers before the autumn storms. "
    "The opposition criticised the cost and argued that part of the money should go to drainage in "
    "the northern districts, where basements fill with water after every heavy rain. "
    "The council's chair told reporters that a second package for drainage would be discussed in June. "
    "Farmers upstream are to be compensated for land used to widen the river bed, the plan says."
)
SENTENCES = [s.strip() + "." for s in STORY.split(". ") if s.strip()]
COPY = " ".join(SENTENCES[:4] + SENTENCES[5:]).replace("..", ".") + " Reporting by Ana Lind; Editing by Tom Berg."
STORY_DE = (
    "Der Regionalrat hat am Montag nach dreitägiger Debatte einen neuen Hochwasserschutzplan beschlossen "
    "und 40 Millionen Euro für die Erhöhung der Deiche entlang des Flusses bereitgestellt. "
    "Ingenieure sagten, die Arbeiten würden im Frühjahr beginnen und etwa zwei Jahre dauern. "
    "Die Bewohner der Unterstadt, die im vergangenen Jahrzehnt zweimal überflutet wurde, begrüßten die "
    "Entscheidung, forderten aber provisorische Barrieren vor den Herbststürmen."
)
OTHER = (
    "A software company based in the harbour district announced quarterly results on Thursday that beat "
    "expectations, helped by strong demand for its accounting tools among small businesses. "
    "Its shares rose seven percent in early trading and analysts raised their price targets. "
    "The chief executive said hiring would continue at a slower pace next year and that the firm "
    "planned to open an office abroad, without naming the country."
)


def sig(text):
    return Sketcher()(text)


def test_shingles_are_deterministic_and_ignore_case_and_punctuation():
    a = shingles(STORY)
    assert a.dtype == np.uint64 and a.size > 50
    assert np.array_equal(a, shingles(STORY))
    assert np.array_equal(a, shingles(STORY.upper().replace(",", " ").replace(".", " ! ")))
    assert np.array_equal(minhash(a), minhash(shingles(STORY)))
    assert band_keys(minhash(a), 35, 3) == band_keys(sig(STORY), 35, 3)
    assert shingles("").size == 0 and shingles(None).size == 0


def test_shingles_are_the_sorted_distinct_hashes():
    repeated = shingles("a b c d e " * 10)  # 46 shingles, 5 distinct: the rotations of a..e
    assert repeated.size == 5 and (repeated[1:] > repeated[:-1]).all()
    assert np.array_equal(repeated, np.unique(shingles("b c d e a b c d e a b c d e")))
    story = shingles(STORY + " " + STORY)
    assert (story[1:] > story[:-1]).all() and story.size == shingles(STORY).size + 4  # + the 4 across the seam


def test_ascii_texts_are_tokenized_as_bytes_into_the_same_tokens():
    every_ascii = "".join(map(chr, range(128)))
    texts = [every_ascii, every_ascii[::-1] * 3, STORY, STORY.upper(), "snake_case x_1\tTAB\x0bv\x1cw__ 2024-05-01 9.5%", "", " "]
    for text in texts:
        assert text.isascii()
        assert minhash_module.token_hashes(text) == [minhash_module._token_hash(t) for t in tokens(text)]
    assert minhash_module.token_hashes("Zürich und ZÜRICH") == [
        minhash_module._token_hash(t) for t in ["zürich", "und", "zürich"]
    ]
    assert minhash_module.token_hashes(None) == []


def test_tokens_are_the_runs_of_word_characters_the_regex_finds():
    import re

    word = re.compile(r"\w+")
    texts = [
        "Zürich und ZÜRICH: «Grüße» — 2024-05-01, 9,5 %",  # « and — are not word characters: the regex reads it
        "Київ, 15 березня: збитки 2,5 млрд.",
        "snake_case x²y ½ Ⅻ l'été don’t a\u00a0b c\u2009d e\u3000f ﬁne Straße İstanbul",
        "lone \ud800 surrogate", "___ _", "«»", "", "é",
    ]
    for text in texts:
        assert tokens(text) == word.findall(text.casefold()), text


def test_a_character_is_a_word_character_to_the_regex_when_isalnum_says_so_and_never_whitespace():
    # why tokens() may take str.isalnum (and "_") for the regex's \w, and str.split's cuts as non-word
    import re

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    word = re.compile(r"\w")
    assert all(bool(word.match(ch)) == (ch.isalnum() or ch == "_") for ch in chars)
    assert not any(ch.isspace() and ch.isalnum() for ch in chars)


def test_the_first_shingle_ignores_case_and_punctuation_and_there_is_one_key_per_band():
    # the literal hash values are pinned in tests/transforms/test_pinned_values.py
    assert shingles("one two three four five")[0] == shingles("One, two; three four five.")[0]
    assert band_keys(sig(STORY), 35, 3)[0].startswith("0:") and len(band_keys(sig(STORY), 35, 3)) == 35


def test_identical_text_has_jaccard_one_and_unrelated_near_zero():
    assert verify(sig(STORY), sig(STORY)) == 1.0
    assert verify(sig(STORY), sig(OTHER)) < 0.05
    assert exact_jaccard(shingles(STORY), shingles(OTHER)) == 0.0


def test_edited_copy_is_above_threshold_and_translation_below():
    estimate = verify(sig(STORY), sig(COPY))
    exact = exact_jaccard(shingles(STORY), shingles(COPY))
    assert exact >= 0.6 and estimate >= 0.5
    assert abs(estimate - exact) < 0.15
    assert verify(sig(STORY), sig(STORY_DE)) < 0.05


def test_tiny_texts_get_no_signature():
    assert Sketcher(min_shingles=20)("Breaking: markets fall sharply.") is None
    edges = find_near_pairs([(Node("2024-01-01T00:00:00Z", "a"), "Markets fall."), (Node("2024-01-02T00:00:00Z", "b"), "Markets fall.")])
    assert edges == set()


def test_band_choice_puts_the_s_curve_below_the_threshold():
    for threshold in (0.5, 0.6, 0.7, 0.8):
        bands, rows = choose_bands(threshold, 128)
        assert bands * rows <= 128
        assert candidate_probability(threshold, bands, rows) >= 0.99
        assert (1 / bands) ** (1 / rows) < threshold
        assert candidate_probability(0.05, bands, rows) < 0.05


def test_oversized_bucket_compares_members_only_with_the_earliest():
    members = [(f"2024-01-01T00:{i:02d}:00Z", f"id{i:03d}") for i in range(200)]
    pairs, oversized = bucket_pairs(list(reversed(members)), max_bucket=50, compare_earliest=3)
    pairs = list(pairs)
    assert oversized
    assert len(pairs) == 3 + 197 * 3  # linear, not 200*199/2
    assert {e for e, _ in pairs} == set(members[:3])
    small, oversized = bucket_pairs(members[:4], max_bucket=50)
    assert not oversized and len(list(small)) == 6


def _article(id_, text, published_at):
    return {"id": id_, "title": "t", "text": text, "published_at": published_at, "language": "en", "content_hash": id_}


@pytest.mark.slow
@pytest.mark.parametrize("flush_entries, collide", [(near.FLUSH_BAND_ENTRIES, False), (1, False), (100, True)])
def test_composite_finds_the_copy_with_the_earliest_as_parent(monkeypatch, flush_entries, collide):
    # flush_entries=1: every article's band entries leave SignAndBand at once, not at the bundle's end;
    # collide: every node has the same hash in the band entries, and the same edge comes out
    monkeypatch.setattr(near, "FLUSH_BAND_ENTRIES", flush_entries)
    if collide:  # the band entries (SignAndBand) and their naming (NodeNames) see the same hash
        monkeypatch.setattr(near, "node_hash", lambda packed: 42)
        monkeypatch.setattr(near_pairs, "node_hash", lambda packed: 42)
    articles = [
        _article("copy", COPY, "2024-05-02T09:00:00Z"),
        _article("orig", STORY, "2024-05-01T08:00:00Z"),
        _article("de", STORY_DE, "2024-05-01T10:00:00Z"),
        _article("other", OTHER, "2024-05-01T07:00:00Z"),
        _article("tiny", "Flood plan approved.", "2024-05-01T07:00:00Z"),
    ]
    with TestPipeline() as p:
        edges = (
            p
            | "Create" >> beam.Create(articles)
            | "Find" >> FindNearDuplicates(threshold=0.5)
            | "Ids" >> beam.Map(lambda e: (e.child.id, e.parent.id, e.kind))
        )
        assert_that(edges, equal_to([("copy", "orig", "near")]))


@pytest.mark.slow
def test_a_pair_found_in_several_bands_is_one_edge_repeated_when_not_remembered(monkeypatch):
    # SEEN_PAIRS=0: VerifyCandidates remembers no pair, as if each band's shard came in
    # its own bundle; the copy shares most bands with its original, so the same edge
    # comes out several times, and never another one
    monkeypatch.setattr(near, "SEEN_PAIRS", 0)
    articles = [_article("copy", COPY, "2024-05-02T09:00:00Z"), _article("orig", STORY, "2024-05-01T08:00:00Z")]

    def check(found):
        (edges,) = found
        assert len(edges) > 5 and set(edges) == {("copy", "orig", "near")}, edges

    with TestPipeline() as p:
        edges = (
            p
            | "Create" >> beam.Create(articles)
            | "Find" >> FindNearDuplicates(threshold=0.5)
            | "Ids" >> beam.Map(lambda e: (e.child.id, e.parent.id, e.kind))
            | "All" >> beam.combiners.ToList()
        )
        assert_that(edges, check)


@pytest.mark.slow
def test_group_of_copies_resolves_to_one_original_with_mark_duplicates():
    copy2 = STORY.replace("welcomed", "praised") + " Sign up for our daily newsletter."
    articles = [
        _article("c1", COPY, "2024-05-01T12:00:00Z"),
        _article("c2", copy2, "2024-05-01T09:00:00Z"),
        _article("orig", STORY, "2024-05-01T08:00:00Z"),
        _article("exact", STORY, "2024-05-01T10:00:00Z") | {"content_hash": "orig"},
        _article("other", OTHER, "2024-05-01T07:00:00Z"),
    ]
    with TestPipeline() as p:
        arts = p | "Create" >> beam.Create(articles)
        near = arts | "Near" >> FindNearDuplicates()
        marked = arts | "Mark" >> MarkDuplicates(extra_edges=near)
        result = marked | "Status" >> beam.Map(lambda a: (a["id"], a["dedup"]["status"], a["dedup"]["duplicate_of"]))
        assert_that(
            result,
            equal_to([
                ("orig", UNIQUE, None),
                ("c1", NEAR, "orig"),
                ("c2", NEAR, "orig"),
                ("exact", EXACT, "orig"),
                ("other", UNIQUE, None),
            ]),
        )


def test_shared_buckets_are_the_hashes_two_or_more_entries_share_across_batches():
    rng = np.random.default_rng(7)
    entries = [(int(h), 1000 + i) for i, h in enumerate(rng.integers(0, 40, 300))]
    batches = [
        pack_band_batch([h for h, _ in part], [n for _, n in part])
        for part in (entries[:100], entries[100:250], entries[250:])
    ]
    reference: dict = {}
    for h, node in entries:
        reference.setdefault(h, []).append(node)
    expected = sorted((h, m) for h, m in reference.items() if len(m) > 1)
    assert sorted(shared_buckets(batches)) == expected  # members in entry order
    assert list(shared_buckets([pack_band_batch([1, 2], [7, 8])])) == []
    assert list(shared_buckets([])) == []


def test_node_names_keep_colliding_nodes_apart_by_their_band_hash(monkeypatch):
    sigs = {f"2024-05-0{i}\0id{i}": signature_bytes(sig(text)) for i, text in enumerate([STORY, OTHER, STORY_DE], 1)}
    names = NodeNames(sigs, 35, 3)
    by_hash = {node_hash(p): tuple(p.split("\0")) for p in sigs}
    assert names.nodes(list(by_hash), 0, 0) == list(by_hash.values())
    # every node under one hash: an entry names only the node whose band hash is the bucket's
    monkeypatch.setattr(near_pairs, "node_hash", lambda packed: 42)
    collided = NodeNames(sigs, 35, 3)
    for packed, raw in sigs.items():
        for band in (0, 17, 34):
            bucket = band_hashes(signature_of(raw), 35, 3)[band]
            assert collided.nodes([42], band, bucket) == [tuple(packed.split("\0"))]
    assert collided.nodes([42], 0, 12345) == []


@pytest.mark.parametrize(
    "name, text",
    [
        ("_TOKEN_HASHES", "Waffenruhe: Gespräche in Genf werden am Dienstagmorgen fortgesetzt, die Gesandten treffen sich"),
        ("_ASCII_TOKEN_HASHES", "Ceasefire talks resume in Geneva as envoys meet again on Tuesday morning"),
    ],
)
def test_the_token_hash_table_starts_over_when_full_and_hashes_stay_the_same(monkeypatch, name, text):
    from transforms.common.stage import Memo

    before = minhash_module.shingles(text)
    table = Memo(getattr(minhash_module, name)._fn, 3)
    monkeypatch.setattr(minhash_module, name, table)
    assert np.array_equal(minhash_module.shingles(text), before)
    assert 0 < len(table) <= 3


def test_verification_keeps_a_pair_exactly_at_the_threshold_and_drops_it_just_above():
    estimate = verify(sig(STORY), sig(COPY))
    child, parent = ("2024-05-02T09:00:00Z", "copy"), ("2024-05-01T08:00:00Z", "orig")
    args = (child, signature_bytes(sig(COPY)), parent, signature_bytes(sig(STORY)))
    assert near_pairs.verified_edge(*args, estimate) is not None
    assert near_pairs.verified_edge(*args, estimate + 1 / 128) is None  # one permutation more must agree


@pytest.mark.slow
def test_composite_verifies_with_the_threshold_it_is_given():
    # a threshold just above the pair's estimated Jaccard: found by the bands, refused by verification
    estimate = verify(sig(STORY), sig(COPY))
    articles = [_article("copy", COPY, "2024-05-02T09:00:00Z"), _article("orig", STORY, "2024-05-01T08:00:00Z")]
    for threshold, expected in ((estimate, [("copy", "orig")]), (estimate + 1 / 128, [])):
        with TestPipeline() as p:
            edges = (
                p
                | "Create" >> beam.Create(articles)
                | "Find" >> FindNearDuplicates(threshold=threshold, bands=64, rows=2)
                | "Ids" >> beam.Map(lambda e: (e.child.id, e.parent.id))
            )
            assert_that(edges, equal_to(expected))
