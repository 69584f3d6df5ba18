"""Story vectors and their similarity (transforms/stories/vectors.py)."""

import pytest

from tests.support.story_cases import QUAKE_PE_EN, QUAKE_TR_EN, QUAKE_TR_FR, vectors
from transforms.stories.features import story_features
from transforms.stories.params import StoryParams
from transforms.stories.vectors import (
    compact,
    cross_language_scale,
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


def test_across_two_languages_the_cosine_is_taken_in_the_neutral_parts():
    en, fr, pe = vectors(QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)
    plain = StoryParams(cross_language=False)
    assert 0.0 < en.neutral < 1.0 and 0.0 < fr.neutral < 1.0
    assert similarity(en, fr) == pytest.approx(min(1.0, similarity(en, fr, plain) / (en.neutral * fr.neutral)), abs=2e-3)
    assert similarity(en, pe) == pytest.approx(similarity(en, pe, plain))  # one language: the plain cosine
    assert cross_language_scale("en", "", 0.5, 0.5) == 1.0  # a language unknown: the plain cosine
    assert cross_language_scale("en", "fr", 0.1, 0.5) == pytest.approx(1 / (0.3 * 0.5))  # neutral_floor


def test_compact_vectors_score_like_the_exact_cosine():
    vs = vectors(QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN)
    for a in vs:
        for b in vs:
            exact = sum(w * b.weights[f] for f, w in a.weights.items() if f in b.weights)
            exact *= cross_language_scale(a.language, b.language, a.neutral, b.neutral)
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


def test_time_decay_has_a_grace_period_and_a_half_life():
    params = StoryParams(grace_hours=24, half_life_hours=72)
    assert time_decay("2025-01-01T00:00:00Z", "2025-01-01T20:00:00Z", params) == 1.0
    assert time_decay("2025-01-01T00:00:00Z", "2025-01-05T00:00:00Z", params) == pytest.approx(0.5)
    assert time_decay("2025-01-01T00:00:00Z", None, params) == 1.0
