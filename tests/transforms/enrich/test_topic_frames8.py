"""Round 8 families: weapons handed to a recipient named first, with the gap a count and a
"more" take ("Kyiv gets six more Gepard"), radars and named systems, sums "in weapons"; a
truce extended. And the senses that are no topic: a court freezing a private person's
accounts in a divorce, an "earthquake" in a football club, a budget "truce" between a
government and its own MPs, a ceasefire named only as the time after which a guarantee holds,
elections named only as the end of such a truce."""

from __future__ import annotations

import pytest

from tests.transforms.enrich.test_topic_frames import LEADS, _tagged


AID = {
    "en": "Norway sent Ukraine another batch of eighteen Archer howitzers this week, the ministry said.",
    "fr": "Paris va livrer dans les prochaines semaines douze nouveaux radars de surveillance à l'Ukraine.",
    "de": "Kiew bekommt bis zum Herbst sechs weitere Flugabwehrpanzer aus Beständen der Bundeswehr.",
    "pl": "Szwecja przekaże Ukrainie jeszcze w tym roku dwa radary obrony powietrznej.",
    "uk": "Швеція передасть Києву ще 18 САУ Archer до кінця року, повідомив міністр.",
    "ru": "Норвегия передаст Украине ещё шесть радаров для противовоздушной обороны.",
    "nl": "Noorwegen levert Oekraïne dit voorjaar nog eens twaalf radarsystemen.",
}


@pytest.mark.parametrize("lang", sorted(AID))
def test_weapons_handed_to_a_recipient_in_the_body_tag_military_aid(taxonomy, lang):
    text = LEADS[lang] + "\n" + AID[lang] + "\n" + LEADS[lang]
    assert "military_aid" in _tagged(taxonomy, text, lang)


SUMS = {
    "es": "La UE aportará a Ucrania unos 5.000 millones de euros al año en munición, según el acuerdo.",
    "it": "I Paesi nordici hanno stanziato per l'Ucraina due miliardi di euro in droni e proiettili.",
    "en": "Allies pledged Ukraine forty billion euros a year in weapons and ammunition on Wednesday.",
}


@pytest.mark.parametrize("lang", sorted(SUMS))
def test_a_sum_in_weapons_for_a_recipient_in_the_lead_tags_military_aid(taxonomy, lang):
    assert "military_aid" in _tagged(taxonomy, SUMS[lang] + "\n" + LEADS[lang], lang)


def test_a_truce_extended_in_the_body_tags_ceasefire(taxonomy):
    text = LEADS["nl"] + "\nIsraël en Libanon hebben het bestand met drie maanden verlengd.\n" + LEADS["nl"]
    assert "ceasefire" in _tagged(taxonomy, text, "nl")


NOT_A_TOPIC = [
    ("ru", "frozen_assets", "Суд в Москве заморозил счета бизнесмена по иску бывшей жены",
     "Суд Москвы заморозил счета и квартиру бизнесмена по иску бывшей жены в споре о разделе имущества."),
    ("es", "natural_disaster", "Terremoto en el club: dimite media junta directiva",
     "Un auténtico terremoto sacudió el club: la junta directiva dimitió tras la derrota y el vestuario pide un nuevo entrenador."),
    ("fr", "ceasefire", "Budget : trêve fragile entre le gouvernement et les députés de la majorité",
     "Le gouvernement et les frondeurs de la majorité ont conclu une trêve jusqu'au vote solennel du budget."),
    ("de", "ceasefire", "Europäer sagen der Ukraine Beistand zu",
     "Die Staaten sagen zu, die Ukraine nach einem Ende der Kämpfe gegen einen neuen russischen Angriff abzusichern."),
    ("pl", "elections", "Liderzy partii koalicji ogłosili rozejm do wyborów",
     'Liderzy koalicji ogłosili "zawieszenie broni" - do wyborów parlamentarnych nie będą krytykować swoich ministrów.'),
]


@pytest.mark.parametrize(("lang", "topic", "title", "lead"), NOT_A_TOPIC, ids=[f"{c[0]}-{c[1]}" for c in NOT_A_TOPIC])
def test_a_homonym_or_a_truce_as_a_time_is_no_tag(taxonomy, lang, topic, title, lead):
    assert topic not in _tagged(taxonomy, lead + "\n" + LEADS[lang], lang, title=title)
