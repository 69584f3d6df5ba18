"""Phrases in plain words and the forms they match (issue 21, mutation testing of
``topicforms.py``): stems by Snowball and by an endings table, the minimum stem, how many letters an
inflected form may add, ``=exact`` and ``prefix*`` words, choices, gaps and their limits, and the
error of each bad phrase. Words are checked by what they match (``re.fullmatch``), whole phrases
through a small taxonomy built here, so the tests hold whatever regex spells the same forms."""

from __future__ import annotations

import re

import pytest

from transforms.enrich import topicforms
from transforms.enrich.topicforms import phrase_regex, remember_stems, snowball_stems, stem, word_regex
from transforms.enrich.topics import REQUIRED_LANGUAGES, Taxonomy, TaxonomyError, analyse


@pytest.fixture(autouse=True)
def fresh_stems():
    """The stems this process computed are kept (``_stems``, ``_snowball``): empty them, so a
    test computes what it checks (``make mutate`` runs each mutant where the tests ran once)."""
    saved = dict(topicforms._stems)
    topicforms._stems.clear()
    topicforms._snowball.cache_clear()
    yield
    topicforms._stems.clear()
    topicforms._stems.update(saved)
    topicforms._snowball.cache_clear()


def _full(regex: str, word: str) -> bool:
    return re.fullmatch(regex, word, re.IGNORECASE) is not None


# --------------------------------------------------------------------------- stems


def test_snowball_stems_are_mapped_back_onto_the_words_letters():
    assert stem("Troops", "en") == "troop"
    assert stem("Sanktionen", "de") == "sanktion"
    assert stem("Straße", "de") == "straß"  # the stemmer writes ß as ss
    assert stem("Grüße", "de") == "grüß"  # and ü as u
    assert stem("санкции", "ru") == "санкц"
    assert stem("sturen", "nl") is None  # stemmed to "stuur": not the start of the word
    assert stem("moving", "en") is None  # "move"
    assert stem("förhandlingar", "sv") == "förhandling"  # only German's stemmer writes ö as o
    assert stem("müzakereler", "tr") == "müzakere"


def test_a_language_without_a_stemmer_keeps_the_word_and_the_endings_table_is_used_longest_first():
    assert stem("Слово", "uk") == "слово"
    assert stem("abcdeів", "uk", endings=("в", "ів")) == "abcde"  # "ів" before "в"
    assert stem("abcdeами", "uk", endings=("и", "ами")) == "abcde"  # the longest first, not the last in order
    assert stem("abcdів", "uk", endings=("ів",)) == "abcd"  # four letters left: the minimum stem
    assert stem("abcів", "uk", endings=("ів",)) == "abcів"  # three would be left: kept whole
    assert stem("abcdef", "uk", endings=("ів",)) == "abcdef"  # no listed ending
    assert stem("Troops", "en", endings=("s",)) == "troop"  # a table given wins over Snowball


def test_the_stems_computed_are_listed_and_can_be_taken_from_an_earlier_process():
    stem("Troops", "en")
    assert snowball_stems() == [["en", "troops", "troop"]]
    remember_stems([["en", "marches", "marchxyz"]])  # as if this process had computed it
    assert ["en", "marches", "marchxyz"] in snowball_stems()
    assert stem("marches", "en") is None  # the remembered stem is used (not a start of the word)


def test_the_snowball_version_is_the_installed_distributions():
    """Part of the regex cache's key for a taxonomy and its stems: it must change when
    snowballstemmer does. The package has no ``__version__`` (the key held "" for every version)."""
    from importlib.metadata import version

    assert topicforms.snowball_version() == version("snowballstemmer") != ""


# --------------------------------------------------------------------------- one word


def test_a_word_matches_its_stem_and_up_to_suffix_more_letters():
    regex = word_regex("troops", "en", 4)
    assert all(_full(regex, w) for w in ("troop", "troops", "Troopers", "troopxxxx"))
    assert not _full(regex, "troopxxxxx") and not _full(regex, "troo")
    assert word_regex("troop", "en", 0) == "troop"  # nothing may follow
    assert _full(word_regex("troops", "en", 0), "troops") and not _full(word_regex("troops", "en", 0), "troopss")


def test_the_word_itself_always_matches_however_far_it_is_from_its_stem():
    regex = word_regex("deployments", "en", 2)  # stem "deploy", 5 letters more than the suffix of 2
    assert _full(regex, "deployments") and _full(regex, "deployed")
    assert not _full(regex, "deploymentsx")


def test_english_stems_ending_in_e_match_their_ing_and_ed_forms():
    regex = word_regex("move", "en", 4)
    assert all(_full(regex, w) for w in ("move", "moves", "moving", "moved", "movement"))
    assert not _full(regex, "mov") and not _full(regex, "movings")
    regex = word_regex("cease", "xx", 4)  # only English drops the e (no stemmer for "xx": the word is its stem)
    assert not _full(regex, "ceasing")


def test_short_stems_and_exact_and_prefix_words():
    assert word_regex("cats", "en", 4) == "cats"  # stem "cat": under MIN_STEM, matched as written
    assert word_regex("talk", "en", 4) != "talk" and _full(word_regex("talk", "en", 4), "talks")  # 4: enough
    assert _full(word_regex("=Talks", "en", 4), "talks") and not _full(word_regex("=talks", "en", 4), "talk")
    assert word_regex("=U.S.", "en", 4) == re.escape("u.s.")
    prefix = word_regex("Waffenliefer*", "de", 4)
    assert _full(prefix, "waffenlieferungen") and _full(prefix, "waffenliefer") and not _full(prefix, "waffen")
    assert _full(word_regex("sturen", "nl", 4), "sturen") and not _full(word_regex("sturen", "nl", 4), "sturend")


# --------------------------------------------------------------------------- phrases


def _found(phrase: str, text: str, lang: str = "en", inflection: dict | None = None) -> list[str]:
    phrases = {code: ["zzqdummy"] for code in REQUIRED_LANGUAGES}
    phrases[lang] = [phrase]
    doc = {"version": 1, "topics": {"demo": {"description": "d", "phrases": phrases}}}
    if inflection:
        doc["inflection"] = {lang: inflection}
    scored = analyse(text, lang, Taxonomy.from_dict(doc))
    return sorted(h.text for t in scored for h in t.hits)


def test_gaps_allow_up_to_three_words_or_the_number_given():
    assert _found("deploy ... troops", "They deployed one two three troops.") == ["deployed one two three troops"]
    assert _found("deploy ... troops", "They deployed one two three four troops.") == []
    assert _found("deploy ... troops", "They deploy troops.") == ["deploy troops"]
    assert _found("deploy ...1 troops", "They deploy more troops. Deploy a few more troops.") == ["deploy more troops"]
    assert _found("deploy ...12 troops", "deploy " + "x " * 12 + "troops") == ["deploy " + "x " * 12 + "troops"]


def test_a_gap_stays_in_its_sentence_but_crosses_commas_and_abbreviations():
    assert _found("deploy ... troops", "They deployed there. Troops left.") == []
    assert _found("deploy ... troops", "They deployed at once, troops.") == ["deployed at once, troops"]
    assert _found("deploy ... troops", "They deployed U.S. troops.") == ["deployed U.S. troops"]


def test_choices_and_the_languages_inflection():
    assert _found("send|deploy troops", "They send troops and deploy troops.") == ["deploy troops", "send troops"]
    assert _found("send|send troops", "They send troops.") == ["send troops"]  # one alternative
    assert _found("sanction", "sanctionsxx", "en", {"suffix": 1}) == []
    assert _found("sanction", "sanctions", "en", {"suffix": 1}) == ["sanctions"]
    assert _found("переговори", "Після переговорів", "uk", {"endings": ["и", "ів"]}) == ["переговорів"]


@pytest.mark.parametrize(
    "phrase, message",
    [
        ("   ", "w: empty phrase"),
        ("... troops", "w: phrase '... troops': '...' must stand between two words"),
        ("troops ...", "w: phrase 'troops ...': '...' must stand between two words"),
        ("send ... ... troops", "'...' must stand between two words"),
        ("send ...123 troops", "bad word '...123'"),
        ("send troops!", "bad word 'troops!'"),
        ("send =", "bad word '='"),
        ("send *", "bad word '*'"),
        ("send _troops", "bad word '_troops'"),
        ("send|", "bad word ''"),
        ("send tro!op*", "bad word 'tro!op*'"),  # a prefix word is checked whole
        ("=tro!op", "bad word '=tro!op'"),
    ],
)
def test_bad_phrases_are_errors_naming_the_entry(phrase, message):
    with pytest.raises(TaxonomyError) as err:
        phrase_regex(phrase, "en", {}, "w")
    assert message in str(err.value)
    assert str(err.value).startswith("w: ")


def test_words_may_hold_digits_hyphens_apostrophes_and_a_final_full_stop():
    for phrase in ("g7 summit", "cease-fire", "o'brien", "jr. talks", "u.s. troops", "’s talks"):
        if phrase.startswith("’"):
            with pytest.raises(TaxonomyError):
                phrase_regex(phrase, "en", {}, "w")
        else:
            phrase_regex(phrase, "en", {}, "w")


def test_a_bad_word_message_says_what_words_may_be():
    with pytest.raises(TaxonomyError) as err:
        phrase_regex("send troops!", "en", {}, "topic 'x'.phrases.en[0]")
    assert str(err.value) == (
        "topic 'x'.phrases.en[0]: phrase 'send troops!': bad word 'troops!' (words are letters, digits, - ' . ; "
        "'a|b' is a choice, '...' a gap, '=w' exact, 'w*' a prefix)"
    )
