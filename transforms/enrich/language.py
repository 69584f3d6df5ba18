"""Language identification: langdetect as the detector of record, made cheap.

langdetect is random by design (it samples n-grams), so its factory is seeded;
its profiles load once per process, under a lock (langdetect's own global
factory races under Beam's multi-threaded workers), when an article first needs
them (:class:`LazyFactory`; most runs' articles never do), from the regex cache's
arrays when it is on (:func:`_loaded_factory`). It
costs about 3 ms per article, so a fast pre-detector answers first: py3langid
(a naive-Bayes model shipped inside its PyPI package, ~0.1 ms on 300
characters). Its answer is kept only when it is near-certain and names a
language langdetect also knows; everything else (short, mixed, unusual text)
goes to langdetect. ``make eval`` reports the accuracy of both paths.

Counters (namespace ``newsbeam.language``): ``in``, ``out``, ``rejected``,
``lang_<code>`` per language, ``by_predetector`` and ``by_langdetect``.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.common.stage import GuardedMap, guarded, namespace, run_length
from transforms.enrich.text import count_letters

UNDETERMINED = "und"
_CODE_MAP = {"zh-cn": "zh", "zh-tw": "zh"}

_lock = threading.Lock()
_factories: dict[int, Any] = {}
_predetector: list[Any] = []


class Detection(NamedTuple):
    language: str
    confidence: float
    detector: str  # "py3langid", "langdetect" or "" (too little text)


def load_factory(seed: int = 0) -> Any:
    """A loaded, seeded langdetect ``DetectorFactory``, one per process and seed."""
    with _lock:
        factory = _factories.get(seed)
        if factory is None:
            factory = _loaded_factory()
            factory.set_seed(seed)
            _factories[seed] = factory
        return factory


class _ProbabilityRows(dict):
    """langdetect's ``word_lang_prob_map`` (word -> probability per language) over the cached
    matrix: a word's list is made from its row when langdetect first asks for it (the same
    floats: float64 rows of the lists langdetect built), so a process pays for the words its
    texts contain, not for all ~88,000."""

    def __init__(self, index: dict[str, int], matrix: Any) -> None:
        super().__init__()
        self._index = index
        self._matrix = matrix

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __missing__(self, word: str) -> list[float]:
        value = self[word] = self._matrix[self._index[word]].tolist()
        return value


def _loaded_factory() -> Any:
    """langdetect's factory with its profiles: from the regex cache's arrays when it is on
    (keyed by the profile files, in the order langdetect lists them, and this module's code:
    ~0.02 s), else read from the JSON profiles as langdetect reads them (~0.43 s)."""
    import hashlib
    import os

    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    from transforms.runtime.regexcache import cached_arrays, code_fingerprint

    built: list[Any] = []

    def build() -> dict[str, Any]:
        import numpy as np

        factory = DetectorFactory()
        factory.load_profile(PROFILES_DIRECTORY)
        built.append(factory)
        words = list(factory.word_lang_prob_map)
        probs = np.array([factory.word_lang_prob_map[w] for w in words], dtype=np.float64)
        return {"langs": np.array(factory.langlist), "words": np.array(words), "probs": probs}

    profiles = hashlib.sha256()
    for name in os.listdir(PROFILES_DIRECTORY):  # langdetect's order: the order of its languages
        with open(os.path.join(PROFILES_DIRECTORY, name), "rb") as fh:
            profiles.update(name.encode() + b"\0" + hashlib.sha256(fh.read()).digest())
    arrays = cached_arrays(f"langdetect\0{profiles.hexdigest()}\0{code_fingerprint(__file__)}", build)
    if built:
        return built[0]
    factory = DetectorFactory()
    if arrays is None:
        factory.load_profile(PROFILES_DIRECTORY)
        return factory
    factory.langlist = arrays["langs"].tolist()
    factory.word_lang_prob_map = _ProbabilityRows({w: i for i, w in enumerate(arrays["words"].tolist())}, arrays["probs"])
    return factory


class LazyFactory:
    """langdetect's factory for ``seed``, loaded (:func:`load_factory`, ~0.4 s) the first time an
    article needs langdetect: py3langid answers ~99.9 % of articles, so a small run often never
    does. ``langlist`` (what ``detect`` asks before taking py3langid's answer) is read from the
    profile file names, which are the profiles' language names. Detections are those of the
    loaded factory: langdetect seeds each detection, so when it loads does not matter."""

    def __init__(self, seed: int = 0) -> None:
        import os

        from langdetect.detector_factory import PROFILES_DIRECTORY

        self._seed = seed
        self.langlist = frozenset(os.listdir(PROFILES_DIRECTORY))

    def create(self) -> Any:
        return load_factory(self._seed).create()


def _fast_identifier_class() -> type:
    """py3langid 0.4's ``LanguageIdentifier`` with the same scores, computed
    about five times faster: the model's float16 weights are kept as float32
    too (+57 MB per process; numpy converts float16 rows slowly on every call),
    and the DFA walk over the text's bytes runs on arrays (see ``_raw_score``).
    Feature order (first occurrence) and counts are py3langid's, so the sums and
    probabilities are bit-identical."""
    import numpy as np
    from py3langid.langid import LanguageIdentifier

    class FastIdentifier(LanguageIdentifier):
        __slots__ = ("_ptc32", "_next", "_row", "_feature", "_depth")

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._ptc32 = np.asarray(self.nb_ptc, dtype=np.float32)
            self._next = np.asarray(self.tk_nextmove)  # state row + byte -> next state
            self._row = np.asarray(self._rowbase, dtype=np.intp)  # state -> its row's offset
            self._feature = np.asarray(self.tk_output, dtype=np.intp)  # state -> feature, or < 0
            self._depth = self._longest_path()

        def _longest_path(self) -> int:
            """The most bytes any state of the tokenizer's DFA lies from the start:
            breadth first, one level at a time on arrays (~0.1 s)."""
            step = np.arange(256)
            seen = np.zeros(len(self._row), dtype=bool)
            seen[0] = True
            level, depth = np.zeros(1, dtype=np.intp), 0
            while True:
                reached = np.zeros(len(self._row), dtype=bool)
                for at in range(0, len(level), 4096):
                    rows = self._row[level[at : at + 4096]]
                    reached[self._next[(rows[:, None] + step).ravel()]] = True
                level = np.flatnonzero(reached & ~seen)
                if not len(level):
                    return depth
                seen[level] = True
                depth += 1

        @classmethod
        def from_arrays(cls, arrays: dict[str, Any], norm_probs: bool = True) -> "FastIdentifier":
            """The identifier from :meth:`arrays` (e.g. memory-mapped from the cache): the
            same model, without decompressing it or converting its weights again."""
            from array import array

            row = np.asarray(arrays["row"])
            tk_row = array({2: "H", 4: "I", 8: "L"}[row.dtype.itemsize], row.tobytes())  # as py3langid loads it
            self = cls.__new__(cls)
            LanguageIdentifier.__init__(
                self, arrays["ptc"], arrays["pc"], np.asarray(arrays["classes"]).tolist(), arrays["nextmove"],
                np.asarray(arrays["output"]).tolist(), norm_probs=norm_probs, tk_row=tk_row,
            )
            self._ptc32 = arrays["ptc32"]
            self._next = arrays["nextmove"]
            self._row = np.asarray(self._rowbase, dtype=np.intp)
            self._feature = np.asarray(self.tk_output, dtype=np.intp)
            self._depth = int(arrays["depth"])
            return self

        def arrays(self) -> dict[str, Any]:
            """What :meth:`from_arrays` needs, as numpy arrays."""
            return {
                "ptc": np.asarray(self.nb_ptc), "pc": np.asarray(self.nb_pc), "classes": np.asarray(self.nb_classes),
                "nextmove": self._next, "row": np.asarray(self.tk_row), "output": np.asarray(self.tk_output),
                "ptc32": self._ptc32, "depth": np.asarray(self._depth),
            }

        def set_languages(self, langs: Any = None) -> None:
            super().set_languages(langs)
            self._ptc32 = np.asarray(self.nb_ptc, dtype=np.float32)

        def _raw_score(self, text: bytes) -> Any:
            # The tokenizer is an Aho-Corasick DFA over byte n-grams: its state after a
            # byte stands for the longest suffix read so far that prefixes an n-gram,
            # at most ``depth`` bytes, so walking the last ``depth`` bytes from the start
            # state reaches the same state. That walk runs for every position at once,
            # ``depth`` (6) array steps, instead of a Python step per byte, each waiting
            # on the last one's lookups in a 39 MB table.
            data = np.frombuffer(text, dtype=np.uint8)
            n = len(data)
            states = np.zeros(n, dtype=np.intp)
            for back in range(min(self._depth, n) - 1, -1, -1):  # positions >= back read byte i - back
                states[back:] = self._next[self._row[states[back:]] + data[: n - back]]
            features = self._feature[states]
            features = features[features >= 0]
            if not len(features):
                return super()._raw_score(text)  # featureless: py3langid's own fill
            # distinct features in order of first occurrence, as py3langid counts them
            distinct, first, counts = np.unique(features, return_index=True, return_counts=True)
            order = np.argsort(first)
            return np.log1p(counts[order].astype(np.float32)) @ self._ptc32.take(distinct[order], axis=0) + self.nb_pc

    return FastIdentifier


def load_predetector() -> Any:
    """py3langid's identifier (model from inside the package, normalised
    probabilities), one per process: ``.classify(text) -> (code, probability)``."""
    with _lock:
        if not _predetector:
            _predetector.append(_load_identifier())
        return _predetector[0]


def _load_identifier() -> Any:
    """py3langid's model as :class:`FastIdentifier` needs it: from the cache of decoded
    arrays when the regex cache is on (``regexcache.cached_arrays``: keyed by the model
    file's bytes and this module's code), else decompressed from the package (~0.9 s)."""
    import hashlib

    import py3langid
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from transforms.runtime.regexcache import cached_arrays, code_fingerprint

    fast = _fast_identifier_class()
    built: list[Any] = []

    def build() -> dict[str, Any]:
        built.append(fast.from_model_file(MODEL_FILE, norm_probs=True))
        return built[0].arrays()

    with open(MODEL_DIR / MODEL_FILE, "rb") as fh:
        model = hashlib.sha256(fh.read()).hexdigest()
    version = getattr(py3langid, "__version__", "")
    arrays = cached_arrays(f"py3langid\0{version}\0{model}\0{code_fingerprint(__file__)}", build)
    if built or arrays is None:
        return built[0] if built else fast.from_model_file(MODEL_FILE, norm_probs=True)
    return fast.from_arrays(arrays)


def sample_text(text: str, max_chars: int) -> str:
    """The part of ``text`` a detector reads: at most ``max_chars``, cut at a space."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", 0, max_chars)
    return text[: cut if cut > max_chars // 2 else max_chars]


def _langdetect(sample: str, factory: Any, min_confidence: float) -> Detection:
    from langdetect.lang_detect_exception import LangDetectException

    detector = factory.create()
    detector.append(sample)
    try:
        candidates = detector.get_probabilities()
    except LangDetectException:
        return Detection(UNDETERMINED, 0.0, "langdetect")
    if not candidates or candidates[0].prob < min_confidence:
        return Detection(UNDETERMINED, 0.0, "langdetect")
    best = candidates[0]
    return Detection(_CODE_MAP.get(best.lang, best.lang), round(float(best.prob), 4), "langdetect")


def detect(
    text: str,
    factory: Any,
    *,
    predetector: Any = None,
    max_chars: int = 1000,
    min_letters: int = 20,
    min_confidence: float = 0.5,
    predetector_chars: int = 300,
    predetector_min_prob: float = 0.99,
) -> Detection:
    """Detect the language of ``text``; ``und`` when it has fewer than
    ``min_letters`` letters or no language reaches ``min_confidence``.

    With a ``predetector``, its answer on the first ``predetector_chars``
    characters is taken when its probability is at least
    ``predetector_min_prob`` and langdetect knows the language; when it is
    less sure and the text is longer, it reads the whole ``max_chars`` sample
    once more (closely related languages, e.g. Spanish among Romance ones,
    often need it; a second read costs ~0.1 ms, langdetect ~3 ms). Otherwise
    langdetect reads up to ``max_chars`` characters.
    """
    sample = sample_text(text, max_chars)
    if count_letters(sample, min_letters) < min_letters:
        return Detection(UNDETERMINED, 0.0, "")
    if predetector is not None:
        head = sample_text(sample, predetector_chars)
        lang, prob = predetector.classify(head)
        if prob < predetector_min_prob and len(head) < len(sample):
            lang, prob = predetector.classify(sample)
        if prob >= predetector_min_prob and lang in factory.langlist:
            return Detection(_CODE_MAP.get(lang, lang), round(float(prob), 4), "py3langid")
    return _langdetect(sample, factory, min_confidence)


def detect_language(
    text: str,
    factory: Any,
    *,
    max_chars: int = 1000,
    min_letters: int = 20,
    min_confidence: float = 0.5,
) -> tuple[str, float]:
    """langdetect alone: ``(iso_639_1_code, probability)``, ``("und", 0.0)`` when undecidable."""
    found = detect(text, factory, max_chars=max_chars, min_letters=min_letters, min_confidence=min_confidence)
    return found.language, found.confidence


def make_language_fn(
    seed: int = 0,
    max_chars: int = 1000,
    min_letters: int = 20,
    min_confidence: float = 0.5,
    predetector: bool = True,
    predetector_min_prob: float = 0.99,
    predetector_chars: int = 300,
) -> Callable[[dict], dict]:
    """Build the per-article function (loads py3langid, and langdetect when first needed:
    call it in ``setup()``)."""
    factory = LazyFactory(seed)
    pre = load_predetector() if predetector else None
    ns = namespace("language")
    counters: dict[str, Any] = {}
    by = {"py3langid": Metrics.counter(ns, "by_predetector"), "langdetect": Metrics.counter(ns, "by_langdetect")}

    def apply(article: dict) -> dict:
        text = article["text"]
        title = article.get("title") or ""
        found = detect(
            f"{title}\n{text}" if title else text,
            factory,
            predetector=pre,
            max_chars=max_chars,
            min_letters=min_letters,
            min_confidence=min_confidence,
            predetector_min_prob=predetector_min_prob,
            predetector_chars=predetector_chars,
        )
        lang, confidence = found.language, found.confidence
        declared = article.get("language")
        if lang == UNDETERMINED and declared:
            lang, confidence = declared, 0.0
        out = dict(article)
        out["language"] = lang
        out["language_confidence"] = confidence
        out["language_declared"] = declared
        counter = counters.get(lang)
        if counter is None:
            counter = counters[lang] = Metrics.counter(ns, f"lang_{lang}")
        counter.inc()
        if found.detector:
            by[found.detector].inc()
        return out

    return apply


class DetectLanguage(beam.PTransform):
    """Set ``language`` (ISO 639-1 or ``und``) and ``language_confidence`` on each article.

    Returns ``(articles, dead_letters)``.
    """

    def __init__(self, **settings: Any):
        """``settings``: the keyword arguments of :func:`make_language_fn`."""
        super().__init__()
        self._settings = settings

    def expand(self, articles: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        settings = self._settings
        dofn = GuardedMap("language", setup_fn=lambda: make_language_fn(**settings), batch_size=run_length())
        return guarded("Detect", articles, dofn)
