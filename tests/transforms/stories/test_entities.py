"""Places and organisations named in an article (transforms/stories/entities.py)."""

from transforms.stories.entities import entity_fields, find_mentions

KHARKIV = 706483
KYIV = 703448


def article(title, text, lang):
    return {"id": f"x-{lang}", "title": title, "text": text, "language": lang}


def places(a):
    return {p["geonameid"]: p for p in entity_fields(a)["places"]}


def test_places_carry_their_geonames_id_name_country_and_spans_into_the_record():
    a = article("Drones hit Kharkiv overnight", "Russian drones struck Kharkiv on Monday. The mayor of Kharkiv said "
                "two people were hurt. Kyiv condemned the attack.", "en")
    found = entity_fields(a)
    first = found["places"][0]
    assert (first["geonameid"], first["name"], first["country"], first["kind"]) == (KHARKIV, "Kharkiv", "UA", "city")
    assert first["mentions"] == 3
    assert KYIV in places(a)
    for entity in found["places"] + found["organisations"]:
        for span in entity["evidence"]:
            assert a[span["field"]][span["start"]:span["end"]] == span["text"]
    assert [s["field"] for s in first["evidence"]] == ["title", "text", "text"]


def test_one_city_in_any_language_script_and_inflection_is_one_place():
    texts = [
        article("Атака на Харків", "Уночі російські дрони атакували Харків.", "uk"),
        article("Удар по Харькову", "В Харькове ночью прогремели взрывы.", "ru"),
        article("Atak na Charków", "Rosyjskie drony zaatakowały w nocy. W Charkowie zginęły dwie osoby.", "pl"),
        article("Angriff auf Charkiw", "Russische Drohnen haben Charkiw in der Nacht angegriffen.", "de"),
        article("Attacco su Kharkiv", "Droni russi hanno colpito Kharkiv nella notte.", "it"),
    ]
    for a in texts:
        assert KHARKIV in places(a), a["language"]


def test_countries_are_found_by_their_names_in_the_nine_languages():
    for text, lang in (("Talks with Germany went on.", "en"), ("Les relations avec l'Allemagne.", "fr"),
                       ("Die Lage in Deutschland.", "de"), ("La visita a Alemania.", "es"), ("Gli accordi con la Germania.", "it"),
                       ("Niemcy i Polska rozmawiały.", "pl"), ("Переговори з Німеччиною тривали.", "uk"),
                       ("Переговоры с Германией.", "ru"), ("Gesprekken met Duitsland.", "nl")):
        found = entity_fields(article("", text, lang))["places"]
        assert [(p["country"], p["kind"]) for p in found][:1] == [("DE", "country")], (lang, found)


def test_common_words_and_first_names_are_not_places():
    a = article("", "The Police said Nice weather helped. Kaja Kallas met Borisov. Une réunion a eu lieu.", "en")
    assert places(a) == {}


def test_organisations_by_acronym_with_case_and_by_inflected_names():
    a = article("NATO-Gipfel in Den Haag", "Die Nato und die Europäische Union beraten. Un jour, la ONU.", "de")
    ids = [o["id"] for o in entity_fields(a)["organisations"]]
    assert ids[:2] == ["nato", "eu"] and "un" in ids
    assert [o["id"] for o in entity_fields(article("", "Szczyt Unii Europejskiej w Brukseli.", "pl"))["organisations"]] == ["eu"]
    assert entity_fields(article("", "il y a un accord et une fin", "fr"))["organisations"] == []


def test_mentions_come_in_order_title_first_and_stop_at_max_chars():
    a = article("Kyiv talks", "Ministers met in Berlin. Later, in Warsaw, they signed.", "en")
    mentions = find_mentions(a)
    assert [m.field for m in mentions] == ["title", "text", "text"]
    assert [a[m.field][m.start:m.end] for m in mentions] == ["Kyiv", "Berlin", "Warsaw"]
    assert [a[m.field][m.start:m.end] for m in find_mentions(a, max_chars=20)] == ["Kyiv"]
