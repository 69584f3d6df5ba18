"""Story vectors and their similarity (transforms/stories/vectors.py)."""

import pytest

from tests.support.story_cases import QUAKE_PE_EN, QUAKE_TR_EN, QUAKE_TR_FR, vectors
from transforms.stories.features import is_cross_only, story_features
from transforms.stories.params import StoryParams
from transforms.stories.vectors import (
    across_languages,
    compact,
    cross_norm,
    document_frequencies,
    similarity,
    time_decay,
    vectorize,
)


def test_similarity_is_symmetric_and_decays_with_time():
    a, b = vectors(QUAKE_TR_EN, QUAKE_TR_FR)
    assert similarity(a, b) == pytest.approx(similarity(b, a))
    assert 0.0 < similarity(a, b) <= 1.0
    later = b._replace(published_at="2025-05-03T08:15:00Z")
    much_later = b._replace(published_at="2025-06-03T08:15:00Z")
    undated = b._replace(published_at="")
    assert similarity(a, much_later) < similarity(a, later) < similarity(a, b)
    assert similarity(a, undated) == pytest.approx(similarity(a, b._replace(published_at=a.published_at)))


def exact_score(a, b, params=StoryParams()):
    """The similarity of two :class:`Vector` s from their weights, without the compact form."""
    across = across_languages(a.language, b.language, params)
    dot = sum(w * b.weights[f] for f, w in a.weights.items() if f in b.weights and (across or not is_cross_only(f)))
    if across:
        dot /= cross_norm(a.neutral, a.full, params) * cross_norm(b.neutral, b.full, params)
    return min(1.0, dot) * time_decay(a.published_at, b.published_at, params, across)


def test_across_two_languages_the_cosine_is_taken_in_the_neutral_parts_places_included():
    en, fr, pe = vectors(QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)
    plain = StoryParams(cross_language=False)
    assert any(f.startswith("k:") for f in en.weights) and any(f.startswith("k:") for f in fr.weights)  # Turkey
    assert 0.0 < en.neutral < en.full and 0.0 < fr.neutral < fr.full
    assert similarity(en, fr) > similarity(en, fr, plain)
    assert similarity(en, fr) == pytest.approx(exact_score(en, fr), abs=2e-3)
    assert similarity(en, pe) == pytest.approx(similarity(en, pe, plain))  # one language: the plain cosine
    assert not across_languages("en", "") and not across_languages("en", "en") and across_languages("en", "fr")
    assert cross_norm(0.1, 1.2) == pytest.approx(0.3 * 1.2) and cross_norm(0.5, 1.2) == 0.5  # neutral_floor


def test_within_one_language_places_change_no_score():
    """Same-language pairs score as they did before places existed: the vector is unit
    length without them and their dot products are not added."""
    tr_en, pe_en = QUAKE_TR_EN, QUAKE_PE_EN
    tr_other = dict(QUAKE_TR_EN, id="tr-en-2", title="Earthquake in Malatya: rescue goes on",
                    published_at="2025-04-24T06:40:00Z")
    with_places = vectors(tr_en, tr_other, pe_en)
    without = vectors(*(dict(a, places=[], organisations=[]) for a in (tr_en, tr_other, pe_en)))
    assert any(is_cross_only(f) for f in with_places[0].weights)
    assert not any(is_cross_only(f) for f in without[0].weights)
    for i in range(3):
        base = {f: w for f, w in with_places[i].weights.items() if not is_cross_only(f)}
        assert base == pytest.approx(without[i].weights, rel=1e-12)  # unit length without the places
        for j in range(3):
            assert similarity(with_places[i], with_places[j]) == similarity(without[i], without[j])
    fr = vectors(tr_en, QUAKE_TR_FR)
    fr_without = vectors(*(dict(a, places=[], organisations=[]) for a in (tr_en, QUAKE_TR_FR)))
    assert similarity(*fr) > similarity(*fr_without)  # across languages they count


def test_across_languages_the_time_decay_has_its_own_half_life():
    params = StoryParams(grace_hours=24, half_life_hours=72, cross_language_half_life_hours=36)
    a, b = "2025-01-01T00:00:00Z", "2025-01-03T12:00:00Z"  # 60 h: 36 h past the grace period
    assert time_decay(a, b, params) == pytest.approx(0.5 ** 0.5)
    assert time_decay(a, b, params, across=True) == pytest.approx(0.5)
    en, fr = vectors(QUAKE_TR_EN, QUAKE_TR_FR)
    later = fr._replace(published_at="2025-04-25T18:40:00Z")  # 60 h after en
    assert similarity(en, later, params) == pytest.approx(0.5 * similarity(en, fr._replace(
        published_at=en.published_at), params), abs=1e-9)


def test_compact_vectors_score_like_the_exact_cosine():
    vs = vectors(QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)
    for a in vs:
        for b in vs:
            # float16 weights: 11 significant bits, so a score moves by well under 1e-3
            assert similarity(compact(a), compact(b)) == pytest.approx(exact_score(a, b), abs=1e-3)
    a, b, c = vs
    assert similarity(a, b) > similarity(a, c) > 0.0


def test_features_of_no_other_article_are_not_carried_and_change_no_score():
    feats = [story_features(x) for x in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)]
    df, n = document_frequencies(feats)
    a, b, c = (vectorize(f, df, n) for f in feats)
    kept = compact(a, df)
    carried = sum(1 for f in a.weights if df[f] >= 2 and not is_cross_only(f))
    places = sum(1 for f in a.weights if df[f] >= 2 and is_cross_only(f))
    # 4-byte hashes and 2-byte weights per carried feature; places apart
    assert carried < len(a.weights) and len(kept.hashes) == 4 * carried and len(kept.weights) == 2 * carried
    assert len(kept.cross_hashes) == 4 * places and len(kept.cross_weights) == 2 * places
    assert similarity(kept, compact(b, df)) == pytest.approx(similarity(compact(a), compact(b)), abs=1e-6)
    assert similarity(kept, compact(c, df)) == pytest.approx(similarity(compact(a), compact(c)), abs=1e-6)


def test_time_decay_has_a_grace_period_and_a_half_life():
    params = StoryParams(grace_hours=24, half_life_hours=72)
    assert time_decay("2025-01-01T00:00:00Z", "2025-01-01T20:00:00Z", params) == 1.0
    assert time_decay("2025-01-01T00:00:00Z", "2025-01-05T00:00:00Z", params) == pytest.approx(0.5)
    assert time_decay("2025-01-01T00:00:00Z", None, params) == 1.0
