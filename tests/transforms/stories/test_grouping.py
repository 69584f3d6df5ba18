"""Average-link story grouping of scored edges (transforms/stories/grouping.py)."""

import numpy as np

from tests.support.story_cases import random_edges
from transforms.stories.blocks import Node
from transforms.stories.grouping import ScoredEdges, cluster_edges


def test_average_link_does_not_chain_through_a_bridge():
    a, b, c, d = (Node("2025-01-01T00:00:00Z", x) for x in "abcd")
    # a-b and c-d are tight; b-c is a single strong bridge; average over all cross pairs stays low
    edges = [(a, b, 0.9), (c, d, 0.9), (b, c, 0.5)]
    roots = cluster_edges(edges, threshold=0.3)
    assert roots == {"a": "a", "b": "a", "c": "c", "d": "c"}
    assert cluster_edges(reversed(edges), threshold=0.3) == roots


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


def test_scored_edges_keep_each_node_once_and_survive_packing():
    edges = random_edges(500, 50, seed=3)
    held = ScoredEdges()
    for a, b, score in edges:
        held.add(a, b, score)
    assert len(held.keys) == len({n for a, b, _ in edges for n in (a, b)}) <= 50
    back = ScoredEdges.of(held.packed())
    assert back.keys == held.keys and back.a == held.a and back.b == held.b and back.scores == held.scores
    assert back.cluster(0.3) == cluster_edges(edges, 0.3)


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


def test_scored_edges_decoded_from_their_packed_form_keep_accumulating():
    """The story combine ships its accumulators packed and goes on adding to them."""
    edges = random_edges(300, 40, seed=8)
    first, second, third = edges[:100], edges[100:200], edges[200:]
    held = ScoredEdges()
    for a, b, score in first:
        held.add(a, b, score)
    held.fixed["x-remembered"] = "root"
    back = ScoredEdges.of(held.packed())
    for a, b, score in second:  # new and known nodes alike
        back.add(a, b, score)
    other = ScoredEdges()
    for a, b, score in third:
        other.add(a, b, score)
    back.extend(ScoredEdges.of(other.packed()))
    assert len(back.keys) == len(set(back.keys))  # each node once
    assert back.cluster(0.3) == cluster_edges(edges, 0.3, {"x-remembered": "root"})


def test_a_weak_edge_to_a_remembered_story_counts_when_another_member_is_strongly_linked():
    """Members of one remembered story are one group from the start, so the weak edge from a
    new article to one member counts in its mean with the story, though that member's own
    strong link runs elsewhere."""
    n, m = Node("2025-01-02T00:00:00Z", "n"), Node("2025-01-02T01:00:00Z", "m")
    p1, p2 = Node("2025-01-01T00:00:00Z", "p1"), Node("2025-01-01T01:00:00Z", "p2")
    fixed = {"p1": "R", "p2": "R"}
    edges = [(n, p1, 0.6), (n, p2, 0.45), (m, p2, 0.9)]
    roots = cluster_edges(edges, 0.5, fixed)
    assert roots["n"] == "R"  # (0.6 + 0.45) / 2 >= 0.5
    assert "m" not in roots  # 0.9 / 3 once n has joined
    assert "n" not in cluster_edges([(n, p1, 0.6), (m, p2, 0.9)], 0.5, fixed)  # 0.6 / 2 alone is not enough
