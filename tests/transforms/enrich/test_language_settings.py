"""Language detection's settings and fallbacks, each on a text where it decides the answer:
the per-process loaders built afresh (``make mutate`` forks every mutant from a process that
has loaded them once), langdetect's own "und" answers, and the defaults of the functions,
which must be the configured ones (``LanguageConfig``) since scripts call them bare."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.config import LanguageConfig
from tests.support.langid_model import decode_model_once
from transforms.enrich import language
from transforms.enrich.language import Detection, LazyFactory, detect, detect_language, load_factory, make_language_fn

ENGLISH = "The government announced new measures on Tuesday to support families facing higher heating bills."
# langdetect's answer here depends on its seed: 1.0 with seed 0, 0.8571 with seed 1
ALPHABET = "abcdefghijklmnopqrst"
# langdetect: tl 0.5714 (4/7), so 0.4286; py3langid is unsure of it
AB = "ab" * 10
ETHIOPIC = "ሀሁሂሃሄህሆለሉሊላሌልሎሏመሙሚማሜምሞ"  # letters, but no n-gram langdetect knows
SIMPLIFIED_CHINESE = "中华人民共和国国务院今天发布了关于进一步加强经济发展的通知，要求各地政府认真贯彻落实。"

# a text whose only letters are one 400-letter word that ends at character 1000: a sample of
# 1000 characters stops before it (no letters), one of 1001 reads it
LATE_WORD = "1 " * 300 + ("Regierung" * 45)[:400] + " " + "und die Regierung hat heute beschlossen " * 3
# exactly 20 letters
TWENTY_LETTERS = "1 " * 5 + ALPHABET
# py3langid reads up to the space before character 300 (0.996), or one word more with 301 (0.9964)
HEAD_300 = "Note " + "a" * 8 + " " + " ".join([ENGLISH] * 4)

CONFIGURED = dataclasses.asdict(LanguageConfig())

# setting -> (a text on which it decides, another value of it that changes the answer)
DECISIVE = {
    "seed": (ALPHABET, 1),
    "max_chars": (LATE_WORD, 1001),
    "min_letters": (TWENTY_LETTERS, 21),
    "min_confidence": (AB, 0.6),
    "predetector": (ENGLISH, False),
    "predetector_min_prob": (ENGLISH, 0.995),
    "predetector_chars": (HEAD_300, 301),
}


def _article(text: str) -> dict:
    return {"text": text, "title": ""}


@pytest.fixture(autouse=True)
def _model_decoded_once(monkeypatch):
    """py3langid's model file decoded once per process (tests/support/langid_model.py)."""
    decode_model_once(monkeypatch)


@pytest.fixture
def fresh(monkeypatch):
    """The module's per-process caches emptied for this test (restored after it)."""
    monkeypatch.setattr(language, "_factories", {})
    monkeypatch.setattr(language, "_predetector", [])


def test_langdetect_factories_are_loaded_once_per_seed_and_seeded(fresh):
    first = load_factory(1)
    assert load_factory(1) is first
    assert load_factory(0) is not first
    assert detect(ALPHABET, first) == Detection("nl", 0.8571, "langdetect")
    assert detect(ALPHABET, load_factory(0)) == Detection("nl", 1.0, "langdetect")


def test_lazy_factory_creates_detectors_of_its_seed(fresh):
    detector = LazyFactory(1).create()
    detector.append(ALPHABET)
    assert round(detector.get_probabilities()[0].prob, 4) == 0.8571


def test_the_default_seed_is_the_configured_one(fresh):
    assert load_factory() is load_factory(CONFIGURED["seed"])
    detector = LazyFactory().create()
    detector.append(ALPHABET)
    assert round(detector.get_probabilities()[0].prob, 4) == 1.0  # seed 0 (seed 1: 0.8571)


def test_predetector_is_loaded_once_per_process(fresh):
    first = language.load_predetector()
    assert language.load_predetector() is first
    assert first.classify(ENGLISH)[0] == "en"


def test_text_langdetect_has_no_features_for_is_undetermined_by_langdetect():
    assert detect(ETHIOPIC, load_factory(0)) == Detection("und", 0.0, "langdetect")


def test_langdetect_answer_below_min_confidence_is_undetermined_and_at_it_kept():
    factory = load_factory(0)
    assert detect(AB, factory) == Detection("tl", 0.5714, "langdetect")  # rounded to 4 digits
    assert detect(AB, factory, min_confidence=0.6) == Detection("und", 0.0, "langdetect")
    detector = factory.create()
    detector.append(AB)
    exact = detector.get_probabilities()[0].prob
    assert detect(AB, factory, min_confidence=exact) == Detection("tl", 0.5714, "langdetect")
    assert detect(AB, factory, min_confidence=exact + 1e-9).language == "und"


def test_langdetect_s_chinese_variants_are_reported_as_zh():
    assert detect(SIMPLIFIED_CHINESE, load_factory(0)) == Detection("zh", 1.0, "langdetect")


@pytest.mark.parametrize("setting", sorted(DECISIVE))
def test_make_language_fn_defaults_are_the_configured_ones(setting):
    text, other = DECISIVE[setting]
    configured = make_language_fn(**CONFIGURED)(_article(text))
    assert make_language_fn()(_article(text)) == configured
    # the text is one on which the setting decides
    assert make_language_fn(**{**CONFIGURED, setting: other})(_article(text)) != configured


@pytest.mark.parametrize("setting", sorted(DECISIVE))
def test_detect_defaults_are_the_configured_ones(setting):
    text, other = DECISIVE[setting]
    factory = load_factory(CONFIGURED["seed"])
    settings = {k: v for k, v in CONFIGURED.items() if k not in ("seed", "predetector")}
    pre = language.load_predetector()
    assert detect(text, factory, predetector=pre) == detect(text, factory, predetector=pre, **settings)


@pytest.mark.parametrize("setting", ["max_chars", "min_letters", "min_confidence"])
def test_detect_language_is_langdetect_alone_with_its_settings(setting):
    text, other = DECISIVE[setting]
    factory = load_factory(0)
    assert detect_language(text, factory) == detect(text, factory)[:2]
    changed = detect(text, factory, **{setting: other})
    assert detect_language(text, factory, **{setting: other}) == changed[:2] != detect(text, factory)[:2]


def test_predetector_off_means_langdetect_decides():
    # py3langid says 0.9948 here, langdetect 1.0
    assert make_language_fn(predetector=False)(_article(ENGLISH))["language_confidence"] == 1.0
    assert make_language_fn()(_article(ENGLISH))["language_confidence"] == 0.9948


def test_title_is_read_before_the_text():
    apply = make_language_fn()
    # the text alone has too few letters; with the title there are enough
    out = apply({"text": "OK 2024", "title": "Die Regierung hat neue Maßnahmen angekündigt"})
    assert (out["language"], out["language_declared"]) == ("de", None)
    assert apply({"text": "OK 2024", "title": None})["language"] == "und"


def test_title_free_article_is_read_as_its_text_alone():
    apply = make_language_fn()
    # 18 letters: one letter of a stand-in title would reach the minimum of 20
    assert apply({"text": "1 2 3 abcdefghijklmnopqr", "title": None})["language"] == "und"
    # nothing is put before the text: the score is that of the text itself
    pre = language.load_predetector()
    assert apply(_article(ENGLISH))["language_confidence"] == round(pre.classify(ENGLISH)[1], 4) == 0.9948


def test_output_fields_and_the_declared_language_s_confidence():
    apply = make_language_fn()
    article = {"id": "a1", "text": "OK", "title": "", "language": "fr"}
    out = apply(article)
    assert out == {**article, "language": "fr", "language_confidence": 0.0, "language_declared": "fr"}
    assert article["language"] == "fr" and "language_declared" not in article  # the input is not changed
    out = apply({"text": ENGLISH, "title": "", "language": "de"})
    assert (out["language"], out["language_confidence"], out["language_declared"]) == ("en", 0.9948, "de")


def test_counters_per_language_and_per_detector():
    from tests.support.counters import counting

    apply = make_language_fn()
    with counting() as counters:
        for text in (ENGLISH, ENGLISH, AB, "OK"):
            apply(_article(text))
        apply({"text": "OK", "title": "", "language": "fr"})
    ns = "newsbeam.language"
    assert counters() == {
        (ns, "lang_en"): 2, (ns, "lang_tl"): 1, (ns, "lang_und"): 1, (ns, "lang_fr"): 1,
        (ns, "by_predetector"): 2, (ns, "by_langdetect"): 1,  # "OK" has too few letters for either
    }


@pytest.mark.parametrize(
    ("text", "max_chars", "sample"),
    [
        ("ab cd", 5, "ab cd"),  # not longer than the limit: whole
        ("abcd e", 6, "abcd e"),  # as long as the limit, a space past half of it: whole
        ("ab cdefgh", 6, "ab cde"),  # the only space is before half the limit: cut at the limit
        ("a" * 20, 10, "a" * 10),  # no space: cut at the limit
        ("aaaaa bbbbbbbbbb", 10, "aaaaa bbbb"),  # the space at exactly half: cut at the limit
        ("aaaaaa bbbbbbbbbb", 10, "aaaaaa"),  # past half: cut at the space
        ("aaaaa bbbbbbbbbbbb", 12, "aaaaa bbbbbb"),  # between a third and a half: cut at the limit
    ],
)
def test_sample_is_cut_at_a_space_past_half_the_limit(text, max_chars, sample):
    assert language.sample_text(text, max_chars) == sample


def test_a_sure_first_read_is_kept_and_an_answer_exactly_at_the_threshold_is_taken():
    factory, pre = load_factory(0), language.load_predetector()
    head = language.sample_text(HEAD_300, 300)
    head_prob = pre.classify(head)[1]
    whole_prob = pre.classify(language.sample_text(HEAD_300, 1000))[1]
    assert head_prob != whole_prob
    assert detect(HEAD_300, factory, predetector=pre) == Detection("en", round(head_prob, 4), "py3langid")
    at = detect(HEAD_300, factory, predetector=pre, predetector_min_prob=head_prob)
    assert at == Detection("en", round(head_prob, 4), "py3langid")  # not read again, not langdetect


def test_predetector_loads_without_the_cache(monkeypatch):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", "off")
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    loaded = language._load_identifier()
    for text in (ENGLISH, AB, SIMPLIFIED_CHINESE):
        assert loaded.classify(text) == reference.classify(text)


def test_langdetect_loads_without_the_cache(monkeypatch):
    """With the regex cache off, langdetect's profiles are read from its JSON files, as
    langdetect reads them: the same languages, the same seeded answers."""
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", "off")
    reference = DetectorFactory()
    reference.load_profile(PROFILES_DIRECTORY)
    loaded = language._loaded_factory()
    assert loaded.langlist == reference.langlist and len(loaded.langlist) > 50
    assert not isinstance(loaded.word_lang_prob_map, language._ProbabilityRows)
    for factory in (reference, loaded):
        factory.set_seed(0)
    for text in (ENGLISH, ALPHABET, SIMPLIFIED_CHINESE):
        got, expected = loaded.create(), reference.create()
        got.append(text)
        expected.append(text)
        assert [(c.lang, c.prob) for c in got.get_probabilities()] == [
            (c.lang, c.prob) for c in expected.get_probabilities()]


@pytest.mark.slow  # seconds: the whole taxonomy or py3langid's model built twice
def test_a_new_py3langid_version_does_not_reuse_the_cached_model(tmp_path, monkeypatch):
    import py3langid

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(tmp_path))
    language._load_identifier()
    assert len(list(tmp_path.glob("arrays/*/names.json"))) == 1
    language._load_identifier()  # the same version: the same entry
    assert len(list(tmp_path.glob("arrays/*/names.json"))) == 1
    monkeypatch.setattr(py3langid, "__version__", py3langid.__version__ + ".post1", raising=False)
    language._load_identifier()
    assert len(list(tmp_path.glob("arrays/*/names.json"))) == 2


def test_detect_language_builds_one_guarded_step_with_its_settings():
    """``DetectLanguage`` (its pipelines are ``slow`` tests, which ``make mutate`` leaves out)
    built without running: one step labelled ``Detect`` whose function is made from the
    settings it was given, and two outputs, the articles and the dead letters."""
    import apache_beam as beam

    from transforms.common.stage import GuardedMap

    p = beam.Pipeline()
    articles, dead = p | beam.Create([_article(ENGLISH)]) | "DetectLanguage" >> language.DetectLanguage(
        predetector=False, min_letters=1000)
    assert articles.producer is dead.producer and (articles.tag, dead.tag) == (None, "dead_letter")
    found = []

    class Steps(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            if isinstance(getattr(node.transform, "fn", None), GuardedMap):
                found.append((node.full_label, node.transform.fn))

        def enter_composite_transform(self, node):
            self.visit_transform(node)

    p.visit(Steps())
    labels = {label for label, _ in found}
    assert labels and all(label.startswith("DetectLanguage/Detect") for label in labels)
    dofn = found[0][1]
    assert dofn._stage == "language" and dofn._fn is None
    apply = dofn._setup_fn()  # make_language_fn(**settings)
    assert apply(_article(ENGLISH))["language"] == "und"  # min_letters=1000 reached it
    assert make_language_fn()(_article(ENGLISH))["language"] == "en"


def test_detect_language_reads_articles_in_runs_of_the_run_s_length():
    """The step takes ``tuning.run_length`` of the run being built (a worker's runs of
    articles), not ``GuardedMap``'s default of one at a time."""
    import apache_beam as beam

    from transforms import runtime
    from transforms.common.stage import GuardedMap

    before = runtime.active()
    runtime.activate(runtime.Tuning(run_length=7))
    try:
        p = beam.Pipeline()
        _ = p | beam.Create([_article(ENGLISH)]) | "DetectLanguage" >> language.DetectLanguage()
    finally:
        runtime.activate(before)
    found = []

    class Steps(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            if isinstance(getattr(node.transform, "fn", None), GuardedMap):
                found.append(node.transform.fn)

    p.visit(Steps())
    assert found and {dofn._batch_size for dofn in found} == {7}


@pytest.mark.slow  # seconds: the whole taxonomy or py3langid's model built twice
def test_a_changed_py3langid_model_file_does_not_reuse_the_cached_model(tmp_path, monkeypatch):
    """The cache entry is keyed by the model file's bytes: the same model with an empty second
    xz stream after it (it decompresses to the same arrays) is another file, so another entry."""
    import lzma
    import shutil

    import py3langid.langid
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    cache, models = tmp_path / "cache", tmp_path / "models"
    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(cache))
    reference = language._load_identifier()
    assert len(list(cache.glob("arrays/*/names.json"))) == 1
    changed = models / MODEL_FILE
    changed.parent.mkdir(parents=True)
    shutil.copyfile(MODEL_DIR / MODEL_FILE, changed)
    with open(changed, "ab") as fh:
        fh.write(lzma.compress(b""))
    monkeypatch.setattr(py3langid.langid, "MODEL_DIR", models)
    loaded = language._load_identifier()
    assert len(list(cache.glob("arrays/*/names.json"))) == 2
    for text in (ENGLISH, AB, SIMPLIFIED_CHINESE):
        assert loaded.classify(text) == reference.classify(text)


def test_py3langid_without_a_version_attribute_still_loads(tmp_path, monkeypatch):
    """``__version__`` is read with a default: a py3langid without it still loads (and is cached)."""
    import py3langid

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(tmp_path))
    monkeypatch.delattr(py3langid, "__version__", raising=False)
    loaded = language._load_identifier()
    assert loaded.classify(ENGLISH)[0] == "en"
    assert len(list(tmp_path.glob("arrays/*/names.json"))) == 1


class _Reads:
    """py3langid's identifier, noting each text it is asked to classify."""

    def __init__(self, identifier) -> None:
        self.identifier, self.texts = identifier, []

    def classify(self, text: str):
        self.texts.append(text)
        return self.identifier.classify(text)


def test_an_unsure_predetector_reads_the_sample_again_only_when_it_is_longer():
    """The second read is for a text longer than the predetector's sample; a text that fits in
    it is read once (a second read of the same text gives the same answer, for nothing)."""
    factory, pre = load_factory(0), language.load_predetector()
    assert pre.classify(AB)[1] < 0.99  # py3langid is unsure of it
    reads = _Reads(pre)
    assert detect(AB, factory, predetector=reads).detector == "langdetect"
    assert reads.texts == [AB]
    assert detect(AB, factory, predetector=reads, predetector_chars=len(AB)).detector == "langdetect"
    assert reads.texts == [AB, AB]  # exactly as long as the predetector's sample: still once
    reads = _Reads(pre)
    detect(AB + " " + AB, factory, predetector=reads, predetector_chars=len(AB) + 1)
    assert reads.texts == [AB, AB + " " + AB]  # longer: the head, then the whole sample


def test_the_model_is_decoded_once_on_a_cache_miss_and_not_at_all_on_a_hit(tmp_path, monkeypatch):
    """A cache miss decodes py3langid's model file once (~0.9 s): the identifier built for the
    cache is the one returned. A hit maps the cached arrays without decoding it."""
    import py3langid.langid

    decode, files = py3langid.langid._load_model_file, []

    def counted(path):
        files.append(path)
        return decode(path)

    monkeypatch.setattr(py3langid.langid, "_load_model_file", counted)
    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(tmp_path))
    built = language._load_identifier()
    assert len(files) == 1
    cached = language._load_identifier()
    assert len(files) == 1 and cached.classify(ENGLISH) == built.classify(ENGLISH)
    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", "off")
    assert language._load_identifier().classify(ENGLISH) == built.classify(ENGLISH)
    assert len(files) == 2
