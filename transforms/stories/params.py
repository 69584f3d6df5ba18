"""The story clustering settings (section ``stories`` of the job config).

A module of its own so that the config loader reads them without importing the
clustering code or its lexicon.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class StoryParams:
    """Story clustering settings (section ``stories`` of the job config)."""

    threshold: float = 0.20  # mean cross-pair similarity needed to merge two groups
    edge_floor: float = 0.08  # pairs scoring below this are not kept as edges
    half_life_hours: float = 72.0  # time decay half-life of the similarity (within one language)
    grace_hours: float = 24.0  # no decay within this distance
    max_block_size: int = 300  # features shared by more articles are not blocking keys
    block_keys_per_article: int = 12  # the most specific features an article is blocked by
    window: int = 12  # in a block, each article is compared with the next this many in time order
    max_chars: int = 4000  # text read per article (the lead carries the event)
    entity_weight: float = 2.0
    concept_weight: float = 1.0
    number_weight: float = 1.5
    date_weight: float = 1.5
    year_weight: float = 0.3
    word_weight: float = 1.0
    title_repeat: int = 2  # the title counts this many times
    place_weight: float = 2.0  # a place (p:<geonameid>, k:<country>) named once: like a name
    organisation_weight: float = 0.0  # an organisation (o:<id>) named once (0: not a story feature)
    cross_language: bool = True  # across two languages, compare the language-neutral parts of the vectors
    cross_language_factor: float = 1.0  # what a cross-language cosine is multiplied by
    neutral_floor: float = 0.3  # the smallest neutral norm an article is taken to have (caps the boost)
    cross_language_half_life_hours: float = 36.0  # the time decay's half-life across two languages
    # across two languages, a pair whose plain cosine (whole vectors, places included, before the
    # neutral norms scale it up) is below this is no edge: a chance overlap of a few neutral features
    cross_language_min_cosine: float = 0.035
