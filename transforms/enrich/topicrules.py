"""The shapes a topic taxonomy compiles to: patterns, topics and the scoring model.

Shared by the loader (:mod:`transforms.enrich.taxonomy`), the matcher
(:mod:`transforms.enrich.topicscan`) and the tagger (:mod:`transforms.enrich.topics`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

SCHEMA_VERSION = 1
REQUIRED_LANGUAGES = ("en", "fr", "de", "es", "it", "pl", "uk", "ru", "nl")
ANY_LANGUAGE = "any"  # key in exclude/requires for language-independent context
_FLAGS = re.IGNORECASE  # str patterns are Unicode-aware by default


class TaxonomyError(ValueError):
    """The taxonomy file or mapping is invalid; the message names the topic and key."""


@dataclasses.dataclass(frozen=True)
class Pattern:
    topic: str
    language: str
    source: str  # the regex, after phrase inflection, macro expansion and whitespace normalisation
    weight: float
    weak: bool
    written: str = ""  # as written in the taxonomy (the phrase or regex), for --explain


@dataclasses.dataclass(frozen=True)
class Topic:
    name: str
    description: str
    codes: Mapping[str, Any]
    patterns: Mapping[str, tuple[Pattern, ...]]
    exclude: Mapping[str, tuple[str, ...]]
    requires: Mapping[str, tuple[str, ...]]
    window: int | None = None  # context window for this topic; None: the taxonomy's
    min_score: float | None = None  # threshold for a tag; None: the taxonomy's
    context: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # article-level anchors


@dataclasses.dataclass(frozen=True)
class Scoring:
    """How a topic's evidence adds up to its score (``configs/topics.yaml``, ``scoring``).

    Each distinct phrase counts once with its pattern weight times the factor of
    the best place it occurs in (``title``, ``lead``: the first paragraph, ``body``),
    in the lead times ``background`` when a background cue of the language precedes
    it in its sentence; in the body only the best hit of each sentence counts; each further occurrence of a phrase in another sentence adds
    ``repeat`` times that, at most ``max_repeats`` times. The score is
    ``1 - exp(-sum)``. A topic with ``context`` anchors none of which occurs in the
    title or text (a "ceasefire" between two supermarkets, a court freezing a
    developer's accounts) has its sum multiplied by ``no_context``."""

    title: float = 1.2
    lead: float = 1.0
    body: float = 0.5
    repeat: float = 0.5
    max_repeats: int = 3
    background: float = 0.4
    background_window: int = 60
    lead_chars: int = 600
    no_context: float = 0.1
