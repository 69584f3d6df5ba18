"""Places and organisations named in an article, with evidence spans.

A place is a run of capitalised words (joined by spaces, hyphens or a connector
such as ``de``, ``am``, ``nad``) whose longest part is a name of the gazetteer
(:mod:`transforms.stories.gazetteer`): the exact spelling in any language and
script, or an inflected form of one (``w Charkowie``, ``у Харкові``) when the
word is not the first of a sentence. A name of several places is the country when
one is a country, else the city in a country the article names, else the largest.
Names listed as ambiguous (``Police``, ``Nice``...) are never places.

An organisation is one of the names of ``configs/entities.yaml``: names in
capitals exactly (``NATO``, ``ЄС``), other names case-blind and with inflected
word endings (``Unii Europejskiej``).

Both become fields of the article record (``places``, ``organisations``, every
span ``record[field][start:end] == text``) and story features (``p:<geonameid>``,
``k:<country>``, ``o:<id>``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping, NamedTuple

from transforms.stories.gazetteer import Gazetteer, Place, exact_key, gazetteer, stem_key
from transforms.stories.spelling import fold_token

MAX_EVIDENCE = 3  # spans kept per entity
SMALL_TOWN = 50_000  # a town smaller than this is a place only where the article names its country
FAR_CITY = 1_000_000  # a city outside Europe and its neighbours smaller than this: likewise
_UPPER = "".join(chr(c) for c in range(0x41, 0x530) if chr(c).isupper() and chr(c).isalpha())
# a capitalised word (its first letter not preceded by another letter; the check comes
# after that letter, so that the pattern starts with a plain class the regex engine skips to in C)
_WORD_TAIL = "[^\\W\\d_]*(?:['’ʼ][^\\W\\d_]+)*\\+?"
_WORD_CAP = "[" + re.escape(_UPPER) + "]" + _WORD_TAIL
_FIRST_CAP = "[" + re.escape(_UPPER) + "](?<![^\\W\\d_].)" + _WORD_TAIL
_CAPITALISED = re.compile(_FIRST_CAP)
_CONNECTORS = ("de del della dell di da do dos das du des am an upon on la le les sur nad na im el al en bei ob der "
               "of y sul sull")
_SPACE = "[ \\t\\u00a0]"
_CONNECTOR = "(?:" + "|".join(_CONNECTORS.split()) + ")" + _SPACE
_JOIN = f"(?:{_SPACE}?[-‐‑–]{_SPACE}?|{_SPACE}(?:{_CONNECTOR})?(?:{_CONNECTOR})?)"
# a run of capitalised words joined by a space, a hyphen or one or two connectors: the words of one name
_RUN = re.compile(_FIRST_CAP + "(?:" + _JOIN + _WORD_CAP + ")*")
_PLACE_WORDS = frozenset(
    "oblast oblasti region province provinz district raion city port airport county obwod obwodu".split()
)
_HEAD = re.compile(r"(?:^|[.!?:;\n])[ \t\u00a0\"'“”«»(–—-]*$")


class Mention(NamedTuple):
    """One name found: the entity (``p:<geonameid>`` or ``o:<id>``), where, and the span."""

    entity: str
    field: str  # "title" or "text"
    start: int
    end: int


class _RunPlace(NamedTuple):
    start: int  # in the run
    end: int
    places: tuple[int, ...]  # gazetteer indexes
    inflected_head: bool  # an inflected form that starts the run: not a place at a sentence start
    first_name: bool  # followed by another capitalised word (no place word): a person's first name in a text


_RUNS: dict[str | None, dict[str, tuple]] = {}  # language -> run -> _run_places (bounded below)
_RUNS_MAX = 200_000
_NOTHING: tuple = ((), ())  # the result of most runs, returned as this one object


def _run_places(run: str, language: str | None) -> tuple[tuple[_RunPlace, ...], tuple[int, ...]]:
    """The place names of one run of capitalised words (longest first), and where in it an
    organisation name may start (the words that begin like one)."""
    gaz = gazetteer()
    prefixes = _organisation_patterns()[2]
    words = [m.span() for m in _CAPITALISED.finditer(run)]
    found = []
    i = 0
    while i < len(words):
        for n in range(min(gaz.longest, len(words) - i), 0, -1):
            start, end = words[i][0], words[i + n - 1][1]
            span = run[start:end]
            key = exact_key(span, language)
            if not key or key in gaz.ambiguous:
                continue
            hit = gaz.named(key)
            inflected = False
            if hit is None and len(key) >= 5:
                stem = stem_key(span, language)
                named = gaz.inflections(stem) if stem and stem not in gaz.ambiguous else None
                if named is not None:
                    hit = _inflected(key, named)
                    inflected = True
            if hit is None:
                continue
            first_name = n == 1 and i + 1 < len(words) and run[end:words[i + 1][0]] == " " and (
                fold_token(run[words[i + 1][0]:words[i + 1][1]]) not in _PLACE_WORDS
            )
            found.append(_RunPlace(start, end, hit, inflected and n == 1 and i == 0, first_name))
            i += n - 1
            break
        i += 1
    starts = tuple(w[0] for w in words if run[w[0]:w[0] + 2].lower() in prefixes)
    cache = _RUNS.setdefault(language, {})
    if len(cache) >= _RUNS_MAX:
        cache.clear()
    out = cache[run] = (tuple(found), starts) if found or starts else _NOTHING
    return out


def _sentence_head(text: str, start: int) -> bool:
    return start == 0 or _HEAD.search(text, max(0, start - 8), start) is not None


def _inflected(key: str, named: tuple[tuple[int, str], ...]) -> tuple[int, ...] | None:
    """The places whose name ``key`` can be an inflected form of: the same phonetic key,
    the same first two letters, and at most one letter shorter or four longer."""
    hit = tuple(sorted({i for i, name in named if name[:2] == key[:2] and -1 <= len(key) - len(name) <= 4}))
    return hit or None


def _resolve(candidates: list[tuple[tuple[int, ...], str, int, int]], gaz: Gazetteer) -> list[Mention]:
    """One place per name: a country first, else a city in a country the article names,
    else the largest; a town under ``SMALL_TOWN`` people, or a city outside Europe and its
    neighbours under ``FAR_CITY``, only in a country the article names (GeoNames lists
    many words and surnames among the names of distant towns)."""
    places = gaz.places
    countries = {places[i].country for c, *_ in candidates for i in c if places[i].kind == "country"}
    named = countries | {places[c[0]].country for c, *_ in candidates if len(c) == 1}
    out = []
    for hit, field, start, end in candidates:
        best = hit[0] if len(hit) == 1 else max(
            hit, key=lambda i: (places[i].kind == "country", places[i].country in named, places[i].population,
                                -places[i].geonameid))
        place = places[best]
        if place.kind == "city" and place.country not in countries and (
            place.population < SMALL_TOWN or place.area == "world" and place.population < FAR_CITY
        ):
            continue
        out.append(Mention(f"p:{place.geonameid}", field, start, end))
    return out


@lru_cache(maxsize=None)
def _organisation_patterns() -> tuple[dict[str, re.Pattern], dict[str, str], frozenset[str]]:
    """Per first letter (lower case), one regex of every organisation name starting with
    it (longest first); ``{letter + group number: id}`` to name the match; the first two
    letters of every name (lower case), to try the regex only where one can start."""
    gaz = gazetteer()
    by_letter: dict[str, list[tuple[int, str, str]]] = {}
    prefixes: set[str] = set()
    for org_id, names in gaz.organisation_names.items():
        for name in names:
            if name.upper() == name:  # an acronym: exact, case kept
                pattern = re.escape(name) + r"(?![^\W_])"
            else:  # case-blind; a long word of a name of several words may end otherwise (Unii Europejskiej)
                several = " " in name
                words = []
                for word in name.split():
                    if several and len(word) >= 4:
                        stem = word[:-2] if len(word) >= 6 else word[:-1]
                        words.append(re.escape(stem) + r"[^\W\d_]{0,4}(?![^\W\d_])")
                    else:
                        words.append(re.escape(word) + r"[^\W\d_]{0,3}(?![^\W\d_])")
                pattern = "(?i:" + r"\s+".join(words) + ")"
            by_letter.setdefault(name[0].lower(), []).append((len(name), pattern, org_id))
            prefixes.add(name[:2].lower())
    compiled = {}
    owners: dict[str, str] = {}
    for letter, entries in by_letter.items():
        entries.sort(key=lambda e: -e[0])
        compiled[letter] = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p, _) in enumerate(entries)))
        for i, (_, _, org_id) in enumerate(entries):
            owners[f"{letter}{i}"] = org_id
    return compiled, owners, frozenset(prefixes)


def _scan(text: str, language: str | None, field: str, gaz: Gazetteer) -> list[Mention]:
    """The organisations and places named in one field, in order."""
    patterns, owners, _ = _organisation_patterns()
    orgs: list[Mention] = []
    places: list[tuple[tuple[int, ...], str, int, int]] = []
    in_text = field == "text"
    known = (_RUNS.get(language) or _RUNS.setdefault(language, {})).get
    nothing = _NOTHING
    for m in _RUN.finditer(text):
        run = m[0]
        result = known(run) or _run_places(run, language)
        if result is nothing:
            continue
        found, starts = result
        base = at = m.start()
        for offset in starts:  # organisations: at a word of the run, also running on past it
            start = base + offset
            if start < at:
                continue
            letter = text[start].lower()
            hit = patterns[letter].match(text, start)
            if hit is not None:
                at = hit.end()
                orgs.append(Mention("o:" + owners[f"{letter}{hit.lastgroup[1:]}"], field, start, at))
        for place in found:
            start, end = base + place.start, base + place.end
            if place.first_name and in_text or place.inflected_head and _sentence_head(text, start):
                continue
            if any(o.start < end and start < o.end for o in orgs):
                continue
            places.append((place.places, field, start, end))
    return sorted(orgs + _resolve(places, gaz), key=lambda x: x.start)


def find_mentions(article: Mapping, max_chars: int | None = None) -> list[Mention]:
    """Every place and organisation named in the title and text (the first ``max_chars``
    characters of the text when given), in order: title first."""
    gaz = gazetteer()
    language = article.get("language")
    out: list[Mention] = []
    for field in ("title", "text"):
        value = article.get(field) or ""
        if max_chars is not None and field == "text":
            value = value[:max_chars]
        if value:
            out.extend(_scan(value, language, field, gaz))
    return out


@lru_cache(maxsize=None)
def _names() -> tuple[dict[int, Place], dict[str, str]]:
    gaz = gazetteer()
    return {p.geonameid: p for p in gaz.places}, {o.id: o.name for o in gaz.organisations}


def warm() -> None:
    """Load the gazetteer and compile the organisation patterns (a worker's setup)."""
    _names()
    _organisation_patterns()


def entity_fields(article: Mapping) -> dict[str, list[dict]]:
    """``{"places": [...], "organisations": [...]}`` of the article record: each entity once,
    most mentioned first (then first mentioned), with up to ``MAX_EVIDENCE`` spans
    ``{field, text, start, end}``."""
    by_id, org_names = _names()
    grouped: dict[str, list[Mention]] = {}
    for mention in find_mentions(article):
        grouped.setdefault(mention.entity, []).append(mention)
    order = sorted(grouped, key=lambda e: (-len(grouped[e]), grouped[e][0].field != "title", grouped[e][0].start))
    places, organisations = [], []
    for entity in order:
        mentions = grouped[entity]
        evidence = [
            {"field": m.field, "text": article[m.field][m.start:m.end], "start": m.start, "end": m.end}
            for m in mentions[:MAX_EVIDENCE]
        ]
        if entity.startswith("p:"):
            place = by_id[int(entity[2:])]
            places.append({"geonameid": place.geonameid, "name": place.name, "country": place.country,
                           "kind": place.kind, "mentions": len(mentions), "evidence": evidence})
        else:
            org_id = entity[2:]
            organisations.append({"id": org_id, "name": org_names[org_id], "mentions": len(mentions),
                                  "evidence": evidence})
    return {"places": places, "organisations": organisations}
