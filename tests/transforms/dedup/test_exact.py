import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.mark_duplicates import MarkDuplicates
from transforms.dedup.exact import (
    EXACT,
    NEAR,
    UNIQUE,
    Edge,
    Node,
    UnionFind,
    exact_keys,
    group_edges,
    is_original,
    mark,
    resolve_duplicates,
)


def art(id_, published=None, url=None, content="c-" + "x"):
    return {"id": id_, "published_at": published, "url": url, "content_hash": content}


def test_group_edges_point_every_copy_at_the_earliest():
    a, b, c = Node("2025-01-01T00:00:00Z", "b"), Node("2025-01-01T00:00:00Z", "a"), Node("2024-12-31T00:00:00Z", "z")
    edges = list(group_edges([a, b, c], "exact"))
    assert {e.child for e in edges} == {a, b}
    assert {e.parent for e in edges} == {c}


def test_group_edges_ignores_repeated_members():
    n = Node("2025", "a")
    assert list(group_edges([n, n], "exact")) == []


def test_union_find_root_is_smallest_node():
    uf = UnionFind()
    nodes = [Node("2025", str(i)) for i in range(6)]
    uf.union(nodes[5], nodes[4])
    uf.union(nodes[3], nodes[4])
    uf.union(nodes[1], nodes[3])
    assert {uf.find(n) for n in (nodes[1], nodes[3], nodes[4], nodes[5])} == {nodes[1]}
    assert uf.find(nodes[2]) == nodes[2]


def test_chains_resolve_to_one_original_with_status_by_edge_kind():
    a, b, c, d = (Node(f"2025-01-0{i}", n) for i, n in enumerate("abcd", start=1))
    result = resolve_duplicates(
        [Edge(b, a, "exact"), Edge(c, b, "near"), Edge(d, c, "exact")]  # d copies c exactly, c is a near copy
    )
    assert result == {"b": (EXACT, "a"), "c": (NEAR, "a"), "d": (NEAR, "a")}


def test_exact_keys_by_url_and_content_switchable():
    a = art("1", url="https://x.org/a", content="h")
    assert exact_keys(a) == ["url:https://x.org/a", "content:h"]
    assert exact_keys(a, by_url=False) == ["content:h"]
    assert exact_keys({"id": "2", "url": None, "content_hash": None}) == []


def test_mark_defaults_to_unique():
    assert mark(art("q"), {})["dedup"] == {"status": UNIQUE, "duplicate_of": None}
    assert mark(art("q"), {"q": (EXACT, "p")})["dedup"] == {"status": EXACT, "duplicate_of": "p"}


@pytest.mark.slow
def test_mark_duplicates_composite_marks_copies_and_keeps_everything():
    articles = [
        art("orig", "2025-03-15T10:00:00Z", "https://a.example/x", "H1"),
        art("copy-same-text", "2025-03-15T12:00:00Z", "https://b.example/y", "H1"),
        art("copy-same-url", "2025-03-16T00:00:00Z", "https://a.example/x", "H2"),
        art("undated-copy", None, "https://c.example/z", "H1"),
        art("other", "2025-03-14T00:00:00Z", "https://d.example/o", "H3"),
    ]
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(articles)
            | MarkDuplicates()
            | beam.Map(lambda a: (a["id"], a["dedup"]["status"], a["dedup"]["duplicate_of"]))
        )
        assert_that(
            out,
            equal_to(
                [
                    ("orig", UNIQUE, None),
                    ("copy-same-text", EXACT, "orig"),
                    ("copy-same-url", EXACT, "orig"),
                    ("undated-copy", EXACT, "orig"),
                    ("other", UNIQUE, None),
                ]
            ),
        )


@pytest.mark.slow
def test_mark_duplicates_resolves_extra_near_edges_with_exact_ones():
    articles = [art("a", "2025-01-01", content="A"), art("b", "2025-01-02", content="B"), art("c", "2025-01-03", content="B")]
    with TestPipeline() as p:
        near = p | "Near" >> beam.Create([Edge(Node("2025-01-02", "b"), Node("2025-01-01", "a"), "near")])
        out = (
            p
            | "Articles" >> beam.Create(articles)
            | MarkDuplicates(extra_edges=near)
            | beam.Map(lambda a: (a["id"], a["dedup"]["status"], a["dedup"]["duplicate_of"]))
        )
        assert_that(out, equal_to([("a", UNIQUE, None), ("b", NEAR, "a"), ("c", NEAR, "a")]))


def test_is_original_reads_the_resolved_duplicates():
    duplicates = {"b": ("exact_duplicate", "a")}
    assert is_original("a", duplicates) and not is_original("b", duplicates)
