"""What a tag means: the article reports on the topic (title, lead, or a body that develops
it); a passing mention is a mention, not a tag; inflected forms come from a stemmer; the
explain tool; a bad phrase's error message."""

from __future__ import annotations

import json

import pytest

from pipeline import topics as explain_cli
from tests.support import REPO
from transforms.enrich.topicforms import phrase_regex, stem, word_regex
from transforms.enrich.topics import (
    REQUIRED_LANGUAGES,
    Taxonomy,
    TaxonomyError,
    analyse,
    make_article_tagger,
    topics_and_mentions,
)

TAXONOMY_PATH = str(REPO / "configs" / "topics.yaml")


def _demo(phrases: dict | None = None, **extra) -> dict:
    return {
        "version": 1,
        "topics": {
            "demo": {
                "description": "demo",
                "phrases": phrases or {lang: ["impose sanctions"] for lang in REQUIRED_LANGUAGES},
                **extra,
            }
        },
    }


def _names(items: list[dict]) -> set[str]:
    return {t["name"] for t in items}


def _check_offsets(record: dict, items: list[dict]) -> None:
    for item in items:
        for ev in item["evidence"]:
            assert record[ev["field"]][ev["start"] : ev["end"]] == ev["text"]


# --------------------------------------------------------------------------- place, mention, tag

BACKGROUND = (
    "The city of Lviv opened a new concert hall on Saturday with a programme of Ukrainian music.\n"
    "The hall seats 1,200 people and cost 40 million euros, paid partly by the city.\n"
    "Its acoustic was designed by a Danish firm. The musicians, some of whom have played for troops at "
    "the front since the ceasefire talks collapsed, were cheered for ten minutes.\n"
    "The next concert is on Friday."
)


def test_a_passing_mention_in_the_body_is_not_a_tag(taxonomy):
    topics, mentions = topics_and_mentions(BACKGROUND, "en", taxonomy, title="Lviv opens a concert hall")
    assert "ceasefire" not in _names(topics) and "peace_talks" not in _names(topics)


def test_the_same_words_in_the_lead_are_a_tag(taxonomy):
    text = "Ukraine and Russia agreed a ceasefire on Saturday, officials in Kyiv said.\nMore follows."
    topics, _ = topics_and_mentions(text, "en", taxonomy)
    assert "ceasefire" in _names(topics)


def test_a_topic_named_without_weight_is_a_mention(taxonomy):
    text = (
        "Ukrainian farmers in the Odesa region said on Monday that sanctions had made fertiliser dearer.\n"
        "Prices rose by a fifth this year, the farmers' union said.\n"
        "Tickets cost 12 euros."
    )
    topics, mentions = topics_and_mentions(text, "en", taxonomy, title="Fertiliser prices rise")
    assert "sanctions" not in _names(topics)
    assert "sanctions" in _names(mentions)
    assert all(taxonomy.mention_score <= m["score"] < taxonomy.threshold(m["name"]) for m in mentions)
    _check_offsets({"text": text, "title": "Fertiliser prices rise"}, mentions)


def test_title_evidence_has_field_title_and_title_offsets(taxonomy):
    title = "EU adopts new sanctions package against Russia"
    text = "Ambassadors agreed on Wednesday to list 40 more tankers of the shadow fleet.\nThe list takes effect at once."
    topics, _ = topics_and_mentions(text, "en", taxonomy, title=title)
    sanctions = next(t for t in topics if t["name"] == "sanctions")
    fields = {ev["field"] for ev in sanctions["evidence"]}
    assert "title" in fields
    _check_offsets({"text": text, "title": title}, topics)


def test_a_paraphrase_in_the_title_and_lead_is_a_tag(taxonomy):
    title = "Colombian government and ELN rebels sit down at the negotiating table again"
    text = "Delegations of the government and the ELN guerrillas met in Caracas for a new round of talks."
    topics, _ = topics_and_mentions(text, "en", taxonomy, title=title)
    assert "peace_talks" in _names(topics)


def test_homonyms_without_context_are_not_tagged(taxonomy):
    title = "Milk price truce: two supermarkets stop undercutting each other"
    text = "The two grocers appear to have called a ceasefire in the milk price war, analysts said."
    topics, mentions = topics_and_mentions(text, "en", taxonomy, title=title)
    assert "ceasefire" not in _names(topics)
    assert all(t["score"] < taxonomy.threshold(t["name"]) for t in mentions)


def test_a_background_clause_in_the_lead_counts_less(taxonomy):
    plain = analyse("EU ministers agreed new sanctions on Russia on Monday.", "en", taxonomy)
    background = analyse("Despite new sanctions on Russia, EU ministers met on Monday.", "en", taxonomy)
    score = lambda scored: next(t for t in scored if t.name == "sanctions").score  # noqa: E731
    assert score(background) < score(plain)
    assert any(h.background for t in background for h in t.hits)


def test_one_body_sentence_counts_once_however_many_cues(taxonomy):
    lead = "The mayor opened the new bridge over the river on Monday in front of 300 people, a brass band and the city council.\n"
    one = analyse(lead + "Ukraine's envoys held talks with Russia's delegation in Geneva.", "en", taxonomy)
    two = analyse(lead + "Ukraine's envoys met in Geneva. Russia's delegation held talks there.", "en", taxonomy)
    score = lambda scored: next(t for t in scored if t.name == "peace_talks").score  # noqa: E731
    assert score(one) < score(two)


def test_the_tagger_sets_topics_and_mentions(taxonomy):
    tag = make_article_tagger(taxonomy)
    out = tag({"id": "x", "title": "Museum reopens", "text": BACKGROUND, "language": "en"})
    assert isinstance(out["topics"], list) and isinstance(out["mentions"], list)
    assert not _names(out["topics"]) & _names(out["mentions"])


def test_thresholds_per_topic(taxonomy):
    for name, topic in taxonomy.topics.items():
        assert taxonomy.threshold(name) == (taxonomy.min_score if topic.min_score is None else topic.min_score)
    assert taxonomy.mention_score <= min(taxonomy.threshold(n) for n in taxonomy.topics)


# --------------------------------------------------------------------------- inflected forms


@pytest.mark.parametrize(
    "lang, phrase, text",
    [
        ("en", "deploy ... troops", "The ministry deployed 300 more troops to the border."),
        ("en", "move ... brigade", "Germany is moving a brigade to Lithuania."),
        ("de", "sanktion*", "Die Sanktionspakete der EU"),
        ("fr", "négociations de paix", "Les négociation de paix ont repris."),
        ("pl", "sankcje", "Unia nałożyła nowe sankcjami na Rosję."),
        ("ru", "переговоры", "После переговоров в Женеве"),
        ("uk", "переговори", "Після переговорів у Женеві"),
        ("it", "tregua", "Le tregue non reggono."),
        ("nl", "onderhandelingen", "De onderhandeling duurde lang."),
        ("es", "trasladar ... tropas", "España trasladará 600 tropas a Letonia."),
    ],
)
def test_phrases_match_inflected_forms(taxonomy, lang, phrase, text):
    import re

    import yaml

    inflection = yaml.safe_load(open(TAXONOMY_PATH, encoding="utf-8")).get("inflection", {}).get(lang, {})
    regex = re.compile(r"(?<!\w)" + phrase_regex(phrase, lang, inflection, "t").replace(" ", r"\s+") + r"(?!\w)", re.I)
    assert regex.search(text), (phrase, regex.pattern)


def test_stems_come_from_the_stemmer_and_the_endings_table():
    assert stem("Vermögenswerte", "de") == "vermögenswert"  # the stemmer spells ö as o: mapped back
    assert stem("sturen", "nl") is None  # the stemmer changed letters: match the word as written
    assert word_regex("sturen", "nl", 4) == "sturen"
    assert stem("переговорів", "uk", endings=("ів", "и")) == "переговор"
    assert word_regex("=talks", "en", 4) == "talks"
    assert word_regex("waffenliefer*", "de", 4) == r"waffenliefer\w*"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "phrase, message",
    [
        ("impose (sanctions", "bad word '(sanctions'"),
        ("... sanctions", "'...' must stand between two words"),
        ("sanctions ...", "'...' must stand between two words"),
        ("send [troops]", "bad word '[troops]'"),
    ],
)
def test_a_bad_phrase_names_topic_language_and_entry(phrase, message):
    data = _demo()
    data["topics"]["demo"]["phrases"]["en"] = ["impose sanctions", phrase]
    with pytest.raises(TaxonomyError) as err:
        Taxonomy.from_dict(data)
    assert "topic 'demo'.phrases.en[1]" in str(err.value)
    assert message in str(err.value)


def test_scoring_inflection_and_context_are_validated():
    with pytest.raises(TaxonomyError, match=r"taxonomy.scoring: unknown key"):
        Taxonomy.from_dict({**_demo(), "scoring": {"titel": 1}})
    with pytest.raises(TaxonomyError, match=r"taxonomy.scoring.body"):
        Taxonomy.from_dict({**_demo(), "scoring": {"body": "half"}})
    with pytest.raises(TaxonomyError, match=r"taxonomy.inflection.uk.endings"):
        Taxonomy.from_dict({**_demo(), "inflection": {"uk": {"endings": "а, я"}}})
    with pytest.raises(TaxonomyError, match=r"mention_score"):
        Taxonomy.from_dict({**_demo(), "min_score": 0.3, "mention_score": 0.5})
    with pytest.raises(TaxonomyError, match=r"demo'.context.en\[0\]: bad regex"):
        Taxonomy.from_dict(_demo(context={"en": ["[x"]}))
    with pytest.raises(TaxonomyError, match=r"demo'.min_score"):
        Taxonomy.from_dict(_demo(min_score=2))


# --------------------------------------------------------------------------- the explain tool


@pytest.mark.slow
def test_explain_shows_phrases_places_and_scores(tmp_path, capsys):
    path = tmp_path / "article.json"
    path.write_text(
        json.dumps(
            {
                "title": "EU adopts new sanctions package against Russia",
                "text": "Ambassadors agreed on Wednesday to impose sanctions on 40 more tankers.\nMore follows.",
                "language": "en",
            }
        ),
        encoding="utf-8",
    )
    assert explain_cli.main(["--explain", str(path), "--topic", "sanctions"]) == 0
    out = capsys.readouterr().out
    assert "sanctions: score" in out and "-> TAG" in out
    assert "title[" in out and "text[" in out and "lead" in out
    assert "from en:" in out and "weight" in out


@pytest.mark.slow
def test_explain_reads_plain_text_and_reports_errors(tmp_path, capsys):
    path = tmp_path / "a.txt"
    path.write_text("Nothing about any topic here at all, only the weather.", encoding="utf-8")
    assert explain_cli.main(["--explain", str(path), "--language", "en"]) == 0
    assert "no topic has evidence" in capsys.readouterr().out
    assert explain_cli.main(["--explain", str(tmp_path / "missing.txt")]) == 2
    assert explain_cli.main(["--explain", str(path), "--topic", "nope"]) == 2
    assert "unknown topic" in capsys.readouterr().err
