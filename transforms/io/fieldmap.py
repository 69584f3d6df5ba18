"""Which JSON field gives which article field: presets and the config's own mapping.

Exports name their fields differently (news-please ``maintext``/``date_publish``,
Media Cloud ``text_content``/``publish_date``, GDELT ``seendate``/``domain``). A
:class:`FieldMap` lists, for each article field, the input names tried in order;
:func:`pick` takes the first usable value. The presets live in
``configs/input_fields.yaml`` (package data of ``configs``, like the story lexicon); the
job config chooses one (``input.preset``, default ``auto``: every known name) and
may replace single lists (``input.fields``). :func:`article_from_object` makes a
RawArticle of one decoded JSON object with it (every JSON reader and Pub/Sub use it).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import yaml

import configs
from transforms.common.records import RejectedInput, raw_article
from transforms.common.unicode import valid_unicode

__all__ = [
    "ARTICLE_FIELDS",
    "FieldMap",
    "field_map",
    "presets",
    "pick",
    "article_from_object",
    "default_fields",
    "PRESETS_PATH",
    "DEFAULT_PRESET",
]

PRESETS_PATH = configs.path("input_fields.yaml")
DEFAULT_PRESET = "auto"
# the article fields an input can give, in the order the readers ask for them
ARTICLE_FIELDS = ("text", "title", "url", "published_at", "source", "language", "id")


@dataclasses.dataclass(frozen=True)
class FieldMap:
    """``((article field, (input names tried in order)), ...)``: hashable and picklable."""

    names: tuple[tuple[str, tuple[str, ...]], ...]
    preset: str = DEFAULT_PRESET

    def __getitem__(self, field: str) -> tuple[str, ...]:
        for name, candidates in self.names:
            if name == field:
                return candidates
        return ()

    @functools.cached_property
    def _index(self) -> tuple[dict[str, tuple[str, int]], tuple[tuple[str, int, str], ...]]:
        """Plain input name -> (article field, rank); and the dotted names apart."""
        plain: dict[str, tuple[str, int]] = {}
        dotted: list[tuple[str, int, str]] = []
        for field, names in self.names:
            if field == "text":
                continue
            for rank, name in enumerate(names):
                if "." in name:
                    dotted.append((field, rank, name))
                else:
                    plain.setdefault(name, (field, rank))
        return plain, tuple(dotted)

    def values(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Article field -> the usable value of its best-ranked input name present in
        ``obj`` (as :func:`pick` would choose, text aside). Walks the object's keys,
        not every known name: most inputs have a handful of fields."""
        plain, dotted = self._index
        best: dict[str, tuple[int, Any]] = {}
        for name, value in obj.items():
            hit = plain.get(name)
            if hit is None or not _usable(value):
                continue
            field, rank = hit
            if field not in best or rank < best[field][0]:
                best[field] = (rank, value)
        for field, rank, name in dotted:
            if field in best and best[field][0] < rank:
                continue
            value = _lookup(obj, name)
            if _usable(value):
                best[field] = (rank, value)
        return {field: value for field, (_, value) in best.items()}


def _names(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{where}: expected a field name or a list of field names, got {value!r}")
    return tuple(v.strip() for v in value)


def _parse(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping of article fields to input field names, got {type(raw).__name__}")
    unknown = set(raw) - set(ARTICLE_FIELDS)
    if unknown:
        raise ValueError(
            f"{where}: unknown article field(s) {', '.join(sorted(map(str, unknown)))} (known: {', '.join(ARTICLE_FIELDS)})"
        )
    return {field: _names(f"{where}.{field}", value) for field, value in raw.items()}


@functools.cache
def presets(path: str = PRESETS_PATH) -> dict[str, dict[str, tuple[str, ...]]]:
    """The presets of ``configs/input_fields.yaml``, validated, read once per process."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: expected a mapping of preset names")
    return {str(name): _parse(table, f"{path}: {name}") for name, table in raw.items()}


def field_map(preset: str = DEFAULT_PRESET, fields: Mapping[str, Any] | None = None) -> FieldMap:
    """The FieldMap of ``preset`` with the lists given in ``fields`` replacing its own.
    ``ValueError`` with a readable message for an unknown preset or field, or a bad list."""
    known = presets()
    if preset not in known:
        raise ValueError(f"unknown input preset {preset!r} (known: {', '.join(sorted(known))})")
    table = dict(known[preset])
    if fields:
        table.update(_parse(fields, "input.fields"))
    if not table.get("text"):
        raise ValueError("input.fields: 'text' needs at least one field name")
    return FieldMap(tuple((f, table.get(f, ())) for f in ARTICLE_FIELDS), preset)


def _lookup(obj: dict[str, Any], name: str) -> Any:
    if "." not in name or name in obj:
        return obj.get(name)
    value: Any = obj
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _usable(value: Any) -> bool:
    """Not null, a container, a boolean or a blank string."""
    if value is None or isinstance(value, (dict, list, bool)):
        return False
    return not isinstance(value, str) or bool(value.strip())


def pick(obj: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    """``(name, value)`` of the first of ``names`` whose value in ``obj`` is usable (not
    null, not blank, not a container); ``(None, None)`` when none is. For the text,
    which must be a string, the caller checks the type of what it gets."""
    for name in names:
        value = _lookup(obj, name)
        if _usable(value):
            return name, value
    return None, None


def _opt_str(value: Any) -> str | None:
    """A scalar field as a non-empty string; containers and empties are ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _is_json_feed(obj: dict[str, Any]) -> bool:
    version = obj.get("version")
    return isinstance(version, str) and "jsonfeed.org" in version and isinstance(obj.get("items"), list)


def _no_text(names: tuple[str, ...]) -> str:
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"no text (fields {listed})"


def article_from_object(obj: Any, origin: str, fmt: str = "jsonl", fields: FieldMap | None = None) -> dict[str, Any]:
    """One RawArticle from a decoded JSON value, or ``RejectedInput``. ``fields``
    (default: the ``auto`` preset) says which input names give which field."""
    if not isinstance(obj, dict):
        raise RejectedInput(f"JSON is {_json_type(obj)}, not an object")
    if _is_json_feed(obj):
        raise RejectedInput("a JSON Feed (jsonfeed.org) document; JSON Feed is not a supported input format")
    fields = fields or default_fields()
    text = _text(obj, fields["text"])
    found = fields.values(obj)
    return raw_article(
        origin,
        fmt,
        title=_opt_str(found.get("title")),
        text=text,
        url=_opt_str(found.get("url")),
        published=_opt_str(found.get("published_at")),
        source=_opt_str(found.get("source")),
        language=_opt_str(found.get("language")),
        external_id=_opt_str(found.get("id")),
    )


def _text(obj: dict[str, Any], names: tuple[str, ...]) -> str:
    """The first non-blank string among ``names``; else ``RejectedInput`` about the
    first of them that is present (not a string, or blank), or that none is."""
    first: tuple[str, Any] | None = None
    for name in names:
        value = _lookup(obj, name)
        if value is None:
            continue
        if isinstance(value, str) and value.strip():
            return value
        first = first or (name, value)
    if first is None:
        raise RejectedInput(_no_text(names))
    name, value = first
    if not isinstance(value, str):
        raise RejectedInput(f"'{valid_unicode(name)[0]}' is {_json_type(value)}, not a string")
    raise RejectedInput(f"'{valid_unicode(name)[0]}' is empty")


@functools.cache
def default_fields() -> FieldMap:
    """The ``auto`` preset: every field name newsbeam knows."""
    return field_map()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__
