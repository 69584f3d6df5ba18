"""Where a taxonomy's cues match and which matches stand (issue 21, mutation testing of
``topicscan.py``): the ``exclude`` and ``requires`` windows to the character, a topic's own window
against the taxonomy's, overlapping matches, the first pattern in the taxonomy's order, a phrase
counting for two topics, word bounds, and the same answers from the word index and from the scan
regex (a taxonomy with a pattern of unknown prefix). Small taxonomies built here, through the
public ``analyse`` and ``Matcher.find``."""

from __future__ import annotations

import pytest

from transforms.enrich.topics import REQUIRED_LANGUAGES, Taxonomy, analyse
from transforms.enrich.topicscan import Matcher, context_regex

# a pattern whose literal prefix is unknown (a class first): the matcher cannot file it in its
# word index and scans with one regex instead; it matches nothing in these texts
SCAN_ONLY = r"\w+qqz"


def _taxonomy(topics: dict, window: int = 10, scan: bool = False) -> Taxonomy:
    built = {}
    for name, spec in topics.items():
        spec = dict(spec)
        english = list(spec.pop("en"))
        if scan:
            english.append(SCAN_ONLY)
        patterns = {lang: [f"zzq{name}"] for lang in REQUIRED_LANGUAGES}
        patterns["en"] = english
        built[name] = {"description": name, "patterns": patterns, **spec}
    return Taxonomy.from_dict({"version": 1, "window": window, "topics": built})


def _found(tax: Taxonomy, text: str, lang: str = "en") -> dict[str, list[tuple[int, int, str]]]:
    found = tax.matcher(lang).find(text, tax.window)
    return {name: [(s, e, p.source) for s, e, p in hits] for name, hits in found.items()}


@pytest.fixture(params=[False, True], ids=["word-index", "scan-regex"])
def scan(request) -> bool:
    return request.param


def test_both_ways_of_finding_candidates_are_exercised():
    assert _taxonomy({"a": {"en": ["truce"]}}).matcher("en")._build_index() is not None
    assert _taxonomy({"a": {"en": ["truce"]}}, scan=True).matcher("en")._build_index() is None


def test_an_exclude_vetoes_a_match_only_inside_the_window(scan):
    tax = _taxonomy({"a": {"en": ["truce"], "exclude": {"en": ["price"]}}}, window=10, scan=scan)
    # "price" starts 10 characters before the cue: inside the window [start - 10, end + 10]
    assert _found(tax, "price" + " " * 5 + "truce") == {}
    assert _found(tax, "price" + " " * 6 + "truce") == {"a": [(11, 16, "truce")]}  # one more: outside
    # after the cue: "price" must end by end + 10
    assert _found(tax, "truce" + " " * 5 + "price") == {}
    assert _found(tax, "truce" + " " * 6 + "price") == {"a": [(0, 5, "truce")]}
    # the window is cut at the text's ends
    assert _found(tax, "truce price") == {}


def test_a_topics_own_window_replaces_the_taxonomys(scan):
    tax = _taxonomy({"a": {"en": ["truce"], "exclude": {"en": ["price"]}, "window": 20}}, window=10, scan=scan)
    assert _found(tax, "price" + " " * 15 + "truce") == {}  # 20 before the cue: vetoed
    assert _found(tax, "price" + " " * 21 + "truce") == {"a": [(26, 31, "truce")]}
    narrow = _taxonomy({"a": {"en": ["truce"], "exclude": {"en": ["price"]}, "window": 0}}, window=50, scan=scan)
    assert _found(narrow, "price truce") == {"a": [(6, 11, "truce")]}  # a window of 0 is the cue alone


def test_a_weak_cue_needs_a_requires_inside_the_window(scan):
    weak = {"en": [{"re": "talks", "weak": True}, "truce"], "requires": {"en": ["army"]}}
    tax = _taxonomy({"a": weak}, window=10, scan=scan)
    assert _found(tax, "talks") == {}
    assert _found(tax, "army" + " " * 6 + "talks") == {"a": [(10, 15, "talks")]}
    assert _found(tax, "army" + " " * 7 + "talks") == {}
    assert _found(tax, "truce") == {"a": [(0, 5, "truce")]}  # a cue that is not weak needs nothing
    anyl = _taxonomy({"a": {**weak, "requires": {"any": ["army"]}}}, scan=scan)
    assert _found(anyl, "army talks", "de") == {"a": [(5, 10, "talks")]}  # 'any' holds in every language


def test_excludes_of_the_active_languages_and_any_apply():
    spec = {"en": ["truce"], "exclude": {"de": ["preis"], "any": ["price"]}}
    tax = _taxonomy({"a": spec})
    assert _found(tax, "preis truce", "en") == {"a": [(6, 11, "truce")]}  # German excludes: not in English
    assert _found(tax, "preis truce", "de") == {}
    assert _found(tax, "price truce", "fr") == {}


def test_overlapping_matches_of_a_topic_keep_the_first(scan):
    tax = _taxonomy({"a": {"en": ["peace talks", "talks stall"]}}, scan=scan)
    assert _found(tax, "peace talks stall now") == {"a": [(0, 11, "peace\\s+talks")]}
    assert _found(tax, "peace talks, talks stall") == {"a": [(0, 11, "peace\\s+talks"), (13, 24, "talks\\s+stall")]}


def test_the_first_pattern_in_the_taxonomys_order_names_the_match(scan):
    tax = _taxonomy({"a": {"en": [{"re": "peace talks?", "weight": 2}, "peace talks"]}}, scan=scan)
    hits = tax.matcher("en").find("new peace talks", 10)["a"]
    assert [(s, e, p.weight) for s, e, p in hits] == [(4, 15, 2.0)]


def test_a_phrase_counts_for_every_topic_that_has_it_and_only_whole_words(scan):
    tax = _taxonomy({"a": {"en": ["truce"]}, "b": {"en": ["truce", "accord"]}}, scan=scan)
    assert _found(tax, "A truce; an accord.") == {
        "a": [(2, 7, "truce")], "b": [(2, 7, "truce"), (12, 18, "accord")],
    }  # fmt: skip
    assert _found(tax, "untruce trucer truce_ _truce") == {}
    assert _found(tax, "") == {}
    scored = {t.name: t.score for t in analyse("A truce; an accord.", "en", tax)}
    assert scored == {"a": 0.632, "b": 0.865}


def test_the_patterns_of_other_languages_are_not_tried():
    tax = _taxonomy({"a": {"en": ["truce"]}})
    assert _found(tax, "zzqa truce", "de") == {"a": [(0, 4, "zzqa"), (5, 10, "truce")]}  # German and English
    assert _found(tax, "zzqa", "en") == {}  # English only


def test_a_taxonomy_with_no_pattern_in_a_language_set_finds_nothing():
    matcher = Matcher([], ("en",))
    assert matcher.candidates("truce") == {} and matcher.find("truce", 10) == {}


def test_the_context_regex_finds_what_the_bounded_alternation_finds():
    regex = context_regex(["price\\s+war", "milk", "super(?:market)?s?"])
    for text, found in [
        ("the price war", True), ("a milkman", False), ("supermarkets", True), ("the super", True),
        ("xsuper", False), ("milk", True), ("price  war", True), ("pricewar", False),
    ]:  # fmt: skip
        assert (regex.search(text) is not None) == found, text
    assert regex.search("milk and more", 1, 13) is None  # a start inside a word is no word start
    plain = context_regex(["[0-9]+ dead", "milk"])  # a class first: the plain bounded regex
    assert plain.search("12 dead") and plain.search("milk") and not plain.search("x12 dead")


WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
    "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
    "xray", "yankee", "zulu", "alps", "hot", "Ökonom", "Über", "übel",
]  # fmt: skip


@pytest.mark.parametrize("fan", [None, 2, 10**6], ids=["grouped", "deep", "flat"])
def test_cues_of_many_first_characters_are_all_found_at_their_places(scan, fan, monkeypatch):
    """More first characters than the scan regex tries one after the other (``_FAN``): they are
    grouped behind classes of their first characters, at any fan-out, and every cue is still
    found at its place and nowhere inside a word; so is every ``exclude`` of a long list."""
    import transforms.enrich.topicscan as topicscan

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", "off")  # built here at this fan-out, not read back
    if fan is not None:
        monkeypatch.setattr(topicscan, "_FAN", fan)
    tax = _taxonomy({f"t{i}": {"en": [word]} for i, word in enumerate(WORDS)}, scan=scan)
    text = " ".join(WORDS) + " alphas hotels xalps golfer"
    expected, at = {}, 0
    for i, word in enumerate(WORDS):
        expected[f"t{i}"] = [(at, at + len(word), word)]
        at += len(word) + 1
    assert _found(tax, text) == expected
    vetoes = _taxonomy({"a": {"en": ["truce"], "exclude": {"en": WORDS}}}, window=20, scan=scan)
    for word in WORDS:
        assert _found(vetoes, f"{word} truce") == {}, word
        assert _found(vetoes, f"{word}s truce") == {"a": [(len(word) + 2, len(word) + 7, "truce")]}, word


def test_a_match_starting_where_the_last_one_ended_is_kept(scan):
    """Only an overlap drops a match: one that starts exactly where the topic's last one ended
    (cues that end and begin with punctuation) is kept."""
    tax = _taxonomy({"a": {"en": ["truce,", ",accord"]}}, scan=scan)
    assert _found(tax, "truce,,accord") == {"a": [(0, 6, "truce,"), (6, 13, ",accord")]}


def test_a_vetoed_match_does_not_hide_the_topics_later_matches(scan):
    tax = _taxonomy({"a": {"en": ["truce"], "exclude": {"en": ["price"]}}}, window=10, scan=scan)
    text = "price truce" + " " * 30 + "truce"
    assert _found(tax, text) == {"a": [(41, 46, "truce")]}  # the first vetoed, the second far from it


def test_taxonomies_sharing_the_regex_cache_each_find_their_own_cues(scan, tmp_path, monkeypatch):
    """The regex cache keeps a matcher's word index and scan regex keyed by its patterns: another
    taxonomy in the same cache (same kind of matcher, other cues) gets its own."""
    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(tmp_path))
    first = _taxonomy({"a": {"en": ["truce"], "exclude": {"en": ["price"]}}}, scan=scan)
    second = _taxonomy({"a": {"en": ["accord"], "exclude": {"en": ["cost"]}}}, scan=scan)
    assert _found(first, "truce accord") == {"a": [(0, 5, "truce")]}
    assert _found(second, "truce accord") == {"a": [(6, 12, "accord")]}
    assert (_found(first, "price truce"), _found(first, "cost truce")) == ({}, {"a": [(5, 10, "truce")]})
    assert (_found(second, "cost accord"), _found(second, "price accord")) == ({}, {"a": [(6, 12, "accord")]})
    assert list(tmp_path.iterdir())  # the cache was used


@pytest.mark.parametrize("module", ["topicscan", "topicprefixes", "topicrules"])
def test_the_cached_scan_and_index_are_built_again_when_the_code_that_builds_them_changes(module, tmp_path, monkeypatch):
    """Their cache entries are keyed by the code of ``topicscan``, ``topicprefixes`` and
    ``topicrules``: a change to any of the three (seen here as another fingerprint of that file)
    gives new entries, not the old ones."""
    import importlib

    from transforms.enrich import topicscan

    monkeypatch.setenv("NEWSBEAM_REGEX_CACHE", str(tmp_path))
    spec, derived, keys = {"a": {"en": ["truce"], "exclude": {"en": ["price"]}}}, topicscan.derived, []
    monkeypatch.setattr(topicscan, "derived", lambda inputs, build: keys.append(inputs) or derived(inputs, build))

    def entries() -> set[str]:
        keys.clear()
        for scan in (False, True):
            assert _found(_taxonomy(spec, scan=scan), "truce") == {"a": [(0, 5, "truce")]}
        return set(keys)

    before = entries()
    assert len(before) >= 3  # the word indexes, the scan and the context regex
    changed, fingerprint = importlib.import_module(f"transforms.enrich.{module}").__file__, topicscan.code_fingerprint
    monkeypatch.setattr(topicscan, "code_fingerprint", lambda *files: fingerprint(*files) + ("+" if changed in files else ""))
    after = entries()
    assert len(after) == len(before) and not after & before


def test_the_scan_regex_of_a_trie_is_the_matchers_and_none_for_an_empty_trie():
    """``_scan_regex`` (the scan as the module documents it) gives the regex and marks the matcher
    scans with; a trie with nothing filed gives none."""
    from transforms.enrich import topicscan

    assert topicscan._scan_regex(topicscan._Node()) is None
    for scan in (False, True):  # with a pattern filed at the root (scan) and without
        matcher = _taxonomy({"a": {"en": ["truce", "peace talks"]}, "b": {"en": ["accord"]}}, scan=scan).matcher("en")
        root = topicscan._Node()
        for index, (_, pats, _, _) in enumerate(matcher._topics):
            for p in pats:
                topicscan._file(root, p.source, index)
        assert bool(root.pieces) == scan
        regex, marks = topicscan._scan_regex(root)
        built, built_marks = matcher._build_scan()
        assert (regex.pattern, marks) == (built.pattern, built_marks) and len(marks) > 1


def test_a_scan_regex_with_groups_of_its_own_is_an_internal_error():
    from transforms.enrich.topicrules import TaxonomyError
    from transforms.enrich.topicscan import _compile_scan

    with pytest.raises(TaxonomyError, match=r"^internal error: the scan regex has unexpected groups$"):
        _compile_scan("(a)()", ((), (0,)))


def test_a_context_list_with_a_pattern_of_unknown_prefix_is_the_plain_bounded_regex():
    """A context pattern the trie cannot file (a class first) makes the plain regex of every
    alternative, case-insensitive and bounded like the trie's."""
    regex = context_regex([SCAN_ONLY, "milk"])
    assert regex.search("abqqz") and regex.search("the MILK.") and regex.search("Milk")
    assert not regex.search("milky") and not regex.search("xmilk") and not regex.search("abqqzz")


def test_a_language_no_topic_has_patterns_in_adds_nothing():
    tax = _taxonomy({"a": {"en": ["truce"]}})
    assert Matcher(tax.topics.values(), ("en", "xx")).find("a truce", 10) == {"a": [(2, 7, tax.topics["a"].patterns["en"][0])]}


def test_a_requires_after_a_weak_cue_counts_only_inside_the_window_and_a_dropped_cue_hides_nothing(scan):
    weak = {"en": [{"re": "talks", "weak": True}, "truce"], "requires": {"en": ["army"]}}
    tax = _taxonomy({"a": weak}, window=10, scan=scan)
    assert _found(tax, "talks" + " " * 6 + "army") == {"a": [(0, 5, "talks")]}  # "army" ends at end + 10
    assert _found(tax, "talks" + " " * 7 + "army") == {}  # one more: it ends past the window
    assert _found(tax, "talks truce") == {"a": [(6, 11, "truce")]}  # the weak cue dropped, the next kept
