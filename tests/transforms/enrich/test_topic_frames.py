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
from transforms.enrich.topics import Taxonomy, topics_and_mentions


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


# round 7: families covered in all nine languages (one sentence each, in the body after an unrelated lead)
ROUND7 = {
    "troop_deployment": {
        "en": "The government will send two more frigates to the Red Sea next month.",
        "fr": "Le gouvernement a décidé d'envoyer en mer Noire une flottille de chasseurs de mines.",
        "de": "Die Regierung will eine weitere Fregatte ins Rote Meer schicken.",
        "es": "El gobierno enviará una fragata al mar Rojo el mes próximo.",
        "it": "Il governo invia una seconda fregata nel Mar Rosso.",
        "pl": "Rząd wyśle okręt ORP Kormoran na Bałtyk.",
        "uk": "Уряд Британії направить два фрегати до Чорного моря.",
        "ru": "Швеция направит в Латвию дополнительную механизированную роту, сообщило правительство.",
        "nl": "Het kabinet gaat een fregat naar de Rode Zee sturen.",
    },
    "military_aid": {
        "en": "The State Department approved the sale of HIMARS launchers to Taiwan.",
        "fr": "Washington a approuvé la vente d'armes à Taïwan pour deux milliards de dollars.",
        "de": "Die USA genehmigen einen Waffenverkauf an Taiwan.",
        "es": "Washington aprueba la venta de armas a Taiwán por valor de 2.000 millones.",
        "it": "Il governo americano ha approvato la vendita a Taiwan di un pacchetto di armamenti.",
        "pl": "USA zgodziły się na sprzedaż broni Tajwanowi za dwa miliardy dolarów.",
        "uk": "США схвалили продаж зброї Тайваню на два мільярди доларів.",
        "ru": "США одобрили продажу оружия Тайваню на два миллиарда долларов.",
        "nl": "Het ministerie stemde in met de verkoop van wapens ter waarde van 6,4 miljard dollar aan Taiwan.",
    },
    "security_guarantees": {
        "en": "The United States pledged military assistance to Ukraine in the event of a new attack.",
        "fr": "La France promet son assistance à la Moldavie en cas d'agression.",
        "de": "Washington sagt Kiew Beistand für den Fall eines neuen Überfalls zu.",
        "es": "España garantiza a Ucrania ayuda militar en caso de un nuevo ataque.",
        "it": "Roma offre a Kiev assistenza militare in caso di nuova aggressione.",
        "pl": "Rząd obiecał Ukrainie pomoc wojskową w razie ponownej agresji.",
        "uk": "США пообіцяли Україні допомогу в разі нового нападу.",
        "ru": "США пообещали Украине помощь в случае нового нападения.",
        "nl": "Nederland belooft Oekraïne militaire bijstand in geval van een nieuwe aanval.",
    },
    "sanctions": {
        "en": "China's commerce ministry added Lockheed Martin to its unreliable entity list.",
        "fr": "Le ministère chinois du Commerce a inscrit Lockheed Martin sur la liste des « entités non fiables ».",
        "de": "Chinas Handelsministerium setzte Lockheed Martin auf die Liste unzuverlässiger Unternehmen.",
        "es": "El Ministerio de Comercio chino incluyó a Lockheed Martin en la lista de entidades no fiables.",
        "it": "Il ministero del Commercio cinese ha inserito Lockheed Martin nella lista delle «entità inaffidabili».",
        "pl": "Chińskie ministerstwo handlu wpisało Lockheed Martin na listę niewiarygodnych podmiotów.",
        "uk": "Міністерство комерції Китаю внесло Lockheed Martin до списку ненадійних компаній.",
        "ru": "Министерство коммерции Китая внесло Lockheed Martin в список ненадёжных компаний.",
        "nl": "Het Chinese ministerie plaatste Lockheed Martin op de lijst van „onbetrouwbare entiteiten”.",
    },
}


@pytest.mark.parametrize(("topic", "lang"), [(t, lang) for t, by in sorted(ROUND7.items()) for lang in sorted(by)])
def test_round7_families_tag_once_in_the_body_in_every_language(taxonomy, topic, lang):
    # (no lead after it: a school or a league near a sanction vetoes it, as it should)
    text = LEADS[lang] + "\n" + ROUND7[topic][lang]
    assert topic in _tagged(taxonomy, text, lang)
    assert topic not in _tagged(taxonomy, LEADS[lang] + "\n" + LEADS[lang], lang)


@pytest.mark.parametrize(
    ("lang", "title", "text", "topic"),
    [
        ("nl", "Kabinet trekt 60 miljoen uit voor steunpakket pluimveehouders", "Het kabinet trekt 60 miljoen euro uit voor een steunpakket voor pluimveehouders na de vogelgriep, meldt de minister.", "military_aid"),
        ("de", "Regierung beschließt Hilfspaket für Landwirte", "Die Regierung hat ein Hilfspaket für Landwirte nach der Dürre beschlossen, sagte der Minister.", "military_aid"),
        ("en", "Where to find help in an air raid", "The government published advice on how to get help in case of an air attack on the city.", "security_guarantees"),
        ("en", "Kyiv residents warned overnight", "Kyiv residents received text alerts about missiles overnight, the city government said.", "military_aid"),
    ],
)
def test_round7_packages_for_farmers_and_air_raid_help_are_not_core_topics(taxonomy, lang, title, text, topic):
    assert topic not in _tagged(taxonomy, text, lang, title=title)


def test_the_home_capital_is_no_context_anchor_in_polish(taxonomy):
    # a truce inside a coalition in Warsaw: Polish news always names Warsaw and Poland
    text = "Rozejm w koalicji: w Warszawie partie odkładają spór o składkę zdrowotną do wyborów."
    assert "ceasefire" not in _tagged(taxonomy, text, "pl", title="Rozejm w koalicji")
    assert taxonomy.context_regex("ceasefire", "pl").search("Wilno") is not None
    assert taxonomy.context_regex("ceasefire", "en").search("troops to Lithuania") is not None


def test_topicceiling_rescoring_is_the_engines_score():
    from eval.topicceiling import Scored, micro, score, tags

    s = {"title": 1.2, "lead": 1.0, "body": 0.5, "background": 0.4, "repeat": 0.5, "max_repeats": 3,
         "no_context": 0.1, "core": 0.5, "with_core": 1.0, "low": 1.0}  # fmt: skip
    # one naming phrase in the lead: 1 - e^-1; twice in two body sentences: 0.5 * 1.5
    assert score([(1.0, "lead", False, "ceasefire", -2)], True, s) == 0.632
    assert score([(1.0, "body", False, "truce", 3), (1.0, "body", False, "truce", 40)], True, s) == 0.528
    # in one body sentence only the best hit counts; no anchor: a tenth
    assert score([(1.0, "body", False, "a", 3), (1.4, "body", False, "b", 3)], True, s) == 0.503
    assert score([(1.0, "title", False, "a", -2)], False, s) == 0.113
    art = Scored("x", frozenset({"ceasefire", "peace_talks"}), {
        "ceasefire": ([(1.0, "lead", False, "ceasefire", -2)], True, 0.5),
        "peace_talks": ([(1.0, "body", False, "talks", 9)], True, 0.5),
    }, {})  # fmt: skip
    assert tags(art, s) == {"ceasefire"}
    assert tags(art, {**s, "with_core": 0.39}) == {"ceasefire", "peace_talks"}
    assert micro([art], s)["recall"] == 0.5


ROUND7_LATENT = [  # families the dev evidence quotes showed without any cue (eval.topicceiling --quotes)
    ("troop_deployment", "en", "The German brigade in Lithuania is at full strength, the defence ministry said."),
    ("troop_deployment", "pl", "Niemiecka brygada na Litwie w komplecie, poinformował resort."),
    ("troop_deployment", "ru", "Британия удвоит численность военных на базе в Тапа, сообщило министерство."),
    ("troop_deployment", "fr", "Au Liban, l'armée se déploie au sud du Litani, a annoncé le gouvernement."),
    ("troop_deployment", "fr", "Le gouvernement a présenté un plan prévoyant le stationnement de 10 000 à 15 000 soldats européens."),
    ("ceasefire", "it", "Russia e Ucraina si sono impegnate a non colpire più navi mercantili nel Mar Nero."),
    ("ceasefire", "de", "Beide Seiten haben sich verpflichtet, keine Häfen mehr anzugreifen, teilte die Regierung mit."),
    ("ceasefire", "nl", "Rusland en Oekraïne beloofden elkaars havens niet aan te vallen, zegt de regering."),
    ("sanctions", "de", "Die Europäische Union hat ihr nächstes Strafpaket gegen Russland beschlossen."),
]


@pytest.mark.parametrize(("topic", "lang", "sentence"), ROUND7_LATENT)
def test_round7_latent_families_tag_in_the_lead(taxonomy, topic, lang, sentence):
    assert topic in _tagged(taxonomy, sentence + "\n" + LEADS[lang], lang)


def test_soldiers_in_poland_are_no_deployment_and_the_unit_frame_needs_a_unit(taxonomy):
    assert "troop_deployment" not in _tagged(taxonomy, "Soldiers in Poland have been told to prepare for winter, the ministry said.", "en")


def test_a_number_in_digit_groups_is_one_word_in_a_gap():
    regex = re.compile(phrase_regex("stationnement de ...3 soldats", "fr", {}, "test"), re.IGNORECASE)
    assert regex.search("le stationnement de 10 000 à 15 000 soldats")
    assert regex.search("le stationnement de 10\u202f000 à 15\u00a0000 soldats")
    assert not regex.search("le stationnement de dix mille à quinze mille soldats")
