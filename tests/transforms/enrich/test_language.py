import array

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support import REPO
from tests.support.langid_model import decode_model_once
from transforms.enrich.language import DetectLanguage, detect_language, load_factory, make_language_fn, sample_text

SENTENCES = {
    "en": "The government announced new measures on Tuesday to support families facing higher heating bills.",
    "fr": "Le gouvernement a annoncé mardi de nouvelles mesures pour soutenir les familles face à la hausse des factures.",
    "de": "Die Regierung hat am Dienstag neue Maßnahmen angekündigt, um Familien bei steigenden Heizkosten zu helfen.",
    "es": "El gobierno anunció el martes nuevas medidas para apoyar a las familias ante el aumento de las facturas.",
    "it": "Il governo ha annunciato martedì nuove misure per sostenere le famiglie di fronte all'aumento delle bollette.",
    "pl": "Rząd ogłosił we wtorek nowe środki wsparcia dla rodzin, które zmagają się z wyższymi rachunkami za ogrzewanie.",
    "uk": "Уряд у вівторок оголосив нові заходи підтримки родин, які стикаються з вищими рахунками за опалення.",
    "ru": "Правительство во вторник объявило о новых мерах поддержки семей, столкнувшихся с ростом счетов за отопление.",
    "nl": "De regering heeft dinsdag nieuwe maatregelen aangekondigd om gezinnen met hogere energierekeningen te steunen.",
}


@pytest.fixture(autouse=True)
def _model_decoded_once(monkeypatch):
    """py3langid's model file decoded once per process (tests/support/langid_model.py)."""
    decode_model_once(monkeypatch)


@pytest.fixture(scope="module")
def factory():
    return load_factory(0)


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_detects_each_supported_language(factory, code):
    lang, confidence = detect_language(SENTENCES[code], factory)
    assert lang == code
    assert 0.5 <= confidence <= 1.0


@pytest.mark.parametrize("text", ["", "OK", "Breaking:", "12 34 56 !!", "https://x.org/a/b"])
def test_short_or_letterless_text_is_undetermined(factory, text):
    assert detect_language(text, factory) == ("und", 0.0)


def test_detection_is_deterministic_across_factories(factory):
    mixed = "Kyiv Moscow Berlin Paris summit talks " * 3
    first = [detect_language(mixed, factory) for _ in range(5)]
    assert len(set(first)) == 1
    assert detect_language(mixed, load_factory(0)) == first[0]


def test_detector_input_is_bounded():
    text = "word " * 10_000
    sample = sample_text(text, 1000)
    assert len(sample) <= 1000 and text.startswith(sample)
    assert sample_text("short", 1000) == "short"


def test_declared_language_used_only_when_detection_is_undetermined():
    apply = make_language_fn()
    assert apply({"text": SENTENCES["de"], "title": "", "language": "fr"})["language"] == "de"
    out = apply({"text": "OK", "title": "", "language": "fr"})
    assert (out["language"], out["language_declared"]) == ("fr", "fr")
    assert apply({"text": "OK", "title": ""})["language"] == "und"


@pytest.mark.slow
def test_detect_language_composite():
    articles = [{"id": c, "text": t, "title": ""} for c, t in SENTENCES.items()] + [{"id": "x", "text": "OK"}]
    with TestPipeline() as p:
        good, dead = p | beam.Create(articles) | DetectLanguage()
        assert_that(good | beam.Map(lambda a: (a["id"], a["language"])), equal_to(
            [(c, c) for c in SENTENCES] + [("x", "und")]), label="Languages")
        assert_that(dead, equal_to([]), label="NoDeadLetters")


@pytest.mark.slow
def test_article_without_text_goes_to_dead_letters():
    with TestPipeline() as p:
        good, dead = p | beam.Create([{"id": "bad", "origin": "f.jsonl#line 1"}]) | DetectLanguage()
        assert_that(good, equal_to([]), label="NoArticles")
        assert_that(dead | beam.Map(lambda d: (d["source"], d["stage"])), equal_to([("f.jsonl#line 1", "language")]),
                    label="DeadLetter")


def test_predetector_answers_confident_cases_and_agrees_with_langdetect(factory):
    from transforms.enrich.language import detect, load_predetector

    pre = load_predetector()
    for code, text in SENTENCES.items():
        fast = detect(text * 3, factory, predetector=pre)
        slow = detect(text * 3, factory)
        assert fast.language == slow.language == code
        assert slow.detector == "langdetect"
    assert detect(SENTENCES["pl"] * 3, factory, predetector=pre).detector == "py3langid"


def test_uncertain_predetector_answers_fall_back_to_langdetect(factory):
    from transforms.enrich.language import detect, load_predetector

    # a mixed-language snippet py3langid is not near-certain about
    mixed = "Kyiv Moscow Berlin Paris summit talks Gipfel sommet cumbre"
    found = detect(mixed, factory, predetector=load_predetector(), predetector_min_prob=0.99)
    assert found.detector == "langdetect"
    # and a threshold above 1 sends everything to langdetect
    assert detect(SENTENCES["fr"], factory, predetector=load_predetector(), predetector_min_prob=1.01).detector == "langdetect"


@pytest.mark.parametrize("text", [*SENTENCES.values(), "Hello, world 123!", "a_b 9 ", "日本語のテキスト", "naïve café", "x\u0301y"])
def test_count_letters_counts_unicode_letters(text):
    import unicodedata

    from transforms.enrich.text import count_letters

    letters = sum(1 for ch in text if unicodedata.category(ch).startswith("L"))
    assert count_letters(text) == letters
    for enough in (1, 5, 20):  # stops once enough are found, else counts them all
        partial = count_letters(text, enough)
        assert partial == letters if letters < enough else enough <= partial <= letters


def test_fast_predetector_scores_exactly_like_py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from transforms.enrich.language import _fast_identifier_class, load_predetector

    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    # a fresh instance, not the one load_predetector() keeps per process (make mutate forks its
    # mutants from a process that has loaded it: a change to the class would not be seen)
    fast = _fast_identifier_class().from_model_file(MODEL_FILE, norm_probs=True)
    assert load_predetector() is load_predetector() and type(load_predetector()).__name__ == "FastIdentifier"
    texts = [*SENTENCES.values(), " ".join(SENTENCES.values()), "OK", "", "12 34 !!", "ЗАГОЛОВОК НОВИНИ", "日本語のテキスト"]
    for text in texts:
        assert fast.classify(text) == reference.classify(text)  # same code, bit-identical probability
        assert fast.rank(text) == reference.rank(text)
    fast.set_languages(["en", "fr", "de"])
    reference.set_languages(["en", "fr", "de"])
    for text in texts:
        assert fast.rank(text) == reference.rank(text)


def test_fast_predetector_scores_a_text_without_py3langid_s_own_walk(monkeypatch):
    """The array walk is what scores a text with features: py3langid's per-byte walk (five times
    slower) is only the fill for a featureless one, so a walk that never ran would still give the
    same answers through it, slowly."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from transforms.enrich.language import _fast_identifier_class

    fast = _fast_identifier_class().from_model_file(MODEL_FILE, norm_probs=True)
    expected = fast.classify(SENTENCES["en"])

    def slow_walk(self, text):
        raise AssertionError("py3langid's own walk ran on a text with features")

    monkeypatch.setattr(LanguageIdentifier, "_raw_score", slow_walk)
    assert fast.classify(SENTENCES["en"]) == expected


def test_fast_predetector_walk_reaches_py3langid_states_on_every_text_and_length():
    """The array walk (each position from its last few bytes) gives py3langid's scores,
    bit for bit, on the labelled texts of 9+ languages, read as the detector reads them,
    and on every prefix shorter than the walk's depth and a little longer."""
    import json

    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from transforms.enrich.language import _fast_identifier_class, sample_text

    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    fast = _fast_identifier_class().from_model_file(MODEL_FILE, norm_probs=True)  # fresh: see above
    assert fast._depth == 6  # the model's longest n-gram: the walk reads 6 bytes back
    labelled = REPO / "eval" / "data" / "labelled.jsonl"
    rows = [json.loads(line) for line in labelled.read_text(encoding="utf-8").splitlines()]
    texts = [sample_text(row["title"] + " " + row["text"], chars) for row in rows for chars in (300, 1000)]
    texts += [SENTENCES[lang][:cut] for lang in ("de", "ru", "uk") for cut in range(12)]
    assert len({row["language"] for row in rows}) >= 9
    for text in texts:
        assert fast.classify(text) == reference.classify(text)


def test_unsure_predetector_reads_the_whole_sample_before_langdetect(factory):
    from transforms.enrich.language import detect, load_predetector, sample_text

    pre = load_predetector()
    text = " ".join([SENTENCES["de"], SENTENCES["it"], SENTENCES["de"]] * 6)  # German, some Italian
    head = pre.classify(sample_text(text, 500))[1]
    whole_lang, whole = pre.classify(sample_text(text, 1000))
    assert head < 0.99 <= whole and whole_lang == "de"  # more text, more certainty
    found = detect(text, factory, predetector=pre, predetector_min_prob=0.99)
    assert (found.language, found.confidence, found.detector) == ("de", round(whole, 4), "py3langid")
    # a text no longer than the pre-detector's sample is not read twice: langdetect decides
    short = sample_text(text, 400)
    short_prob = pre.classify(short)[1]
    assert detect(short, factory, predetector=pre, predetector_min_prob=short_prob + 1e-6).detector == "langdetect"


@pytest.mark.parametrize("letters", [0, 19, 20, 21, 300])
def test_letter_minimum_is_exact_however_far_the_letters_are(factory, letters):
    from transforms.enrich.language import detect

    text = "1 " * 300 + "ab" * (letters // 2) + "a" * (letters % 2)  # letters only after 600 characters of digits
    found = detect(text, factory, min_letters=20)
    assert (found.detector == "") == (letters < 20)


def test_langdetect_loads_on_first_need_and_knows_its_languages_before(factory):
    """make_language_fn leaves langdetect's profiles (~0.4 s) unloaded until an article needs
    them (issue 22); the languages it checks py3langid's answer against are the profiles'."""
    from transforms.enrich.language import LazyFactory

    lazy = LazyFactory(0)
    assert lazy.langlist == frozenset(factory.langlist)
    text = SENTENCES["de"]
    detector = lazy.create()
    detector.append(text)
    reference = factory.create()
    reference.append(text)
    assert detector.get_probabilities()[0].lang == reference.get_probabilities()[0].lang


def test_predetector_from_cached_arrays_scores_exactly_like_py3langid(tmp_path, monkeypatch):
    """py3langid's decoded model kept by the regex cache (memory-mapped .npy files) gives the
    same scores, bit for bit, as the model decoded from the package (issue 22)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from transforms.enrich import language

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(tmp_path))
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    built = language._load_identifier()  # decoded, stored
    assert list(tmp_path.glob("arrays/*/ptc32.npy"))
    cached = language._load_identifier()  # mapped from the cache
    assert isinstance(cached.nb_ptc, __import__("numpy").memmap)
    texts = [*SENTENCES.values(), " ".join(SENTENCES.values()), "OK", "", "12 34 !!", "ЗАГОЛОВОК НОВИНИ", "日本語のテキスト"]
    for text in texts:
        assert built.classify(text) == cached.classify(text) == reference.classify(text)
        assert cached.rank(text) == reference.rank(text)


def test_langdetect_profiles_from_cached_arrays_detect_exactly_like_langdetect(tmp_path, monkeypatch):
    """langdetect's profiles kept by the regex cache (a word index and a float64 matrix) give the
    same probability lists, bit for bit, and the same seeded detections as the JSON profiles."""
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    from transforms.enrich import language

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(tmp_path))
    reference = DetectorFactory()
    reference.load_profile(PROFILES_DIRECTORY)
    built = language._loaded_factory()  # read from the JSON profiles, stored
    assert list(tmp_path.glob("arrays/*/probs.npy"))
    cached = language._loaded_factory()  # mapped from the cache
    assert isinstance(cached.word_lang_prob_map, language._ProbabilityRows)
    assert cached.langlist == built.langlist == reference.langlist
    words = list(reference.word_lang_prob_map)
    for word in words[::97] + ["a", "th", "the", "ни", "日本"]:
        assert (word in cached.word_lang_prob_map) == (word in reference.word_lang_prob_map)
        if word in reference.word_lang_prob_map:
            assert cached.word_lang_prob_map[word] == reference.word_lang_prob_map[word]
    assert "no such n-gram" not in cached.word_lang_prob_map
    for factory in (reference, cached):
        factory.set_seed(0)
    texts = [*SENTENCES.values(), " ".join(SENTENCES.values()), "OK ok", "ЗАГОЛОВОК НОВИНИ", "日本語のテキスト"]
    for text in texts:
        got, expected = cached.create(), reference.create()
        got.append(text)
        expected.append(text)
        assert [(p.lang, p.prob) for p in got.get_probabilities()] == [(p.lang, p.prob) for p in expected.get_probabilities()]


def _tokenizer(ngrams: list[bytes]) -> tuple[array.array, array.array, list[int]]:
    """A py3langid tokenizer for ``ngrams`` (an Aho-Corasick DFA, one 256-byte row per state):
    after a byte the state is the longest suffix read so far that begins some n-gram; a state
    that is an n-gram outputs its index. States are numbered as first met, n-gram by n-gram."""
    strings = [b""]
    for gram in ngrams:
        strings += [gram[:k] for k in range(1, len(gram) + 1) if gram[:k] not in strings]
    number = {s: i for i, s in enumerate(strings)}
    nextmove = array.array("H")
    for s in strings:
        for byte in range(256):
            t = s + bytes([byte])
            while t not in number:
                t = t[1:]
            nextmove.append(number[t])
    output = [ngrams.index(s) if s in ngrams else -1 for s in strings]
    return nextmove, array.array("H", range(len(strings))), output


def test_fast_predetector_walks_another_model_s_tokenizer_as_py3langid_does():
    """The array walk on a small made-up model (not py3langid's): the depth is the longest
    n-gram and the scores are py3langid's, bit for bit, on every text of up to 4 of its bytes and a few longer.
    The longest n-gram starts at state 1 and is reached only through it, and is feature 0.
    The same from its arrays (as the regex cache keeps them), whatever the width of its rows."""
    import itertools

    import numpy as np
    from py3langid.langid import LanguageIdentifier

    from transforms.enrich.language import _fast_identifier_class

    ngrams = [b"qwert", b"we", b"rt", b"e", b"ert", b"t q"]
    nextmove, row, output = _tokenizer(ngrams)
    weights = np.array([[-1.5, -2.0, -0.5], [-0.25, -3.0, -1.0], [-2.0, -0.75, -1.25],
                        [-1.0, -1.0, -2.5], [-0.5, -2.25, -3.5], [-3.0, -0.5, -0.125]], dtype=np.float16)
    prior = np.array([-1.0, -1.25, -0.75], dtype=np.float32)
    model = (weights, prior, ["xa", "xb", "xc"], nextmove, output)
    reference = LanguageIdentifier(*model, norm_probs=True, tk_row=row)
    fast = _fast_identifier_class()(*model, norm_probs=True, tk_row=row)
    assert fast._depth == 5
    texts = ["".join(letters) for n in range(1, 5) for letters in itertools.product("qwert ", repeat=n)]
    texts += ["qwert" * 3, "t qwert", "a qwert rt we", "wqwerty", "xyz", ""]
    for text in texts:
        assert fast.classify(text) == reference.classify(text), text
    assert fast.rank("qwert t qwe") == reference.rank("qwert t qwe")
    for typecode in "HIL":  # the state rows as py3langid loads them, for 2-, 4- and 8-byte rows
        rows = array.array(typecode, row)
        restored = type(fast).from_arrays(type(fast)(*model, norm_probs=True, tk_row=rows).arrays())
        assert (restored.tk_row, restored.tk_row.typecode, restored._depth) == (rows, typecode, 5)
        for text in texts[::25]:
            assert restored.classify(text) == reference.classify(text), text


def test_fast_predetector_walks_a_tokenizer_level_of_more_than_4096_states():
    """The depth is found one level at a time, in batches of 4,096 states: a level of 4,352
    (every pair of bytes starting with one of 17 letters) where only the 4,097th, ``qu``,
    leads deeper (``quz``) still gives depth 3, and py3langid's scores."""
    import numpy as np
    from py3langid.langid import LanguageIdentifier

    from transforms.enrich.language import _fast_identifier_class

    firsts = list(b"abcdefghijklmnopq")
    pairs = [(f, b) for f in firsts for b in range(256) if (f, b) != tuple(b"qu")]
    pairs.insert(4096, tuple(b"qu"))  # the state read 4,097th in its level
    one = np.zeros(256, dtype=np.int64)
    one[firsts] = np.arange(1, len(firsts) + 1)
    two = np.zeros((256, 256), dtype=np.int64)
    two[tuple(np.array(pairs).T)] = np.arange(len(pairs)) + len(firsts) + 1
    quz = len(firsts) + len(pairs) + 1
    last = [None] + firsts + [b for _, b in pairs] + [ord("z")]  # each state's last byte
    rows = np.array([two[b] if b in firsts else one for b in last])
    rows[two[tuple(b"qu")], ord("z")] = quz
    output = [-1] * (quz + 1)
    output[two[tuple(b"qu")]], output[quz] = 0, 1
    model = (np.array([[-0.5, -2.0], [-3.0, -0.25]], dtype=np.float16), np.array([-1.0, -1.0], dtype=np.float32),
             ["xa", "xb"], array.array("H", rows.astype(np.uint16).ravel().tobytes()), output)
    row = array.array("H", range(quz + 1))
    reference = LanguageIdentifier(*model, norm_probs=True, tk_row=row)
    fast = _fast_identifier_class()(*model, norm_probs=True, tk_row=row)
    assert fast._depth == 3
    for text in ["quz", "a quz", "qu", "quzquz qu", "aqu"]:
        assert fast.classify(text) == reference.classify(text), text
