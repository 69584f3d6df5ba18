"""The data of story entities, read and checked (transforms/stories/gazetteer.py)."""

import gzip

import pytest

from transforms.stories.gazetteer import (
    ENTITIES_PATH,
    PLACES_PATH,
    Gazetteer,
    GazetteerError,
    exact_key,
    gazetteer,
    name_keys,
    parse_entities,
    read_gazetteer,
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


def write(tmp_path, rows):
    """Rows ``(geonameid, country, population, kind, area, name, names)`` as a places file,
    by the writer of tools/build_places.py."""
    from tools.build_places import write as write_places

    path = str(tmp_path / "places.tsv.gz")
    write_places(rows, path)
    return path


def damaged(path, column, cells):
    """The places file at ``path`` with the cells of one column replaced."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    at = next(n for n, line in enumerate(lines) if line.split("\t")[0] == column)
    lines[at] = "\t".join([column, *cells])
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return path, at + 1


KHARKIV = (706483, "UA", 1421125, "city", "europe", "Kharkiv", ["Charków", "Kharkiv", "Харків"])
KYIV = (703448, "UA", 2797553, "city", "europe", "Kyiv", ["Kiev", "Kyiv", "Київ"])


def test_the_places_file_holds_the_index_of_the_keys_of_the_names(tmp_path):
    table = read_places(write(tmp_path, [KHARKIV, KYIV]))
    assert [p.geonameid for p in table.places] == [706483, 703448] and table.names == ["Charków|Kharkiv|Харків", "Kiev|Kyiv|Київ"]
    assert table.keys() == [name_keys(KHARKIV[6]), name_keys(KYIV[6])]
    gaz = Gazetteer(table.places, [], table.exact, table.stems, table.exact_keys, {}, frozenset(), table.longest)
    assert gaz.named("charkow") == gaz.named("kharkiv") == (0,) and gaz.named("kyiv") == (1,) and gaz.named("lviv") is None
    assert gaz.inflections(stem_key("Charkowie")) == ((0, "charkow"),)
    assert read_places(write(tmp_path, [KHARKIV, KYIV]), check=True).exact == table.exact


def test_a_bad_places_file_names_its_line_and_column(tmp_path):
    path = write(tmp_path, [KHARKIV, KYIV])
    keys = read_places(path).exact_keys
    for column, cells, message in (
        ("geonameid", ["x", "1"], "numbers"), ("geonameid", ["1", "1"], "twice"),
        ("country", ["ukr", "UA"], "alpha-2"), ("population", ["many", "1"], "whole numbers"),
        ("kind", ["town", "city"], "town"), ("area", ["mars", "europe"], "one of"),
        ("name", ["Kharkiv"], "1 cells for 2 places"), ("names", ["", "Kyiv"], "at least one name"),
        ("exact_places", ["0", "1", "x"], "numbers separated"), ("exact", ["charkow", "charkow", "kharkiv", "kiev", "kyiv"], "distinct"),
        ("version", ["1"], "must be 2"),
    ):
        bad, line = damaged(write(tmp_path, [KHARKIV, KYIV]), column, cells)
        with pytest.raises(GazetteerError, match=f"line {line} \\({column}\\): .*{message}"):
            read_places(bad)
    bad, _ = damaged(write(tmp_path, [KHARKIV, KYIV]), "exact", ["charkiv", *keys[1:]])
    with pytest.raises(GazetteerError, match="names\\): .*spelling rules"):
        read_places(bad)  # the index no longer holds a key the names make
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("# header\nversion\t2\n")
    with pytest.raises(GazetteerError, match="expected the lines version, geonameid"):
        read_places(path)
    with open(path, "wb") as fh:
        fh.write(b"not gzip")
    with pytest.raises(GazetteerError, match="not a gzipped"):
        read_places(path)
    with pytest.raises(GazetteerError, match="not found"):
        read_places(str(tmp_path / "missing.tsv.gz"))


def test_the_shipped_gazetteer_loads_in_a_fraction_of_a_second():
    """The index is read with a few splits, not built name by name (~0.1 s of CPU on a
    quiet machine; the bound leaves room for a loaded one)."""
    import time

    started = time.process_time()
    read_gazetteer(PLACES_PATH, ENTITIES_PATH)
    assert time.process_time() - started < 1.0


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
    """The file carries the index of the keys so that workers need not work them out
    (seconds); the load checks a sample, this every place."""
    table = read_places(PLACES_PATH, check=False)
    stale = [place.name for place, names, have in zip(table.places, table.names, table.keys())
             if name_keys(names.split("|")) != have]
    assert not stale, f"{len(stale)} places keyed by other rules, e.g. {stale[:5]}: python -m tools.build_places --rekey"
