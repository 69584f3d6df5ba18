"""Loading a taxonomy, value by value (issue 21, mutation testing of ``taxonomy.py``): each
check's bounds taken at equality and its message, the spaces of a pattern, macros, inflection
settings, scoring settings and their types, the languages a matcher uses, background cues and
context anchors per language, the launcher's validated document. Small documents built here."""

from __future__ import annotations

import threading

import pytest
import yaml

from transforms.enrich import taxonomy as taxonomy_module
from transforms.enrich.taxonomy import document_key, read_taxonomy_mapping, validated_taxonomy
from transforms.enrich.topics import REQUIRED_LANGUAGES, Taxonomy, TaxonomyError, analyse


def _doc(topic: dict | None = None, **top) -> dict:
    spec = {"description": "demo", "patterns": {lang: ["thing"] for lang in REQUIRED_LANGUAGES}}
    spec.update(topic or {})
    return {"version": 1, "topics": {"demo": spec}, **top}


def _error(doc: dict) -> str:
    with pytest.raises(TaxonomyError) as err:
        Taxonomy.from_dict(doc)
    return str(err.value)


def _hits(tax: Taxonomy, text: str, lang: str = "en") -> list[str]:
    return [h.text for t in analyse(text, lang, tax) for h in t.hits]


def _en(pattern, **topic) -> Taxonomy:
    patterns = {lang: ["zzqdummy"] for lang in REQUIRED_LANGUAGES}
    patterns["en"] = [pattern]
    return Taxonomy.from_dict(_doc({"patterns": patterns, **topic}))


# --------------------------------------------------------------------------- patterns


def test_runs_of_spaces_in_a_pattern_match_any_whitespace_outside_classes():
    assert _hits(_en("oil  embargo"), "an oil \n\t embargo") == ["oil \n\t embargo"]
    assert _hits(_en("oil  embargo"), "an oil embargo") == ["oil embargo"]  # a run of spaces is one \s+
    assert _hits(_en("oil embargo"), "an oilembargo") == []
    assert _hits(_en("oil ?embargo"), "an oilembargo and an oil\nembargo") == ["oilembargo", "oil\nembargo"]
    assert _hits(_en("a[ ]b"), "a b, a\nb") == ["a b"]  # a space in a class is a space
    assert _hits(_en("a[^ ]b"), "a b, a\nb, axb") == ["a\nb", "axb"]
    assert _hits(_en("a[] ]b"), "a]b a b a\nb") == ["a]b", "a b"]  # ']' first in a class is literal
    assert _hits(_en("a[^] ]b"), "a]b a b axb") == ["axb"]
    assert _hits(_en("a[^] ]b"), "a\nb a+b") == ["a\nb", "a+b"]  # not "a[^]\s+]b": '^' then ']' opens the class
    assert _hits(_en("crude oil ?"), "crude oil.") == ["crude oil"]  # a quantifier last: "(?:\s+)?", not "\s+?"
    assert _hits(_en(r"a\ b"), "a b a\nb") == ["a b"]  # an escaped space stays one space
    assert _hits(_en(r"a\[ b"), "a[ \nb") == ["a[ \nb"]  # an escaped bracket opens no class
    assert _hits(_en("a[x y]b c"), "a b\nc, a\nb c") == ["a b\nc"]  # the class ends at its ']', not before


def test_macros_are_expanded_and_an_unknown_one_is_named():
    patterns = {**{lang: ["zzq"] for lang in REQUIRED_LANGUAGES}, "en": ["{{arms}} aid"]}
    tax = Taxonomy.from_dict(_doc({"patterns": patterns}, macros={"arms": "(?:arms|weapons)"}))
    assert _hits(tax, "weapons aid and arms aid") == ["weapons aid", "arms aid"]
    message = _error(_doc({"patterns": {**{lang: ["zzq"] for lang in REQUIRED_LANGUAGES}, "en": ["{{nope}} x"]}},
                          macros={"arms": "x", "guns": "y"}))  # fmt: skip
    assert "topic 'demo'.patterns.en[0]: unknown macro {{nope}} (defined: ['arms', 'guns'])" in message
    assert "topic 'demo'.context.en[0]: unknown macro {{nope}}" in _error(_doc({"context": {"en": ["{{nope}}"]}}))
    assert "expected a mapping of name -> regex string" in _error(_doc(macros={"arms": 1}))
    assert _error(_doc(macros=["arms"])) == "taxonomy.macros: expected a mapping of name -> regex string"


def test_a_macro_may_end_in_spaces_or_an_escaped_space():
    """Entries are stripped, macros are not: the spaces a pattern ends with come from a macro."""
    def source(macro: str) -> str:
        patterns = {**{lang: ["zzq"] for lang in REQUIRED_LANGUAGES}, "en": ["{{m}}"]}
        return Taxonomy.from_dict(_doc({"patterns": patterns}, macros={"m": macro})).topics["demo"].patterns["en"][0].source

    assert source("arms  ") == r"arms\s+"
    assert source("arms ") == r"arms\s+"
    assert source("a\\ ") == "a\\ "  # an escaped space last stays one space


def test_macros_are_expanded_in_every_context_list():
    macros = {"arms": "(?:arms|weapons)"}
    topic = Taxonomy.from_dict(_doc({
        "exclude": {"en": ["{{arms}} fair"]}, "requires": {"en": ["{{arms}} aid"]}, "context": {"any": ["{{arms}}"]},
    }, macros=macros)).topics["demo"]  # fmt: skip
    assert topic.exclude == {"en": (r"(?:arms|weapons)\s+fair",)}
    assert topic.requires == {"en": (r"(?:arms|weapons)\s+aid",)}
    assert topic.context == {"any": ("(?:arms|weapons)",)}
    tax = Taxonomy.from_dict(_doc(background={"en": ["{{arms}} deal"]}, macros=macros))
    assert tax.background == {"en": (r"(?:arms|weapons)\s+deal",)}


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("a(b", "topic 'demo'.patterns.en[0]: bad regex 'a(b': "),
        ("a[", "topic 'demo'.patterns.en[0]: bad regex 'a[': "),  # a class opened last
        ("(ab)", "topic 'demo'.patterns.en[0]: capturing group in '(ab)'; use (?:...) instead"),
        ("a*", "topic 'demo'.patterns.en[0]: pattern 'a*' matches the empty string"),
        ("   ", "topic 'demo'.patterns.en[0]: missing 're'"),
        ({"re": "x", "weak": 1}, "topic 'demo'.patterns.en[0].weak: expected true/false, got 1"),
        ({"re": "x", "weight": True}, "topic 'demo'.patterns.en[0].weight: expected a number in [0.01, 5.0], got True"),
        ({"re": "x", "weight": 0.009}, "weight: expected a number in [0.01, 5.0], got 0.009"),
        ({"re": "x", "weight": 5.001}, "weight: expected a number in [0.01, 5.0], got 5.001"),
        ({"words": "x"}, "topic 'demo'.patterns.en[0]: unknown key(s) ['words']; allowed: ['re', 'weak', 'weight']"),
        (["x"], "topic 'demo'.patterns.en[0]: expected a mapping, got list"),
    ],
)
def test_a_bad_pattern_entry_is_named_with_the_reason(pattern, message):
    patterns = {lang: ["thing"] for lang in REQUIRED_LANGUAGES}
    patterns["en"] = [pattern]
    assert message in _error(_doc({"patterns": patterns}))


def test_a_taxonomy_is_validated_in_a_thread_that_never_parsed_one():
    """The "passed before" flag is per thread (a worker's ``DoFn.setup`` runs in any): in a new thread
    it is unset and means "check", so a bad regex is named there as anywhere (not an AttributeError,
    and not let through unchecked)."""
    patterns = {lang: ["thing"] for lang in REQUIRED_LANGUAGES}
    patterns["en"] = ["a(b"]
    errors: list[Exception] = []

    def build() -> None:
        try:
            Taxonomy.from_dict(_doc({"patterns": patterns}))
        except Exception as exc:  # noqa: BLE001 - the test names which one
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()
    assert [type(e) for e in errors] == [TaxonomyError]
    assert "topic 'demo'.patterns.en[0]: bad regex 'a(b': " in str(errors[0])


def test_weights_at_their_bounds_and_weak_cues():
    for weight in (0.01, 5):
        tax = _en({"re": "thing", "weight": weight})
        assert tax.topics["demo"].patterns["en"][0].weight == float(weight)
    phrases = {lang: [{"words": "thing", "weight": 2}] for lang in REQUIRED_LANGUAGES}
    tax = Taxonomy.from_dict(_doc({"patterns": None, "phrases": phrases}))
    pattern = tax.topics["demo"].patterns["en"][0]
    assert (pattern.weight, pattern.weak, pattern.written, pattern.topic, pattern.language) == (2.0, False, "thing", "demo", "en")
    weak = _en({"re": "thing", "weak": True}, requires={"any": ["army"]})
    assert weak.topics["demo"].patterns["en"][0].weak is True
    assert weak.topics["demo"].requires == {"any": (r"army",)}
    assert _en({"re": "thing", "weak": True}, requires={"en": ["army"]}).topics["demo"].requires == {"en": ("army",)}
    assert "weak patterns in 'en' need a 'requires' list for 'en' or 'any'" in _error(
        _doc({"patterns": {**{lang: ["thing"] for lang in REQUIRED_LANGUAGES}, "en": [{"re": "x", "weak": True}]},
              "requires": {"de": ["army"]}})
    )  # fmt: skip


# --------------------------------------------------------------------------- a topic's keys


@pytest.mark.parametrize(
    "topic, message",
    [
        ({"description": "  "}, "topic 'demo': missing or empty 'description'"),
        ({"description": 3}, "topic 'demo': missing or empty 'description'"),
        ({"codes": {"iptc": "1", "dewey": "2"}}, "topic 'demo'.codes: unknown key(s) ['dewey']"),
        ({"patterns": ["x"]}, "topic 'demo'.patterns: expected a mapping of language -> list"),
        ({"phrases": {"EN": ["x"]}}, "topic 'demo'.phrases: bad language key 'EN'"),
        ({"phrases": {"en": []}}, "topic 'demo'.phrases.en: expected a non-empty list"),
        ({"phrases": {"en": "x"}}, "topic 'demo'.phrases.en: expected a non-empty list"),
        ({"exclude": ["x"]}, "topic 'demo'.exclude: expected a mapping of language -> list of regexes"),
        ({"exclude": {"english": ["x"]}}, "topic 'demo'.exclude: bad language key 'english'"),
        ({"exclude": {"en": []}}, "topic 'demo'.exclude.en: expected a non-empty list of regexes"),
        ({"requires": {"en": [" "]}}, "topic 'demo'.requires.en[0]: expected a regex string, got ' '"),
        ({"context": {"en": ["x", 3]}}, "topic 'demo'.context.en[1]: expected a regex string, got 3"),
        ({"context": {"en": ["(x)"]}}, "topic 'demo'.context.en[0]: capturing group"),
        ({"window": 10_001}, "topic 'demo'.window: expected a number in [0, 10000], got 10001"),
        ({"window": -1}, "topic 'demo'.window: expected a number in [0, 10000], got -1"),
        ({"min_score": 1.01}, "topic 'demo'.min_score: expected a number in [0.0, 1.0], got 1.01"),
        ({"min_score": -0.01}, "topic 'demo'.min_score: expected a number in [0.0, 1.0], got -0.01"),
    ],
)
def test_a_bad_topic_key_is_named(topic, message):
    assert message in _error(_doc(topic))


def test_a_topics_optional_keys_at_their_bounds():
    for window in (0, 10_000):
        assert Taxonomy.from_dict(_doc({"window": window})).topics["demo"].window == window
    assert Taxonomy.from_dict(_doc({"window": 12.7})).topics["demo"].window == 12
    for score in (0, 1):
        assert Taxonomy.from_dict(_doc({"min_score": score})).topics["demo"].min_score == float(score)
    topic = Taxonomy.from_dict(_doc({
        "description": "  demo topic ", "codes": {"iptc": "11000000", "note": "n"},
        "exclude": {"any": ["  price war "]}, "context": {"en": ["army"], "de": ["armee"]},
    })).topics["demo"]  # fmt: skip
    assert topic.description == "demo topic" and topic.codes == {"iptc": "11000000", "note": "n"}
    assert topic.exclude == {"any": (r"price\s+war",)}
    assert topic.context == {"en": ("army",), "de": ("armee",)}
    assert topic.window is None and topic.min_score is None and topic.requires == {}
    assert Taxonomy.from_dict(_doc({"codes": None})).topics["demo"].codes == {}


# --------------------------------------------------------------------------- the document's keys


@pytest.mark.parametrize(
    "top, message",
    [
        ({"version": None}, "taxonomy: 'version' must be 1, got None"),
        ({"titel": "x"}, "taxonomy: unknown key(s) ['titel']; allowed: ['background', 'inflection', 'macros', "),
        ({"topics": {}}, "taxonomy: missing 'topics' mapping"),
        ({"topics": ["demo"]}, "taxonomy: missing 'topics' mapping"),
        ({"topics": {"9lives": {}}}, "taxonomy.topics: bad topic name '9lives' (use snake_case)"),
        ({"min_score": 1.5}, "taxonomy.min_score: expected a number in [0.0, 1.0], got 1.5"),
        ({"mention_score": -1}, "taxonomy.mention_score: expected a number in [0.0, 1.0], got -1"),
        ({"mention_score": 1.01}, "taxonomy.mention_score: expected a number in [0.0, 1.0], got 1.01"),
        ({"min_score": 0.3, "mention_score": 0.31}, "taxonomy.mention_score: 0.31 is above min_score 0.3"),
        ({"window": 10_001}, "taxonomy.window: expected a number in [0, 10000]"),
        ({"max_evidence": 0}, "taxonomy.max_evidence: expected a number in [1, 1000], got 0"),
        ({"max_evidence": 1001}, "taxonomy.max_evidence: expected a number in [1, 1000], got 1001"),
        ({"scoring": {"title": 5.5}}, "taxonomy.scoring.title: expected a number in [0.0, 5.0], got 5.5"),
        ({"scoring": {"lead_chars": 10_001}}, "taxonomy.scoring.lead_chars: expected a number in [0.0, 10000], got 10001"),
        ({"scoring": [1]}, "taxonomy.scoring: expected a mapping, got list"),
        ({"title_weight": 6}, "taxonomy.title_weight: expected a number in [0.0, 5.0], got 6"),
        ({"inflection": ["en"]}, "taxonomy.inflection: expected a mapping of language -> {suffix, endings}"),
        ({"inflection": {"EN": {}}}, "taxonomy.inflection.EN: bad language key"),
        ({"inflection": {"en": {"sufix": 2}}}, "taxonomy.inflection.en: unknown key(s) ['sufix']; allowed: ['endings', 'suffix']"),
        ({"inflection": {"en": {"suffix": 21}}}, "taxonomy.inflection.en.suffix: expected a number in [0, 20], got 21"),
        ({"inflection": {"en": {"endings": ["s", " "]}}}, "taxonomy.inflection.en.endings: expected a list of word endings"),
        ({"inflection": {"en": {"endings": ["s", 1]}}}, "taxonomy.inflection.en.endings: expected a list of word endings"),
        ({"inflection": {"en": {"endings": "s"}}}, "taxonomy.inflection.en.endings: expected a list of word endings"),
        ({"background": {"en": ["(since)"]}}, "taxonomy.background.en[0]: capturing group"),
    ],
)
def test_a_bad_document_key_is_named(top, message):
    assert message in _error(_doc(**top))


def test_a_document_that_is_not_a_mapping_is_named():
    assert _error(["demo"]) == "taxonomy: expected a mapping, got list"
    assert _error({"version": 1}) == "taxonomy: missing 'topics' mapping"
    assert _error(_doc(inflection=["en"])) == "taxonomy.inflection: expected a mapping of language -> {suffix, endings}"


def test_the_documents_settings_and_their_defaults():
    tax = Taxonomy.from_dict(_doc())
    assert (tax.version, tax.min_score, tax.mention_score, tax.window, tax.max_evidence) == (1, 0.5, 0.2, 80, 5)
    tax = Taxonomy.from_dict(_doc(min_score=0.4, mention_score=0.4, window=10_000, max_evidence=1000))
    assert (tax.min_score, tax.mention_score, tax.window, tax.max_evidence) == (0.4, 0.4, 10_000, 1000)
    assert Taxonomy.from_dict(_doc(max_evidence=1, window=0)).max_evidence == 1


def test_a_taxonomy_built_directly_has_the_documents_defaults():
    built = Taxonomy(Taxonomy.from_dict(_doc()).topics)
    assert (built.version, built.min_score, built.mention_score, built.window, built.max_evidence) == (1, 0.5, 0.2, 80, 5)
    assert built.scoring == Taxonomy.from_dict(_doc()).scoring and built.background == {}


def test_scoring_settings_counts_are_integers_and_title_weight_is_the_older_title():
    scoring = Taxonomy.from_dict(_doc(scoring={"lead_chars": 300.9, "max_repeats": 2.0, "background_window": 10_000,
                                               "body": 0.25, "repeat": 5, "no_context": 0})).scoring  # fmt: skip
    assert (scoring.lead_chars, scoring.max_repeats, scoring.background_window) == (300, 2, 10_000)
    assert all(isinstance(v, int) for v in (scoring.lead_chars, scoring.max_repeats, scoring.background_window))
    assert (scoring.body, scoring.repeat, scoring.no_context, scoring.title, scoring.lead) == (0.25, 5.0, 0.0, 1.2, 1.0)
    counts = Taxonomy.from_dict(_doc(scoring={"max_repeats": 6, "lead_chars": 10_000, "background_window": 6})).scoring
    assert (counts.max_repeats, counts.lead_chars, counts.background_window) == (6, 10_000, 6)  # counts may exceed 5
    assert Taxonomy.from_dict(_doc(title_weight=2)).scoring.title == 2.0
    assert Taxonomy.from_dict(_doc(title_weight=0, scoring={"body": 0.1})).scoring.title == 0.0
    assert Taxonomy.from_dict(_doc(title_weight=2, scoring={"title": 3})).scoring.title == 3.0  # scoring wins


def test_inflection_settings_shape_the_forms():
    def forms(inflection: dict) -> list[str]:
        phrases = {lang: ["zzq"] for lang in REQUIRED_LANGUAGES}
        phrases["uk"] = ["переговори"]
        tax = Taxonomy.from_dict({**_doc({"patterns": None, "phrases": phrases}), "inflection": inflection})
        return _hits(tax, "переговорами переговорів переговор", "uk")

    assert forms({"uk": {"endings": [" И ", "ів"], "suffix": 3}}) == ["переговорами", "переговорів", "переговор"]
    assert forms({"uk": {"endings": ["и"], "suffix": 2}}) == ["переговорів", "переговор"]
    assert forms({"uk": {"suffix": 0}}) == []  # no endings, no stemmer: the word as written
    assert forms({"uk": {}, "en": {"suffix": 1}}) == []


def test_phrases_take_the_forms_of_their_own_language():
    """A phrase is inflected by its language's stemmer and rules (``move``: ``moving``, ``moved`` in
    English only); without the language it would match the words as written and a little more."""
    phrases = {lang: ["zzq"] for lang in REQUIRED_LANGUAGES}
    phrases["en"] = ["rate hikes"]
    phrases["de"] = ["Sanktionen"]
    tax = Taxonomy.from_dict(_doc({"patterns": None, "phrases": phrases}))
    assert [p.source for p in tax.topics["demo"].patterns["en"]] == [
        r"(?:rate\w{0,4}|rat(?:ing|ed))\s+(?:hike\w{0,4}|hik(?:ing|ed))"
    ]
    assert [p.source for p in tax.topics["demo"].patterns["de"]] == [r"sanktion\w{0,4}"]
    assert _hits(tax, "a rating hiked and a rate hike", "en") == ["rating hiked", "rate hike"]
    assert _hits(tax, "neue Sanktion", "de") == ["Sanktion"]


# --------------------------------------------------------------------------- languages, cues, anchors


def test_the_active_languages_are_the_articles_and_english_or_all():
    phrases = {lang: ["thing"] for lang in REQUIRED_LANGUAGES}
    tax = Taxonomy.from_dict(_doc({"patterns": {**phrases, "sv": ["sak"]}}))
    assert tax.languages == tuple(sorted([*REQUIRED_LANGUAGES, "sv"]))
    assert tax.active_languages("de") == ("de", "en")
    assert tax.active_languages(" DE_at ") == ("de", "en")
    assert tax.active_languages("de-CH") == ("de", "en")
    assert tax.active_languages("en") == ("en",)
    assert tax.active_languages("und") == tax.languages
    assert tax.active_languages(None) == tax.languages
    assert tax.active_languages("ja") == tax.languages
    assert tax.matcher("de") is tax.matcher("de-AT")  # one matcher per set of languages
    assert tax.matcher("de") is not tax.matcher("fr")
    assert tax.pattern_counts() == {"demo": len(REQUIRED_LANGUAGES) + 1}


def test_background_cues_per_language_and_for_any():
    tax = Taxonomy.from_dict(_doc(background={"de": ["seit"], "any": ["amid"]}))
    assert tax.background_cues("de").search("seit 2014") and tax.background_cues("de").search("amid it")
    assert tax.background_cues("fr").search("amid it") and not tax.background_cues("fr").search("seit 2014")
    assert tax.background_cues("de") is tax.background_cues("de")
    assert tax.background_cues(None).search("seit 2014")  # every language
    assert Taxonomy.from_dict(_doc(background={"de": ["seit"]})).background_cues("fr") is None
    assert Taxonomy.from_dict(_doc()).background_cues("en") is None
    first = Taxonomy.from_dict(_doc(background={"de": ["seit"], "any": ["amid"]}))
    assert first.background_cues(None).search("seit 2014")  # every language's cues, asked for first
    assert not first.background_cues("fr").search("seit 2014")  # then French's own, not those
    three = Taxonomy.from_dict(_doc(background={"de": ["seit"], "fr": ["depuis"]}))
    assert not three.background_cues("de").search("depuis 2014")
    assert three.background_cues(None).search("depuis 2014")  # asked for after German: still every language's


def test_context_anchors_per_language_and_for_any():
    tax = Taxonomy.from_dict(_doc({"context": {"de": ["armee"], "any": ["nato"]}}))
    assert tax.context_regex("demo", "de").search("die armee") and tax.context_regex("demo", "de").search("nato")
    assert not tax.context_regex("demo", "fr").search("die armee") and tax.context_regex("demo", "fr").search("nato")
    assert tax.context_regex("demo", "fr") is tax.context_regex("demo", "fr")
    assert Taxonomy.from_dict(_doc()).context_regex("demo", "en") is None
    other = {"description": "other", "patterns": {lang: ["x"] for lang in REQUIRED_LANGUAGES}, "context": {"any": ["nato"]}}
    two = Taxonomy.from_dict({**_doc({"context": {"any": ["nato"]}}), "topics": {**_doc({"context": {"any": ["nato"]}})["topics"], "other": other}})
    assert two.context_regex("demo", "en") is two.context_regex("other", "en")  # one regex per list of anchors


def test_a_topic_without_anchors_in_any_active_language_has_none():
    tax = Taxonomy.from_dict(_doc({"context": {"de": ["armee"]}}))
    assert tax.context_regex("demo", "fr") is None
    assert tax.context_regex("demo", "de") is not None


# --------------------------------------------------------------------------- the launcher's document


def test_the_launcher_reads_validates_and_keeps_the_document(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(_doc()), encoding="utf-8")
    data = read_taxonomy_mapping(str(path))
    assert data == _doc()
    kept = validated_taxonomy(document_key(data))
    assert isinstance(kept, Taxonomy) and set(kept.topics) == {"demo"}
    second = tmp_path / "u.yaml"
    second.write_text(yaml.safe_dump(_doc(min_score=0.6)), encoding="utf-8")
    read_taxonomy_mapping(str(second))
    assert validated_taxonomy(document_key(data)) is None  # only the last document is kept
    assert validated_taxonomy(document_key(_doc(min_score=0.6))).min_score == 0.6
    assert set(taxonomy_module._validated) == {document_key(_doc(min_score=0.6))}


def test_a_document_key_is_the_same_for_equal_documents():
    assert document_key({"b": 1, "a": [1, 2]}) == document_key({"a": [1, 2], "b": 1}) == '{"a": [1, 2], "b": 1}'
    assert document_key("configs/topics.yaml") == "configs/topics.yaml"
    assert document_key({"a": {1}}) == '{"a": "{1}"}'  # anything else as its str


def test_the_validation_cache_key_names_the_code_of_the_taxonomy_modules(tmp_path, monkeypatch):
    """The key of a validated document in the regex cache includes the code of taxonomy.py,
    topicforms.py and topicrules.py: editing them retires the cached validation."""
    import hashlib
    import os
    import sys

    from transforms.enrich.topicforms import snowball_version
    from transforms.runtime.regexcache import code_fingerprint

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(tmp_path))
    doc = _doc(min_score=0.45)
    Taxonomy.from_dict(doc)
    here = os.path.dirname(os.path.abspath(taxonomy_module.__file__))
    code = code_fingerprint(*(os.path.join(here, f"{m}.py") for m in ("taxonomy", "topicforms", "topicrules")))
    inputs = f"taxonomy-valid\0{sys.version}\0{snowball_version()}\0{code}\0{document_key(doc)}"
    name = hashlib.sha256(inputs.encode("utf-8")).hexdigest()[:40] + ".derived"
    assert name in {p.name for p in tmp_path.iterdir()}
    assert Taxonomy.from_dict(doc).min_score == 0.45  # the second parse, from the cached validation
