"""The data of story entities, read and checked (transforms/stories/gazetteer.py)."""

import gzip

import pytest

from transforms.stories.gazetteer import (
    PLACES_PATH,
    GazetteerError,
    exact_key,
    gazetteer,
    name_keys,
    parse_entities,
    read_places,
    stem_key,
)


def test_the_shipped_gazetteer_loads_with_countries_cities_and_organisations():
    gaz = gazetteer()
    kinds = {p.kind for p in gaz.places}
    assert kinds == {"country", "city"} and len(gaz.places) > 10_000
    assert {o.id for o in gaz.organisations} >= {"eu", "nato", "un", "ecb"}
    assert "police" in gaz.ambiguous and "une" in gaz.ambiguous  # listed, and a stopword


def test_keys_fold_case_accents_scripts_and_inflected_endings():
    assert exact_key("Charków") == exact_key("charkow") == "charkow"
    assert exact_key("Rio de Janeiro") == "rio de janeiro"
    assert exact_key("Харків", "uk") == "kharkiv"
    assert stem_key("Charkowie") == stem_key("Charków")
    assert stem_key("Rom") == ""  # too short to match by its stem


def write(tmp_path, lines):
    path = tmp_path / "places.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("# header\n" + "".join(line + "\n" for line in lines))
    return str(path)


def test_a_bad_places_row_names_its_line(tmp_path):
    good = "706483\tUA\t1421125\tcity\teurope\tKharkiv\tKharkiv|Харків\tkharkiv>harkiv"
    places, names, keys = read_places(write(tmp_path, [good]))
    assert places[0].geonameid == 706483 and names == [["Kharkiv", "Харків"]] and keys == [[("kharkiv", "harkiv")]]
    assert name_keys(names[0]) == keys[0]
    for bad, message in (("x\tUA\t1\tcity\teurope\tA\tA\ta>", "geonameid"),
                         ("1\tukr\t1\tcity\teurope\tA\tA\ta>", "country"),
                         ("1\tUA\tmany\tcity\teurope\tA\tA\ta>", "population"),
                         ("1\tUA\t1\ttown\teurope\tA\tA\ta>", "kind"), ("1\tUA\t1\tcity\tmars\tA\tA\ta>", "area"),
                         ("1\tUA\t1\tcity\tA", "8 tab-separated"), ("1\tUA\t1\tcity\teurope\tA\t\t", "name"),
                         ("1\tUA\t1\tcity\teurope\tA\tA\ta", "exact>stem"),
                         ("1\tUA\t1\tcity\teurope\tKyiv\tKyiv\tkiev>", "spelling rules")):
        with pytest.raises(GazetteerError, match=f"line 2: .*{message}"):
            read_places(write(tmp_path, [bad]))
    with pytest.raises(GazetteerError, match="not found"):
        read_places(str(tmp_path / "missing.tsv.gz"))


def test_a_bad_entities_document_names_the_key():
    ok = {"version": 1, "organisations": {"nato": {"name": "NATO", "names": ["NATO"]}}, "ambiguous_places": ["Nice"]}
    organisations, names, ambiguous = parse_entities(ok)
    assert organisations[0].id == "nato" and names == {"nato": ["NATO"]} and ambiguous == ["Nice"]
    for bad, message in (({**ok, "extra": 1}, "top level"), ({**ok, "version": 2}, "version"),
                         ({**ok, "organisations": {"Bad Id": {"name": "x", "names": ["x"]}}}, "organisations.Bad Id"),
                         ({**ok, "organisations": {"x": {"name": "x", "names": []}}}, "organisations.x.*names"),
                         ({**ok, "ambiguous_places": "Nice"}, "ambiguous_places")):
        with pytest.raises(GazetteerError, match=message):
            parse_entities(bad)


def test_every_name_key_of_the_shipped_file_is_what_the_spelling_rules_make_of_the_name():
    """The file carries the keys so that workers need not work them out (seconds); the
    load checks a sample, this every row."""
    places, names, keys = read_places(PLACES_PATH, check=False)
    stale = [place.name for place, listed, have in zip(places, names, keys) if name_keys(listed) != have]
    assert not stale, f"{len(stale)} places keyed by other rules, e.g. {stale[:5]}: python -m tools.build_places --rekey"
