"""The pieces of the round-9 lexical-model experiment (eval/topiclexical.py) that decide its numbers."""

import math

import numpy as np

from eval.blindtopics import CORE
from eval.topiclexical import (
    Article,
    Logistic,
    Ridge,
    choose,
    choose_removal,
    combined,
    grams,
    paired,
    quote_lexicon,
    quote_scores,
    removed,
)

S = CORE.index("sanctions")


def _article(
    gold: set[str], rules: set[str] = frozenset(), words: str = "", quote: str = "", set_: str = "a"
) -> Article:
    g = grams(words, "en", ())
    return Article(
        id=words, set=set_, language="en", gold=set(gold), kind="", trap_for=set(), rules=set(rules), scores={},
        era=set(rules), era_scores={}, groups={"t": set(), "l": set(), "b": set()},
        grams={"t": set(), "l": g, "b": set()}, quotes={"sanctions": grams(quote, "en", ())} if quote else {},
    )  # fmt: skip


def test_grams_are_stems_and_adjacent_stem_pairs():
    assert grams("New sanctions imposed", "en", ()) == {"new", "sanction", "impos", "new_sanction", "sanction_impos"}


def test_ridge_separates_and_a_larger_penalty_shrinks_the_scores():
    x = np.array([[1.0, v] for v in (-2.0, -1.0, 1.0, 2.0)])
    y = np.array([[0.0], [0.0], [1.0], [1.0]])
    model = Ridge(x @ x.T, y)
    loose = (x @ x.T) @ model.alpha(0.01)
    tight = (x @ x.T) @ model.alpha(100.0)
    assert loose[-1, 0] > 0.9 and loose[0, 0] < 0.1
    assert np.ptp(tight) < 0.5 * np.ptp(loose)


def test_a_threshold_is_taken_only_where_it_beats_the_rules_at_the_precision_floor():
    arts = [_article({"sanctions"}, {"sanctions"}), _article({"sanctions"}), _article(set()), _article(set())]
    scores = np.zeros((4, len(CORE)))
    scores[:, S] = [0.9, 0.8, 0.6, 0.1]
    th = choose(arts, [a.rules for a in arts], scores, 0.92, None)
    assert 0.6 < th["sanctions"] <= 0.8  # adds the second article, not the third
    assert math.isinf(th["ceasefire"])  # nothing to gain: adds nothing
    scores[:, S] = [0.9, 0.5, 0.6, 0.1]  # the miss ranks below a negative: no threshold keeps P >= 0.92
    assert math.isinf(choose(arts, [a.rules for a in arts], scores, 0.92, None)["sanctions"])
    cues = np.zeros((4, len(CORE)), dtype=bool)  # with a second cue required and none there: nothing
    scores[:, S] = [0.9, 0.8, 0.6, 0.1]
    assert math.isinf(choose(arts, [a.rules for a in arts], scores, 0.92, cues)["sanctions"])


def test_the_model_adds_to_the_rules_and_removes_only_core_tags_below_the_cut():
    scores = np.zeros((2, len(CORE)))
    scores[:, S] = [0.7, 0.2]
    tags = combined([{"energy"}, {"sanctions", "energy"}], scores, {"sanctions": 0.5})
    assert tags == [{"energy", "sanctions"}, {"sanctions", "energy"}]
    cut = {t: -math.inf for t in CORE} | {"sanctions": 0.3}
    assert removed(tags, scores, cut) == [{"energy", "sanctions"}, {"energy"}]
    arts = [_article({"sanctions"}, {"sanctions"}), _article(set(), {"sanctions"})]
    assert choose_removal(arts, [a.rules for a in arts], scores)["sanctions"] > 0.2


def test_the_quote_lexicon_keeps_words_of_the_quotes_that_carry_the_topic():
    arts = [
        _article({"sanctions"}, words="the council blacklisted the bank", quote="blacklisted the bank"),
        _article({"sanctions"}, words="brussels blacklisted a shipper", quote="blacklisted a shipper"),
        _article(set(), words="the bank opened a branch"),
        _article(set(), words="the bank raised rates"),
    ]
    lex = quote_lexicon(arts, 2, 0.3)["sanctions"]
    assert "blacklist" in lex  # in two quotes, in no other article
    assert "the" not in lex and "bank" not in lex  # in one quote only
    assert quote_lexicon(arts, 2, 0.6)["sanctions"] == {}  # 2 / (2 + 0 + 2) = 0.5 < 0.6
    x = quote_scores(
        [_article(set(), words="they blacklisted him"), _article(set(), words="rates")],
        {**{t: {} for t in CORE}, "sanctions": lex},
    )
    assert x[0, S] > 0.3 and x[1, S] == 0.0


def test_logistic_gives_log_odds_that_separate_and_shrink_with_the_penalty():
    x = np.array([[1.0, v] for v in (-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)])
    y = np.array([[0.0], [0.0], [1.0], [0.0], [1.0], [1.0]])
    k = x @ x.T
    loose, tight = k @ Logistic(k, y).alpha(0.01), k @ Logistic(k, y).alpha(100.0)
    assert loose[-1, 0] > 2.0 > -2.0 > loose[0, 0]
    assert np.ptp(tight) < 0.1 * np.ptp(loose)


def test_the_paired_gain_is_zero_for_the_same_tags_and_positive_for_a_right_addition():
    arts = [_article({"sanctions"}, {"sanctions"}), _article({"sanctions"}), _article(set())] * 5
    ref = [a.rules for a in arts]
    assert paired(arts, ref, ref).startswith("+0.0000") and "> 0 in 0% " in paired(arts, ref, ref)
    better = [r | (a.gold & {"sanctions"}) for a, r in zip(arts, ref)]
    assert paired(arts, ref, better).startswith("+0.3333")  # F1 2/3 -> 1
