"""Story features to the value (transforms/stories/features.py): word lists, numbers, dates,
names and places with exact weights under non-default settings (issue 21: mutation testing).

The module keeps per-process caches (``_RAW``: spelling -> feature, ``_word_feature``'s
lru_cache): ``make mutate`` forks its mutants from a process that has run the tests, so a
test that reads them full sees the original's answers. The ``fresh`` fixture empties them."""

import pytest

from transforms.stories import features
from transforms.stories.features import (
    StoryFeatures,
    _compile,
    _date_near,
    _lookup,
    _parse_number,
    features_of,
    features_payload,
    story_features,
)
from transforms.stories.params import StoryParams
from transforms.stories.spelling import word_key


@pytest.fixture()
def fresh():
    features._RAW.clear()
    features._word_feature.cache_clear()
    yield
    features._RAW.clear()
    features._word_feature.cache_clear()


def test_a_word_list_compiles_to_exact_words_and_prefixes_of_three_letters_or_more():
    exact, prefix, longest = _compile({
        "quake": ["Earthquake", "séisme", "quak*"],
        # "!!" normalises to nothing (skipped, the rest still read); a two-letter prefix is an exact word
        "flood": ["flood*", "!!", "ab*", "earthquake"],
    })
    assert exact == {"earthquake": "quake", "seisme": "quake", "ab": "flood"}
    assert prefix == {"quak": "quake", "flood": "flood"}
    assert longest == 5
    assert _compile({}) == ({}, {}, 0)
    assert _compile({"x": ["abc*"]}) == ({}, {"abc": "x"}, 3)


def test_a_lookup_takes_the_exact_word_then_the_longest_prefix_of_three_letters_or_more():
    table = ({"floods": "exact"}, {"flo": "short", "flood": "long"}, 5)
    assert _lookup("floods", *table) == "exact"
    assert _lookup("flooding", *table) == "long"
    assert _lookup("flown", *table) == "short"
    assert _lookup("flo", *table) == "short"
    assert _lookup("fl", *table) is None
    assert _lookup("water", *table) is None
    # prefixes no longer than the longest listed one are tried
    assert _lookup("abcdefgh", {}, {"abcdef": 1}, 6) == 1
    assert _lookup("abcdefgh", {}, {"abcdef": 1}, 5) is None


@pytest.mark.parametrize("raw, value", [
    ("7", 7.0), ("12%", 12.0), ("3.25", 3.25), ("1 000", 1000.0), ("1,000,000", 1e6), ("1.000.000", 1e6),
    ("1,5", 1.5), ("10.5%", 10.5), ("1,234,567.5", 1234567.5), ("12.34.5", None), ("1,2345", 1.2345),
    ("1.234,567", 1234567.0), ("1,23,456", None),
])
def test_numbers_to_the_value(raw, value):
    assert _parse_number(raw) == value


def test_a_day_next_to_a_month_name_is_a_date():
    assert _date_near(["", "15", "march"], 1, 15.0) == "d:3-15"
    assert _date_near(["", "15", "of", "march"], 1, 15.0) == "d:3-15"
    assert _date_near(["", "15", "de", "marzo"], 1, 15.0) == "d:3-15"
    assert _date_near(["", "15", ".", "marz"], 1, 15.0) == "d:3-15"
    assert _date_near(["", "15", "and", "march"], 1, 15.0) is None  # two tokens on only after of / de / .
    assert _date_near(["march", "15", "people"], 1, 15.0) == "d:3-15"
    assert _date_near(["march", "15", "and", "more"], 1, 15.0) == "d:3-15"  # the month before, past two others
    assert _date_near(["", "1", "march"], 1, 1.0) == "d:3-1" and _date_near(["", "31", "march"], 1, 31.0) == "d:3-31"
    assert _date_near(["", "0", "march"], 1, 0.0) is None and _date_near(["", "32", "march"], 1, 32.0) is None
    assert _date_near(["", "1.5", "march"], 1, 1.5) is None
    assert _date_near(["", "15", "2025"], 1, 15.0) is None and _date_near(["", "15"], 1, 15.0) is None


def counts_of(text, title="", params=StoryParams(), **article):
    return dict(story_features({"id": "a", "title": title, "text": text, "places": [], "organisations": [],
                                **article}, params).counts)


def test_numbers_years_and_dates_weigh_their_settings(fresh):
    params = StoryParams(number_weight=3.0, year_weight=0.25, date_weight=5.0, title_repeat=4)
    counts = counts_of("Rescuers counted 245 victims in 2019, on 15 March.", params=params)
    assert counts["n:245"] == 3.0 and counts["y:2019"] == 0.25 and counts["d:3-15"] == 5.0
    # every mention counts, in the text and the title
    again = counts_of("Rescuers counted 245 victims in 2019; 245 is the toll of 2019, on 15 March and 15 March.",
                      title="245 dead", params=params)
    assert again["n:245"] == 3.0 * 2 + 3.0 * 4 and again["y:2019"] == 0.5 and again["d:3-15"] == 10.0
    # the title counts title_repeat times
    titled = counts_of("", title="Flood kills 245", params=params)
    assert titled["n:245"] == 12.0
    # small counts are no feature; 13 is; fractions, scales and percentages always are
    small = counts_of("They saw 12 boats, 13 trucks, 2.5 tonnes, 3 million dollars and 4 percent.")
    assert "n:12" not in small and small["n:13"] == 1.5
    assert small["n:2.5"] == 1.5 and small["n:3e+06"] == 1.5 and small["n:4%"] == 1.5
    # years are 1800 to 2100, whole, not percentages
    years = counts_of("In 1800 and 2100, not 1799 nor 2101, and 2020% more.")
    assert years["y:1800"] == years["y:2100"] == 0.3
    assert years["n:1.8e+03"] == years["n:2.1e+03"] == 1.5 and years["n:2.02e+03%"] == 1.5


def test_words_concepts_and_names_weigh_their_settings(fresh):
    params = StoryParams(word_weight=2.0, concept_weight=3.0, entity_weight=7.0, title_repeat=3)
    counts = counts_of("An earthquake struck. Searched houses in Quelimane were empty and rescuers searched Quelimane.",
                       title="Earthquake near Quelimane", params=params)
    quelimane = word_key("quelimane")
    # a name: capitalised inside sentences, never lowercase; title and text counted before the weight
    assert counts["W:" + quelimane] == (3 * 2.0 + 2 * 2.0) * 7.0
    # a concept: the title three times, the text once
    assert counts["c:earthquake"] == 3 * 3.0 + 3.0 and counts["c:rescue"] == 3.0
    # a word capitalised only at a sentence start and lowercase elsewhere is a word; a title word
    assert counts["w:" + word_key("searched")] == 2 * 2.0 and counts["w:" + word_key("near")] == 3 * 2.0
    # function words and short words are no feature
    assert not {"w:" + word_key("and"), "w:" + word_key("in"), "w:" + word_key("were")} & set(counts)
    assert all(not f.endswith(word_key("march")) for f in counts_of("It was March, in march."))


def test_places_and_organisations_count_their_mentions_and_title_mentions(fresh):
    places = [
        {"geonameid": 1040652, "mentions": 3, "evidence": [{"field": "title"}, {"field": "text"}, {"field": "text"}]},
        {"country": "MZ", "kind": "country", "geonameid": 1036973, "mentions": 1, "evidence": [{"field": "text"}]},
    ]
    organisations = [{"id": "Q7817", "mentions": 2, "evidence": [{"field": "title"}, {"field": "title"}]}]
    params = StoryParams(place_weight=2.5, organisation_weight=0.5, title_repeat=3)
    counts = counts_of("Text.", params=params, places=places, organisations=organisations)
    assert counts["p:1040652"] == (3 + 2 * 1) * 2.5  # each title mention counts title_repeat times in all
    assert counts["k:MZ"] == 1 * 2.5
    assert counts["o:Q7817"] == (2 + 2 * 2) * 0.5
    # organisations off by default; places off when their weight is 0
    default = counts_of("Text.", places=places, organisations=organisations)
    assert "o:Q7817" not in default and default["p:1040652"] == (3 + 1) * 2.0
    off = counts_of("Text.", params=StoryParams(place_weight=0.0), places=places, organisations=organisations)
    assert not any(f.startswith(("p:", "k:", "o:")) for f in off)


def test_only_the_lead_is_read_and_und_is_no_language(fresh):
    text = "Quelimane flooded. " + "x " * 100 + "Beira flooded."
    short = counts_of(text, params=StoryParams(max_chars=20), language="en")
    assert "w:" + word_key("quelimane") in short and "w:" + word_key("beira") not in short
    assert story_features({"id": 7, "text": "", "language": "und"}) == StoryFeatures("7", "", (), "")
    assert story_features({"id": "a", "text": "", "language": "pt", "published_at": None}).language == "pt"


def test_a_payload_without_features_keeps_its_language_and_date():
    empty = StoryFeatures("x", "2025-01-01T00:00:00Z", (), "pt")
    assert features_of(features_payload(empty)) == empty
    one = StoryFeatures("y", "", (("n:245", 1.5),), "en")
    assert features_of(features_payload(one)) == one


def test_a_word_also_written_lowercase_is_no_name(fresh):
    """A name is capitalised inside a sentence and never lowercase: "Bridge" inside a
    sentence is a word when "bridge" occurs too; so is "IPhone" beside "iPhone"."""
    counts = counts_of("Engineers said the Bridge had cracks and the bridge was closed. "
                       "Sales of iPhone rose while buyers of IPhone waited.")
    for word in ("bridge", "iphone"):
        assert counts["w:" + word_key(word)] == 2.0 and "W:" + word_key(word) not in counts
    # capitalised inside a sentence only: a name
    assert counts_of("Engineers said the Bridge had cracks.")["W:" + word_key("bridge")] == 2.0


def test_the_tokens_next_to_a_number_are_its_neighbours_within_the_context(fresh):
    """A number reads the token just before it (from the text's first character on) and the
    two after it, within ``_CONTEXT`` characters each way; an unreadable number is skipped,
    not the end of the numbers."""
    assert counts_of("March 15 was the day.") == {"d:3-15": 1.5}  # the month before, at position 0
    assert counts_of("They met on March 15.")["d:3-15"] == 1.5  # the month just before, not the text's last token
    assert counts_of("March" + "-" * 70 + "15") == {"n:15": 1.5}
    # a month further than _CONTEXT characters after the number is not its month
    assert counts_of("On 15" + "-" * 70 + "March") == {"n:15": 1.5}
    assert counts_of("On 15" + "-" * 50 + "March") == {"d:3-15": 1.5}
    assert counts_of("Code 12.34.5 and 245 victims")["n:245"] == 1.5


def test_entities_are_found_when_either_field_is_missing(fresh):
    """The article's ``places`` / ``organisations`` are taken only when it has both;
    otherwise both are found in its text."""
    text = "Flooding in Kharkiv hit homes."
    found = counts_of(text)  # with places = organisations = []: none
    assert not any(f.startswith("p:") for f in found)
    for given in ("places", "organisations"):
        article = {"id": "a", "title": "", "text": text, given: []}
        assert "p:706483" in dict(story_features(article).counts)  # Kharkiv, found in the text


def test_organisations_count_when_places_weigh_nothing(fresh):
    organisations = [{"id": "Q7817", "mentions": 2, "evidence": [{"field": "text"}, {"field": "text"}]}]
    counts = counts_of("Text.", params=StoryParams(place_weight=0.0, organisation_weight=0.5),
                       places=[{"geonameid": 1, "mentions": 1, "evidence": []}], organisations=organisations)
    assert counts["o:Q7817"] == 1.0 and "p:1" not in counts


def test_cyrillic_follows_the_article_language(fresh):
    """Ukrainian rules (г -> h) for an article in ``uk`` whose text has no і/ї/є/ґ to tell."""
    text = "Флот Гордона стояв"
    assert "W:hordon" in counts_of(text, language="uk")
    assert "W:gordon" in counts_of(text, language="ru") and "W:gordon" in counts_of(text)


def test_title_words_are_never_names_by_their_capital(fresh):
    """Title case is no sign of a name: the title's words count as words."""
    counts = counts_of("", title="Rescuers Reach Town")
    assert counts == {"c:rescue": 2.0, "w:" + word_key("reach"): 2.0, "w:" + word_key("town"): 2.0}


def test_a_titlecase_digraph_is_neither_capital_nor_lowercase(fresh):
    """``ǅ`` (Croatian, Unicode titlecase) is neither upper nor lower case: such a word alone is
    no name, and beside the capitalised spelling it does not make that one a plain word."""
    key = word_key("dzamija")
    assert counts_of("Visitors saw the ǅamija.") == {"w:" + key: 1.0, "w:" + word_key("visitors"): 1.0}
    assert counts_of("Visitors saw Džamija and then ǅamija.")["W:" + key] == 4.0


def test_an_article_without_a_language_has_none():
    assert story_features({"id": "a", "text": ""}).language == ""
    assert story_features({"id": "a", "text": "", "language": None}).language == ""
