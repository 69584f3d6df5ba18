"""Argument frames (a movement verb and a force noun in one clause; freezing or seizing
state assets; go-betweens who meet; a pledge for the case of an attack) report a
development: one in the body of an article tags. What keeps them honest: a frame stays
within its sentence, a background clause or a negation vetoes it, a hypothetical peace
deal is no peace talk, and a word of another language is not read as English."""

from __future__ import annotations

import json
import re

import pytest

from eval import topicerrors
from tests.support import REPO
from transforms.enrich.topicforms import phrase_regex
from transforms.enrich.topics import Taxonomy, load_taxonomy, topics_and_mentions


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(str(REPO / "configs" / "topics.yaml"))


def _tagged(taxonomy: Taxonomy, text: str, lang: str, title: str = "") -> set[str]:
    return {t["name"] for t in topics_and_mentions(text, lang, taxonomy, title=title)[0]}


# a first paragraph about something else, long enough to be the whole lead
LEADS = {
    "en": "The regional council met on Tuesday to discuss the new school year, bus timetables and the cost of heating in public buildings.",
    "fr": "Le conseil régional s'est réuni mardi pour parler de la rentrée scolaire, des horaires de bus et du chauffage des bâtiments publics.",
    "de": "Der Landtag hat am Dienstag über das neue Schuljahr, die Busfahrpläne und die Heizkosten öffentlicher Gebäude beraten und abgestimmt.",
    "es": "El consejo regional se reunió el martes para hablar del nuevo curso escolar, los horarios de autobús y la calefacción de edificios públicos.",
    "it": "Il consiglio regionale si è riunito martedì per discutere del nuovo anno scolastico, degli orari degli autobus e del riscaldamento pubblico.",
    "pl": "Sejmik województwa zebrał się we wtorek, aby omówić nowy rok szkolny, rozkłady autobusów i koszty ogrzewania budynków publicznych w regionie.",
    "uk": "Обласна рада у вівторок обговорила новий навчальний рік, розклад автобусів і вартість опалення громадських будівель у містах області.",
    "ru": "Областной совет во вторник обсудил новый учебный год, расписание автобусов и стоимость отопления общественных зданий в городах области.",
    "nl": "De provinciale raad vergaderde dinsdag over het nieuwe schooljaar, de dienstregeling van de bussen en de stookkosten van openbare gebouwen.",
}

DEPLOYMENTS = {
    "en": "The Pentagon will send another 1,200 troops to Poland next month, officials said.",
    "fr": "La France va envoyer quelque 300 soldats supplémentaires en Roumanie le mois prochain.",
    "de": "Deutschland schickt im Frühjahr weitere 500 Soldaten nach Litauen, teilte das Ministerium mit.",
    "es": "España desplegará el mes próximo otros 600 efectivos en Letonia, informó el ministerio.",
    "it": "L'Italia schiererà il mese prossimo altri 250 alpini in Lettonia, ha detto il ministro.",
    "pl": "Polska wyśle w przyszłym miesiącu kolejnych 200 żołnierzy na Łotwę, poinformował resort.",
    "uk": "Британія розгорне навчальний контингент на заході України вже у вересні, повідомив міністр.",
    "ru": "Франция перебросит в Румынию ещё один батальон в следующем месяце, сообщило министерство.",
    "nl": "Nederland stuurt komend half jaar ongeveer 250 militairen naar Litouwen, meldt Defensie.",
}


@pytest.mark.parametrize("lang", sorted(DEPLOYMENTS))
def test_a_deployment_frame_in_the_body_tags_in_every_language(taxonomy, lang):
    text = LEADS[lang] + "\n" + DEPLOYMENTS[lang] + "\n" + LEADS[lang]
    assert "troop_deployment" in _tagged(taxonomy, text, lang)


def test_a_frame_stays_within_its_sentence():
    regex = re.compile(phrase_regex("send ...5 troops", "en", {}, "test"), re.IGNORECASE)
    assert regex.search("they will send U.S. troops")
    assert regex.search("they will send another 1,200 troops")
    assert not regex.search("they did not send anything. Troops stayed home")
    assert not regex.search("they send money in 2017. Troops")


def test_a_background_clause_in_the_body_discounts_a_frame(taxonomy):
    lead = LEADS["en"] + "\n"
    news = lead + "The army will deploy 300 soldiers to the border next week."
    background = lead + "Since the army deployed 300 soldiers to the border in 2017, the bakery has had more customers."
    assert "troop_deployment" in _tagged(taxonomy, news, "en")
    assert "troop_deployment" not in _tagged(taxonomy, background, "en")


def test_a_negated_frame_is_no_deployment(taxonomy):
    text = LEADS["en"] + "\nThe treaty contains no obligation to send British troops to Ukraine, critics said."
    assert "troop_deployment" not in _tagged(taxonomy, text, "en")


def test_soldiers_sent_to_a_flood_are_no_deployment(taxonomy):
    text = LEADS["pl"] + "\nDo walki z powodzią skierowano 600 żołnierzy, którzy układają worki z piaskiem."
    assert "troop_deployment" not in _tagged(taxonomy, text, "pl")


@pytest.mark.parametrize(
    "lang, sentence",
    [
        ("en", "Canada wants to seize the reserves of the Russian central bank held in Toronto."),
        ("nl", "Canada en het Verenigd Koninkrijk willen het geld in beslag nemen, zei de minister."),
        ("uk", "Уряд вирішив конфіскувати російські державні кошти на рахунках у Нью-Йорку."),
    ],
)
def test_seizing_state_assets_in_the_body_tags(taxonomy, lang, sentence):
    text = LEADS[lang] + "\n" + sentence + "\n" + LEADS[lang]
    assert "frozen_assets" in _tagged(taxonomy, text, lang)


def test_euroclear_alone_is_no_frozen_assets_story(taxonomy):
    title = "Euroclear names a new chief executive"
    text = "Euroclear, the Brussels settlement house, named a new chief executive on Monday, the EU said."
    assert "frozen_assets" not in _tagged(taxonomy, text, "en", title=title)


def test_a_peace_deal_named_as_a_time_is_no_peace_talk(taxonomy):
    text = "France and Britain presented the plan of a force they would send to Ukraine the day after a peace deal, the ministers said."
    assert "peace_talks" not in _tagged(taxonomy, text, "en")


def test_french_envoyer_is_no_english_envoy(taxonomy):
    text = "La France propose d'envoyer des instructeurs en Moldavie, a indiqué le ministère des Armées."
    scored = topics_and_mentions(text, "fr", taxonomy)
    words = {ev["text"].lower() for group in scored for t in group for ev in t["evidence"]}
    assert "envoyer" not in words


def test_a_pledge_for_the_case_of_an_attack_is_a_guarantee_not_aid(taxonomy):
    text = (
        "Japan and South Korea signed a declaration on Monday in Busan.\n"
        + LEADS["en"]
        + "\nJapan pledged to support South Korea with logistics in case of an attack from the North, the government said."
    )
    tags = _tagged(taxonomy, text, "en")
    assert "security_guarantees" in tags and "military_aid" not in tags


def test_topicerrors_reads_the_dev_split_of_the_set_it_is_given(capsys):
    assert topicerrors.main(["--set", "topics_blind3.jsonl", "--language", "pl"]) == 0
    out = capsys.readouterr().out
    printed = set(re.findall(r"^== (\S+)", out, re.MULTILINE))
    splits = {}
    with open(REPO / "eval" / "data" / "topics_blind3.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            splits[row["id"]] = (row["split"], row["language"])
    assert all(splits[i] == ("dev", "pl") for i in printed)
    read = int(re.search(r"dev articles read from topics_blind3.jsonl: (\d+)", out).group(1))
    assert read == sum(1 for v in splits.values() if v == ("dev", "pl")) > 0


# round 6: families read from the dev halves of six sets

SANCTIONS_LIFTED = {
    "en": "Washington will lift sanctions on Belarusian potash exports, the Treasury said.",
    "fr": "Washington va lever les sanctions visant la potasse biélorusse, a annoncé le Trésor.",
    "de": "Washington hebt die Sanktionen gegen belarussisches Kali auf, teilte das Finanzministerium mit.",
    "es": "Washington levantará las sanciones contra la potasa bielorrusa, anunció el Tesoro.",
    "it": "Washington revocherà le sanzioni sulla potassa bielorussa, ha annunciato il Tesoro.",
    "pl": "Waszyngton zniesie sankcje na białoruski potas, poinformował resort finansów.",
    "uk": "Вашингтон вирішив зняти санкції з білоруського калію, повідомило міністерство фінансів.",
    "ru": "Вашингтон решил снять санкции с белорусского калия, сообщил минфин.",
    "nl": "Washington heft de sancties tegen Belarussische potas op, meldt het ministerie.",
}


@pytest.mark.parametrize("lang", sorted(SANCTIONS_LIFTED))
def test_sanctions_lifted_in_the_body_tag_in_every_language(taxonomy, lang):
    text = LEADS[lang] + "\n" + SANCTIONS_LIFTED[lang] + "\n" + LEADS[lang]
    assert "sanctions" in _tagged(taxonomy, text, lang)


@pytest.mark.parametrize(
    "lang, sentence, words",
    [
        ("es", "Los aliados enviarán a Ucrania una fuerza multinacional de unos 25.000 efectivos.", "fuerza multinacional"),
        ("it", "Gli alleati manderanno in Ucraina una forza multinazionale di 25.000 uomini.", "forza multinazionale"),
        ("fr", "Les alliés enverront en Ukraine une force multinationale de 25 000 hommes.", "force multinationale"),
    ],
)
def test_a_multinational_force_is_matched_in_the_romance_languages(taxonomy, lang, sentence, words):
    # 'fuerza de paz|...|multinacional' read as 'fuerza de multinacional' and never matched
    topics, _ = topics_and_mentions(sentence + "\n" + LEADS[lang], lang, taxonomy)
    found = {ev["text"].lower() for t in topics if t["name"] == "troop_deployment" for ev in t["evidence"]}
    assert words in found


def test_the_parties_pulling_back_from_a_line_is_no_deployment(taxonomy):
    es = LEADS["es"] + "\nLos mediadores propusieron que ambas partes replieguen sus tropas a varios kilómetros del frente."
    en = LEADS["en"] + "\nBoth sides would pull back troops from the line of contact to create a demilitarised zone, the mediators said."
    moved = LEADS["en"] + "\nThe army will pull back 3,000 troops from the border region next month, the ministry said."
    assert "troop_deployment" not in _tagged(taxonomy, es, "es")  # 'partieron' no longer stems to 'part' (partes)
    assert "troop_deployment" not in _tagged(taxonomy, en, "en")
    assert "troop_deployment" in _tagged(taxonomy, moved, "en")


def test_ramstein_the_town_is_no_military_aid(taxonomy):
    title = "German-American festival in Ramstein draws 60,000 visitors"
    text = "The German-American folk festival in Ramstein ended on Sunday with fireworks over the air base, the US Army said."
    assert "military_aid" not in _tagged(taxonomy, text, "en", title=title)


def test_support_promised_if_a_state_is_attacked_is_a_guarantee_not_aid(taxonomy):
    text = (
        "Die Regierungschefs haben Finnland volle militärische Unterstützung zugesagt, sollte Russland an der Ostgrenze "
        "eskalieren.\n" + LEADS["de"]
    )
    assert "military_aid" not in _tagged(taxonomy, text, "de")


def test_topicdev_summary_counts_topics_and_traps():
    from eval.topicdev import summary

    found = {
        "a": ({"set": "s", "topics": ["sanctions"], "kind": "topical"}, {"sanctions", "energy"}),
        "b": ({"set": "s", "topics": [], "kind": "homonym_trap"}, {"ceasefire"}),
        "c": ({"set": "s", "topics": ["ceasefire"], "kind": "background_trap", "trap_for": ["armed_attack"]}, {"armed_attack"}),
        "d": ({"set": "t", "topics": ["ceasefire"], "kind": "topical"}, set()),
    }
    s = summary(found, "s")
    assert (s["micro"]["tp"], s["micro"]["fp"], s["micro"]["fn"]) == (1, 3, 1)
    assert s["traps"] == (1, 1, 1, 1)
    assert s["core"]["ceasefire"]["fp"] == 1 and s["core"]["ceasefire"]["fn"] == 1
    assert summary(found, None)["core"]["ceasefire"]["fn"] == 2


def test_thresholds_move_only_when_dev_shows_a_gain():
    from eval.topicthresholds import choose

    # one positive scored 0.63, one negative 0.2: every grid value from 0.3 to 0.625 gives F1 1
    scored = [({"elections"}, {"elections": 0.63}), (set(), {"elections": 0.2})] * 4
    assert choose(scored, ["elections"], 0.5, 1, {"elections": 0.65}) == {"elections": 0.625}
    assert choose(scored, ["elections"], 0.5, 1) == {"elections": 0.5}
