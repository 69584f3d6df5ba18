"""Story features of articles (transforms/stories/features.py)."""

import pytest

from tests.support.story_cases import QUAKE_PE_EN, QUAKE_TR_EN, QUAKE_TR_FR, art
from transforms.stories.features import StoryFeatures, article_features, features_of, features_payload, story_features
from transforms.stories.params import StoryParams
from transforms.stories.spelling import word_key


def test_features_are_language_neutral_for_terms_numbers_and_dates():
    en = dict(story_features(art("a", "", "The earthquake killed 1,200 people on 15 March; losses of 2.5 billion.")).counts)
    de = dict(story_features(art("b", "", "Das Erdbeben am 15. März tötete 1.200 Menschen; Schäden von 2,5 Milliarden.",
                                 lang="de")).counts)
    uk = dict(story_features(art("c", "", "Землетрус 15 березня забрав життя 1200 людей, збитки 2,5 млрд.",
                                 lang="uk")).counts)
    for feature in ("c:earthquake", "n:1.2e+03", "n:2.5e+09", "d:3-15"):
        assert feature in en and feature in de and feature in uk, feature


def test_names_inside_sentences_weigh_more_than_plain_words():
    counts = dict(story_features(art("a", "", "Officials met in Geneva. The officials said Geneva talks went well.")).counts)
    assert counts["W:" + word_key("Geneva")] > counts["w:" + word_key("officials")]


def test_names_are_not_confused_with_sentence_initial_words_and_numbers_keep_their_context():
    counts = dict(story_features(art("a", "", "Officials spoke. Officials met in Geneva, and talks in Geneva went on; "
                                             "costs reached 3,5 million by 15 mars 2025.")).counts)
    assert counts["W:" + word_key("Geneva")] == 2 * StoryParams().entity_weight
    assert counts["w:" + word_key("Officials")] == 2  # capitalised only at sentence starts: not a name
    assert "n:3.5e+06" in counts and "d:3-15" in counts and "y:2025" in counts


def test_features_travel_as_plain_strings_and_bytes_and_come_back_unchanged():
    feats = story_features(QUAKE_PE_EN)
    payload = features_payload(feats)
    assert [type(x) for x in payload] == [str, str, str, bytes, str]
    assert features_of(payload) == feats
    empty = StoryFeatures("x", "", ())
    assert features_of(features_payload(empty)) == empty


def test_sentence_heads_are_the_words_that_start_the_text_or_a_sentence():
    import re
    from collections import Counter

    from transforms.stories.features import _sentence_heads

    # the single pattern the two-pattern form replaces (slower: it tries ^ at every character)
    single = re.compile(r"(?:^|[.!?\n:;])[ \t\u00a0\"'“”«»(–—-]*([^\W\d_]+)")
    texts = [
        "Officials met. They said: «Talks» went on; (Geneva) hosted\nthem! Why? Because.",
        " «Quoted» start. 12 numbers. ",
        ".Leading dot then Word",
        "\nNew line first",
        "3 starts with a digit. Then words",
        "",
        "—Dash start: Kyiv",
        "...",
    ]
    for text in texts:
        assert _sentence_heads(text) == Counter(single.findall(text)), text


def test_article_features_is_the_payload_of_story_features():
    for article in (QUAKE_TR_EN, QUAKE_TR_FR, QUAKE_PE_EN, art("e", "", ""), art("n", "Only a title", "")):
        assert article_features(article) == features_payload(story_features(article))


@pytest.mark.parametrize(
    "raw, value",
    [
        ("2024", 2024.0), ("15%", 15.0), ("٢٠٢٤", 2024.0),  # digits only, also non-Latin ones
        ("1.5", 1.5), ("12,75", 12.75), ("1,234.5", 1234.5), ("1.234,5", 1234.5),
        ("1,000", 1000.0), ("1.000", 1000.0), ("15 000", 15000.0), ("15\u00a0000", 15000.0), ("2\u202f500%", 2500.0),
        ("1.2.3", None),
    ],
)
def test_numbers_are_read_in_the_usual_national_spellings(raw, value):
    from transforms.stories.features import _parse_number

    assert _parse_number(raw) == value


def test_words_of_finds_the_runs_of_letters_the_regex_finds():
    from transforms.stories.features import _WORD, words_of

    texts = [
        "The quake killed 1,200 people; losses of 2.5 billion (AP).",
        "Das Erdbeben am 15. März tötete 1.200 Menschen — Schäden",
        "Землетрус 15 березня забрав життя: «збитки» 2,5 млрд.",
        "snake_case x²y ½ Ⅻ l'été don’t a\u00a0b c\u2009d e\u3000f ﬁne",  # not letters but word characters; Unicode spaces
        "digits12inside words3 _under_ score__ 4",
        "lone \ud800 surrogate",
        "", "   ", "«»", "a",
    ]
    for text in texts:
        assert words_of(text) == _WORD.findall(text), text


def test_a_letter_is_a_word_character_to_the_regex():
    # why words_of may take str.isalpha for the regex's [^\W\d_]: every letter is one
    from transforms.stories.features import _WORD

    letters = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and chr(c).isalpha()]
    assert len(letters) > 100_000
    assert _WORD.fullmatch("".join(letters))


def test_feature_keys_of_joined_names_are_each_names_key():
    from transforms.stories.features import feature_key, feature_keys

    for names in (["W:kyiv"], ["W:kyiv", "Wx", "c:earthquake", "n:1.2e+03", "w:kyiv", "W:a", "o:WHO", "k:UA"], ["a"]):
        assert feature_keys("\0".join(names)) == [feature_key(f) for f in names]


def test_document_frequencies_count_each_articles_keys_once():
    from transforms.stories.vectors import document_frequencies

    feats = [StoryFeatures("a", "", (("W:kyiv", 2.0), ("c:war", 1.0))), StoryFeatures("b", "", ()),
             StoryFeatures("c", "", (("c:war", 1.0), ("w:kyiv", 1.0), ("y:2025", 1.0)))]
    df, n = document_frequencies(feats)
    assert n == 3 and type(df) is dict
    assert list(df.items()) == [("w:kyiv", 2), ("c:war", 2), ("y:2025", 1)]
