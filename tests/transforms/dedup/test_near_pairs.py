"""Near-duplicate pairs without Beam (transforms/dedup/near_pairs.py): the edge verification
makes, the bands and rows a caller gives, buckets at their size limit, members read twice,
and nodes named in band batches and back."""

from __future__ import annotations

import pytest

from transforms.dedup.exact import Edge, Node
from transforms.dedup.minhash import Sketcher, band_hashes, signature_bytes, verify
from transforms.dedup.near_pairs import (
    NodeNames,
    bucket_pairs,
    find_near_pairs,
    node_hash,
    pack_band_batch,
    packed_node,
    shared_buckets,
    verified_edge,
)

STORY = (
    "The regional council approved a new flood defence plan on Monday after three days of debate, "
    "committing 40 million euros to raise embankments along the river. Engineers said the work would "
    "start in early spring and take about two years to complete. Residents of the lower town, which was "
    "flooded twice in the past decade, welcomed the decision but asked for temporary barriers before the "
    "autumn storms."
)
COPY = STORY.replace("Engineers said", "Engineers at the ministry said").replace("two years", "three years") + (
    " Reporting by Ana Lind.")
ORIGINAL, LATER = Node("2024-05-01T08:00:00Z", "orig"), Node("2024-05-02T09:00:00Z", "copy")


def test_verification_makes_an_edge_from_the_later_to_the_earlier():
    a, b = signature_bytes(Sketcher()(COPY)), signature_bytes(Sketcher()(STORY))
    edge = verified_edge(tuple(LATER), a, tuple(ORIGINAL), b, 0.5)
    assert edge == Edge(LATER, ORIGINAL, "near")
    assert edge.kind == "near" and edge.child.id == "copy" and edge.parent.published_at == ORIGINAL.published_at
    # the same article met twice (read again, or under two keys) is not its own duplicate
    assert verified_edge(tuple(LATER), a, ("2024-05-03T00:00:00Z", "copy"), b, 0.0) is None


def test_find_near_pairs_uses_the_bands_and_rows_it_is_given():
    texts = [(ORIGINAL, STORY), (LATER, COPY)]
    estimate = verify(Sketcher()(STORY), Sketcher()(COPY))
    assert 0.5 <= estimate < 1.0  # a near copy, not an identical one
    expected = {Edge(LATER, ORIGINAL, "near")}
    assert find_near_pairs(texts, threshold=0.5) == expected  # bands and rows from the threshold
    # one band of all 128 rows: only identical signatures share a bucket, so the pair is never a candidate
    assert find_near_pairs(texts, threshold=0.5, bands=1, rows=128) == set()
    # only one of the two given: both derived from the threshold
    assert find_near_pairs(texts, threshold=0.5, bands=0, rows=128) == expected
    assert find_near_pairs(texts, threshold=0.5, bands=1, rows=0) == expected


def test_a_bucket_of_exactly_max_bucket_members_yields_all_its_pairs():
    members = [(f"2024-01-01T00:0{i}:00Z", f"id{i}") for i in range(5)]
    pairs, oversized = bucket_pairs(list(reversed(members)), max_bucket=5, compare_earliest=2)
    assert not oversized
    assert list(pairs) == [(members[i], members[j]) for i in range(5) for j in range(i + 1, 5)]
    pairs, oversized = bucket_pairs(members + [("2024-01-01T00:09:00Z", "id9")], max_bucket=5, compare_earliest=2)
    assert oversized and len(list(pairs)) == 1 + 4 * 2


def test_an_article_twice_in_a_bucket_is_paired_once():
    a, b = ("2024-01-01T00:00:00Z", "a"), ("2024-01-01T01:00:00Z", "b")
    pairs, oversized = bucket_pairs([b, a, b, a, b], max_bucket=5)
    assert list(pairs) == [(a, b)] and not oversized
    # and in an oversized bucket: no article is compared with itself, each pair once
    members = [(f"2024-01-01T00:{i:02d}:00Z", f"id{i:02d}") for i in range(8)]
    pairs, oversized = bucket_pairs(members + members, max_bucket=4, compare_earliest=2)
    pairs = list(pairs)
    assert oversized and len(pairs) == len(set(pairs)) == 1 + 6 * 2
    assert all(x[1] != y[1] for x, y in pairs)


def test_node_names_give_back_the_nodes_band_batches_name():
    nodes = [ORIGINAL, LATER]
    sigs = {packed_node(n): signature_bytes(Sketcher()(t)) for n, t in zip(nodes, (STORY, COPY))}
    names = NodeNames(sigs, 35, 3)
    assert names.nodes([node_hash(packed_node(n)) for n in reversed(nodes)], 0, 0) == [tuple(LATER), tuple(ORIGINAL)]
    assert packed_node(ORIGINAL) == "2024-05-01T08:00:00Z\0orig"


@pytest.mark.parametrize("bands, rows", [(35, 3), (16, 8)])
def test_colliding_node_hashes_are_named_by_their_band_hash(monkeypatch, bands, rows):
    from transforms.dedup import near_pairs

    sigs = {packed_node(n): signature_bytes(Sketcher()(t)) for n, t in zip([ORIGINAL, LATER], (STORY, "x " + STORY))}
    monkeypatch.setattr(near_pairs, "node_hash", lambda packed: 7)
    names = NodeNames(sigs, bands, rows)
    sig_of = {n: Sketcher()(t) for n, t in zip([ORIGINAL, LATER], (STORY, "x " + STORY))}
    for node, signature in sig_of.items():
        for band in (0, bands - 1):
            bucket = band_hashes(signature, bands, rows)[band]
            found = names.nodes([7], band, bucket)
            assert tuple(node) in found
            assert all(band_hashes(sig_of[Node(*f)], bands, rows)[band] == bucket for f in found)


SHORT = "Frost destroyed the apricot blossom in the Pellin valley, growers said on Wednesday"
SHORT_COPY = "Frost destroyed the apricot blossom in the Pellin valley, the growers said on Wednesday"


def test_find_near_pairs_sketches_with_the_settings_it_is_given():
    edit = STORY.replace("on Monday", "on Tuesday").replace("40 million", "45 million")
    nodes = {name: Node(f"2024-05-0{i}T08:00:00Z", name) for i, name in enumerate(("orig", "s1", "copy", "s2", "edit"), 1)}
    texts = [
        (Node("2024-04-30T00:00:00Z", "tiny"), "Markets fall."),  # too short: no signature, the rest still read
        (nodes["orig"], STORY), (nodes["copy"], COPY), (nodes["edit"], edit),
        (nodes["s1"], SHORT), (nodes["s2"], SHORT_COPY),  # 11 three-word shingles each
    ]
    settings = {"num_perm": 64, "seed": 11, "k": 3, "min_shingles": 10}
    sketch = Sketcher(**settings)
    assert verify(sketch(SHORT), sketch(SHORT_COPY)) >= 0.6
    edges = find_near_pairs(texts, threshold=0.6, bands=32, rows=2, **settings)
    assert edges == {
        Edge(nodes["copy"], nodes["orig"], "near"), Edge(nodes["edit"], nodes["orig"], "near"),
        Edge(nodes["edit"], nodes["copy"], "near"), Edge(nodes["s2"], nodes["s1"], "near"),
    }
    # the default 20 shingles of 5 words leave the short pair out
    assert Edge(nodes["s2"], nodes["s1"], "near") not in find_near_pairs(texts, threshold=0.6)


def test_band_batches_carry_full_64_bit_hashes():
    # band and node hashes are xxhash values over the whole unsigned 64-bit range, a batch mixes
    # values above and below 2**63
    big, small = 2**64 - 5, 2**40 + 7
    nodes = [node_hash(packed_node(n)) for n in (ORIGINAL, LATER, ("2024-05-03T00:00:00Z", "third"))]
    batch = pack_band_batch([big, small, big], nodes)
    assert list(shared_buckets([batch])) == [(big, [nodes[0], nodes[2]])]
    assert list(shared_buckets([pack_band_batch([small, big, small], [1, 2**63 + 1, 2])])) == [(small, [1, 2])]


def test_two_entries_of_one_hash_are_a_bucket():
    assert list(shared_buckets([pack_band_batch([5, 5], [1, 2])])) == [(5, [1, 2])]
    assert list(shared_buckets([pack_band_batch([5], [1]), pack_band_batch([5, 6], [2, 3])])) == [(5, [1, 2])]


def test_find_near_pairs_caps_an_oversized_bucket_as_it_is_told():
    # four copies of one text share every band: one bucket per band, over max_bucket=2
    copies = [(Node(f"2024-05-0{i}T08:00:00Z", f"c{i}"), STORY) for i in range(1, 5)]
    first, *later = (node for node, _ in copies)
    capped = find_near_pairs(copies, max_bucket=2, compare_earliest=1)
    assert capped == {Edge(node, first, "near") for node in later}  # each compared with the earliest only
    everyone = find_near_pairs(copies, max_bucket=2, compare_earliest=3)
    assert len(everyone) == 6  # the three earliest among themselves, the fourth with each of them
    assert len(find_near_pairs(copies)) == 6  # 4 members: under the default max_bucket, all pairs
