"""The pieces of the learned-second-stage experiment (eval/topiclearned.py) that decide its numbers."""

import numpy as np

from eval.topiclearned import Article, auc, counts, fit, tags_at
from transforms.enrich.topics import TopicScore


def test_fit_separates_and_the_penalty_shrinks_the_weights():
    x = np.array([[1.0, v] for v in (-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)])
    y = np.array([0.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    loose, tight = fit(x, y, 0.01), fit(x, y, 100.0)
    assert loose[1] > 1.0
    assert 0.0 < tight[1] < 0.05
    p = 1.0 / (1.0 + np.exp(-(x @ loose)))
    assert p[-1] > 0.9 > 0.1 > p[0]


def test_auc_counts_ties_as_half_and_is_undefined_without_both_classes():
    assert auc([True, False], [0.9, 0.1]) == 1.0
    assert auc([True, False], [0.1, 0.9]) == 0.0
    assert auc([True, False, False], [0.5, 0.5, 0.2]) == 0.75
    assert np.isnan(auc([True, True], [0.1, 0.2]))


def _article(gold: set[str], tagged: set[str], untagged: set[str]) -> Article:
    scored = [TopicScore(n, 0.7, 0.5, ()) for n in sorted(tagged)] + [TopicScore(n, 0.3, 0.5, ()) for n in untagged]
    return Article("s", gold, "en", scored, set(), [])


def test_an_adding_stage_keeps_the_rules_tags_and_a_replacing_one_does_not():
    arts = [_article({"sanctions", "ceasefire"}, {"sanctions"}, {"ceasefire"}), _article(set(), {"energy"}, set())]
    probs = {(0, "ceasefire"): 0.8, (1, "energy"): 0.2}
    assert tags_at(arts, probs, 0.5) == [{"ceasefire"}, set()]
    assert tags_at(arts, probs, 0.5, add=True) == [{"sanctions", "ceasefire"}, {"energy"}]
    assert counts(arts, tags_at(arts, probs, 0.5, add=True)) == {"tp": 2, "fp": 1, "fn": 0}
    assert counts(arts, tags_at(arts, probs, 0.9), ["sanctions"]) == {"tp": 0, "fp": 0, "fn": 1}
