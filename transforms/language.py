"""Language identification with langdetect, deterministic and bounded.

langdetect is the detector of record. It is random by design (it samples
n-grams), so the factory is seeded; its profiles take about a second to load, so
they load once per process, under a lock (langdetect's own global factory races
under Beam's multi-threaded workers), in ``DoFn.setup()``.

Counters (namespace ``newsbeam.language``): ``in``, ``out``, ``rejected``, and
``lang_<code>`` per detected language.
"""

from __future__ import annotations

import threading
import unicodedata
from typing import Any, Callable

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.beamutil import GuardedMap, guarded, namespace

UNDETERMINED = "und"
_CODE_MAP = {"zh-cn": "zh", "zh-tw": "zh"}

_lock = threading.Lock()
_factories: dict[int, Any] = {}


def load_factory(seed: int = 0) -> Any:
    """A loaded, seeded langdetect ``DetectorFactory``, one per process and seed."""
    with _lock:
        factory = _factories.get(seed)
        if factory is None:
            from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

            factory = DetectorFactory()
            factory.load_profile(PROFILES_DIRECTORY)
            factory.set_seed(seed)
            _factories[seed] = factory
        return factory


def count_letters(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch).startswith("L"))


def sample_text(text: str, max_chars: int) -> str:
    """The part of ``text`` the detector reads: at most ``max_chars``, cut at a space."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > max_chars // 2 else max_chars]


def detect_language(
    text: str,
    factory: Any,
    *,
    max_chars: int = 1000,
    min_letters: int = 20,
    min_confidence: float = 0.5,
) -> tuple[str, float]:
    """``(iso_639_1_code, probability)`` for ``text``; ``("und", 0.0)`` when the
    text has fewer than ``min_letters`` letters or no language reaches
    ``min_confidence``."""
    from langdetect.lang_detect_exception import LangDetectException

    sample = sample_text(text, max_chars)
    if count_letters(sample) < min_letters:
        return UNDETERMINED, 0.0
    detector = factory.create()
    detector.append(sample)
    try:
        candidates = detector.get_probabilities()
    except LangDetectException:
        return UNDETERMINED, 0.0
    if not candidates or candidates[0].prob < min_confidence:
        return UNDETERMINED, 0.0
    best = candidates[0]
    return _CODE_MAP.get(best.lang, best.lang), round(float(best.prob), 4)


def make_language_fn(
    seed: int = 0, max_chars: int = 1000, min_letters: int = 20, min_confidence: float = 0.5
) -> Callable[[dict], dict]:
    """Build the per-article function (loads the detector: call it in ``setup()``)."""
    factory = load_factory(seed)
    counters: dict[str, Any] = {}

    def apply(article: dict) -> dict:
        text = article["text"]
        title = article.get("title") or ""
        lang, confidence = detect_language(
            f"{title}\n{text}" if title else text,
            factory,
            max_chars=max_chars,
            min_letters=min_letters,
            min_confidence=min_confidence,
        )
        declared = article.get("language")
        if lang == UNDETERMINED and declared:
            lang, confidence = declared, 0.0
        out = dict(article)
        out["language"] = lang
        out["language_confidence"] = confidence
        out["language_declared"] = declared
        counter = counters.get(lang)
        if counter is None:
            counter = counters[lang] = Metrics.counter(namespace("language"), f"lang_{lang}")
        counter.inc()
        return out

    return apply


class DetectLanguage(beam.PTransform):
    """Set ``language`` (ISO 639-1 or ``und``) and ``language_confidence`` on each article.

    Returns ``(articles, dead_letters)``.
    """

    def __init__(self, seed: int = 0, max_chars: int = 1000, min_letters: int = 20, min_confidence: float = 0.5):
        super().__init__()
        self._args = (seed, max_chars, min_letters, min_confidence)

    def expand(self, articles: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        args = self._args
        return guarded("Detect", articles, GuardedMap("language", setup_fn=lambda: make_language_fn(*args)))
