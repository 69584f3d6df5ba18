"""Loading and validating a topic taxonomy (``configs/topics.yaml``).

The taxonomy names each topic with a description, public code mappings, and
per-language cues: ``phrases`` in plain words, matched in their inflected forms
(:mod:`transforms.enrich.topicforms`), and ``patterns``, Python regexes for what
words cannot say. ``exclude`` patterns veto a match when they occur within
``window`` characters of it, and ``requires`` patterns must occur within that
window for cues marked ``weak``. ``scoring`` says how evidence adds up by where
it stands (:class:`Scoring`); ``min_score`` is the threshold for a tag (per
topic where it differs) and ``mention_score`` the one for a mention;
``background`` lists, per language, the cues of a clause that only gives
context. See the header of ``configs/topics.yaml`` for the schema. Every error
is a :class:`TaxonomyError` naming the topic, key and entry.

Pure: :func:`load_taxonomy`, :func:`read_taxonomy_mapping`, :meth:`Taxonomy.from_dict`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from typing import Any, Mapping

import yaml
from apache_beam.io.filesystems import FileSystems

from transforms.enrich.topicforms import phrase_regex, remember_stems, snowball_stems, snowball_version
from transforms.enrich.topicrules import (
    _FLAGS,
    ANY_LANGUAGE,
    REQUIRED_LANGUAGES,
    SCHEMA_VERSION,
    Pattern,
    Scoring,
    TaxonomyError,
    Topic,
)
from transforms.enrich.topicscan import Matcher, context_regex
from transforms.runtime.regexcache import code_fingerprint, derived

_TOP_KEYS = {
    "version", "min_score", "mention_score", "window", "max_evidence", "scoring", "inflection",
    "background", "macros", "topics", "title_weight",
}  # fmt: skip
_TOPIC_KEYS = {"description", "codes", "phrases", "patterns", "exclude", "requires", "context", "window", "min_score"}
_CODE_KEYS = {"iptc", "gdelt", "cameo", "note"}
_PATTERN_KEYS = {"re", "weight", "weak"}
_PHRASE_KEYS = {"words", "weight", "weak"}
_SCORING_KEYS = {f.name for f in __import__("dataclasses").fields(Scoring)}
_INFLECTION_KEYS = {"suffix", "endings"}
_MACRO_RE = re.compile(r"\{\{(\w+)\}\}")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")

# --------------------------------------------------------------------------- loading


def _expand(source: str, macros: Mapping[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise TaxonomyError(f"{where}: unknown macro {{{{{name}}}}} (defined: {sorted(macros)})")
        return macros[name]

    return _MACRO_RE.sub(sub, source)


def _spaces_to_whitespace(source: str) -> str:
    """Turn each run of literal spaces outside character classes into ``\\s+``."""
    out: list[str] = []
    i, n, in_class = 0, len(source), False
    while i < n:
        ch = source[i]
        if ch == "\\" and i + 1 < n:
            out.append(source[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
            if i + 1 < n and source[i + 1] == "^":
                out.append("^")
                i += 1
            if i + 1 < n and source[i + 1] == "]":  # a literal ']' first in the class
                out.append("]")
                i += 1
        elif ch == " ":
            while i + 1 < n and source[i + 1] == " ":
                i += 1
            quantified = i + 1 < n and source[i + 1] in "?*+{"
            out.append(r"(?:\s+)" if quantified else r"\s+")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


_unchecked = threading.local()  # active: the document passed these checks before (Taxonomy.from_dict)


def _compile_one(source: str, where: str) -> re.Pattern[str] | None:
    if getattr(_unchecked, "active", False):
        return None
    try:
        compiled = re.compile(source, _FLAGS)
    except re.error as exc:
        raise TaxonomyError(f"{where}: bad regex {source!r}: {exc}") from None
    if compiled.groups:
        raise TaxonomyError(f"{where}: capturing group in {source!r}; use (?:...) instead")
    if compiled.fullmatch(""):
        raise TaxonomyError(f"{where}: pattern {source!r} matches the empty string")
    return compiled


def _number(value: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise TaxonomyError(f"{where}: expected a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _check_keys(mapping: Any, allowed: set[str], where: str) -> None:
    if not isinstance(mapping, Mapping):
        raise TaxonomyError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(map(str, mapping)) - allowed)
    if unknown:
        raise TaxonomyError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _context_lists(raw: Any, macros: Mapping[str, str], where: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise TaxonomyError(f"{where}: expected a mapping of language -> list of regexes")
    out: dict[str, tuple[str, ...]] = {}
    for lang, items in raw.items():
        lang = str(lang)
        if lang != ANY_LANGUAGE and not _LANG_RE.match(lang):
            raise TaxonomyError(f"{where}: bad language key {lang!r}")
        if not isinstance(items, list) or not items:
            raise TaxonomyError(f"{where}.{lang}: expected a non-empty list of regexes")
        sources = []
        for i, item in enumerate(items):
            w = f"{where}.{lang}[{i}]"
            if not isinstance(item, str) or not item.strip():
                raise TaxonomyError(f"{w}: expected a regex string, got {item!r}")
            src = _spaces_to_whitespace(_expand(item.strip(), macros, w))
            _compile_one(src, w)
            sources.append(src)
        out[lang] = tuple(sources)
    return out


def _cue(item: Any, kind: str, lang: str, macros: Mapping[str, str], inflection: Mapping[str, Any], w: str) -> tuple[str, str, float, bool]:
    """One ``phrases`` or ``patterns`` entry: (regex, as written, weight, weak)."""
    key = "words" if kind == "phrases" else "re"
    if isinstance(item, str):
        item = {key: item}
    _check_keys(item, _PHRASE_KEYS if kind == "phrases" else _PATTERN_KEYS, w)
    written = item.get(key)
    if not isinstance(written, str) or not written.strip():
        raise TaxonomyError(f"{w}: missing {key!r}")
    weight = _number(item.get("weight", 1.0), f"{w}.weight", 0.01, 5.0)
    weak = item.get("weak", False)
    if not isinstance(weak, bool):
        raise TaxonomyError(f"{w}.weak: expected true/false, got {weak!r}")
    if kind == "phrases":
        source = _spaces_to_whitespace(phrase_regex(written.strip(), lang, inflection.get(lang, {}), w))
    else:
        source = _spaces_to_whitespace(_expand(written.strip(), macros, w))
    _compile_one(source, w)
    return source, written.strip(), weight, weak


def _parse_topic(name: str, raw: Any, macros: Mapping[str, str], inflection: Mapping[str, Any]) -> Topic:
    where = f"topic {name!r}"
    _check_keys(raw, _TOPIC_KEYS, where)
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise TaxonomyError(f"{where}: missing or empty 'description'")
    codes = raw.get("codes") or {}
    _check_keys(codes, _CODE_KEYS, f"{where}.codes")
    if not raw.get("patterns") and not raw.get("phrases"):
        raise TaxonomyError(f"{where}: missing 'phrases' or 'patterns' (a mapping of language -> list)")
    patterns: dict[str, list[Pattern]] = {}
    for kind in ("phrases", "patterns"):
        by_lang = raw.get(kind) or {}
        if not isinstance(by_lang, Mapping):
            raise TaxonomyError(f"{where}.{kind}: expected a mapping of language -> list")
        for lang, items in by_lang.items():
            lang = str(lang)
            if not _LANG_RE.match(lang):
                raise TaxonomyError(f"{where}.{kind}: bad language key {lang!r}")
            if not isinstance(items, list) or not items:
                raise TaxonomyError(f"{where}.{kind}.{lang}: expected a non-empty list")
            for i, item in enumerate(items):
                source, written, weight, weak = _cue(item, kind, lang, macros, inflection, f"{where}.{kind}.{lang}[{i}]")
                patterns.setdefault(lang, []).append(Pattern(name, lang, source, weight, weak, written))
    missing = [lang for lang in REQUIRED_LANGUAGES if lang not in patterns]
    if missing:
        raise TaxonomyError(f"{where}: no phrases or patterns for language(s) {missing}")
    exclude = _context_lists(raw.get("exclude"), macros, f"{where}.exclude")
    requires = _context_lists(raw.get("requires"), macros, f"{where}.requires")
    context = _context_lists(raw.get("context"), macros, f"{where}.context")
    for lang, plist in patterns.items():
        if any(p.weak for p in plist) and lang not in requires and ANY_LANGUAGE not in requires:
            raise TaxonomyError(
                f"{where}.requires: weak patterns in {lang!r} need a 'requires' list for {lang!r} or 'any'"
            )
    window = raw.get("window")
    if window is not None:
        window = int(_number(window, f"{where}.window", 0, 10_000))
    min_score = raw.get("min_score")
    if min_score is not None:
        min_score = _number(min_score, f"{where}.min_score", 0.0, 1.0)
    frozen = {lang: tuple(p) for lang, p in patterns.items()}
    return Topic(name, description.strip(), dict(codes), frozen, exclude, requires, window, min_score, context)


def _scoring(raw: Any, title_weight: Any = None) -> Scoring:
    """``scoring`` checked; the older top-level ``title_weight`` still sets ``scoring.title``."""
    values: dict[str, Any] = {}
    if title_weight is not None:
        values["title"] = _number(title_weight, "taxonomy.title_weight", 0.0, 5.0)
    if raw is None:
        return Scoring(**values)
    _check_keys(raw, _SCORING_KEYS, "taxonomy.scoring")
    for key, value in raw.items():
        bound = 10_000 if key in ("background_window", "lead_chars", "max_repeats") else 5.0
        values[key] = _number(value, f"taxonomy.scoring.{key}", 0.0, bound)
        if key in ("background_window", "lead_chars", "max_repeats"):
            values[key] = int(values[key])
    return Scoring(**values)


def _inflection(raw: Any) -> dict[str, dict[str, Any]]:
    """``inflection: {<lang>: {suffix: n, endings: [...]}}`` checked."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise TaxonomyError("taxonomy.inflection: expected a mapping of language -> {suffix, endings}")
    out: dict[str, dict[str, Any]] = {}
    for lang, spec in raw.items():
        where = f"taxonomy.inflection.{lang}"
        if not _LANG_RE.match(str(lang)):
            raise TaxonomyError(f"{where}: bad language key")
        _check_keys(spec, _INFLECTION_KEYS, where)
        entry: dict[str, Any] = {}
        if "suffix" in spec:
            entry["suffix"] = int(_number(spec["suffix"], f"{where}.suffix", 0, 20))
        endings = spec.get("endings")
        if endings is not None:
            if not isinstance(endings, list) or not all(isinstance(e, str) and e.strip() for e in endings):
                raise TaxonomyError(f"{where}.endings: expected a list of word endings")
            entry["endings"] = tuple(e.strip().lower() for e in endings)
        out[str(lang)] = entry
    return out




class Taxonomy:
    """A validated topic taxonomy; build with :meth:`from_dict` or :func:`load_taxonomy`."""

    def __init__(
        self,
        topics: Mapping[str, Topic],
        *,
        version: int = SCHEMA_VERSION,
        min_score: float = 0.5,
        mention_score: float = 0.2,
        window: int = 80,
        max_evidence: int = 5,
        scoring: Scoring | None = None,
        background: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.topics = dict(topics)
        self.version = version
        self.min_score = min_score
        self.mention_score = mention_score
        self.window = window
        self.max_evidence = max_evidence
        self.scoring = scoring or Scoring()
        self.background = dict(background or {})
        self.languages = tuple(sorted({lang for t in self.topics.values() for lang in t.patterns}))
        self._matchers: dict[tuple[str, ...], Matcher] = {}
        self._background: dict[str, re.Pattern[str] | None] = {}
        self._context: dict[tuple[str, str], re.Pattern[str] | None] = {}

    def threshold(self, topic: str) -> float:
        """The score a topic needs for a tag."""
        own = self.topics[topic].min_score
        return self.min_score if own is None else own

    @classmethod
    def from_dict(cls, data: Any) -> "Taxonomy":
        """The taxonomy of the document ``data``, validated. Checking its ~2,500 regexes
        (they compile, have no groups, match no empty string) is most of the cost (~0.4 s);
        with the regex cache on, a document that passed once (same text, same code of the
        taxonomy modules, same Python and Snowball) is parsed without compiling them again,
        and with the Snowball stems of its words from that first parse (~0.15 s)."""
        parsed: list[Taxonomy] = []

        def check() -> dict[str, Any]:
            parsed.append(cls._parse(data))
            return {"stems": snowball_stems()}

        here = os.path.dirname(os.path.abspath(__file__))
        code = code_fingerprint(*(os.path.join(here, f"{m}.py") for m in ("taxonomy", "topicforms", "topicrules")))
        mark = derived(f"taxonomy-valid\0{sys.version}\0{snowball_version()}\0{code}\0{document_key(data)}", check)
        if parsed:
            return parsed[0]
        if isinstance(mark, dict):  # the stems the first parse computed (same Snowball, same code)
            remember_stems(mark.get("stems") or [])
        _unchecked.active = True
        try:
            return cls._parse(data)
        finally:
            _unchecked.active = False

    @classmethod
    def _parse(cls, data: Any) -> "Taxonomy":
        _check_keys(data, _TOP_KEYS, "taxonomy")
        version = data.get("version")
        if version != SCHEMA_VERSION:
            raise TaxonomyError(f"taxonomy: 'version' must be {SCHEMA_VERSION}, got {version!r}")
        macros_raw = data.get("macros") or {}
        if not isinstance(macros_raw, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in macros_raw.items()
        ):
            raise TaxonomyError("taxonomy.macros: expected a mapping of name -> regex string")
        macros = {k: v for k, v in macros_raw.items()}
        inflection = _inflection(data.get("inflection"))
        topics_raw = data.get("topics")
        if not isinstance(topics_raw, Mapping) or not topics_raw:
            raise TaxonomyError("taxonomy: missing 'topics' mapping")
        topics = {}
        for name, raw in topics_raw.items():
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise TaxonomyError(f"taxonomy.topics: bad topic name {name!r} (use snake_case)")
            topics[name] = _parse_topic(name, raw, macros, inflection)
        min_score = _number(data.get("min_score", 0.5), "taxonomy.min_score", 0.0, 1.0)
        mention_score = _number(data.get("mention_score", 0.2), "taxonomy.mention_score", 0.0, 1.0)
        if mention_score > min_score:
            raise TaxonomyError(f"taxonomy.mention_score: {mention_score} is above min_score {min_score}")
        return cls(
            topics,
            version=version,
            min_score=min_score,
            mention_score=mention_score,
            window=int(_number(data.get("window", 80), "taxonomy.window", 0, 10_000)),
            max_evidence=int(_number(data.get("max_evidence", 5), "taxonomy.max_evidence", 1, 1000)),
            scoring=_scoring(data.get("scoring"), data.get("title_weight")),
            background=_context_lists(data.get("background"), macros, "taxonomy.background"),
        )

    def active_languages(self, language: str | None) -> tuple[str, ...]:
        lang = (language or "und").strip().lower().replace("_", "-").split("-")[0]
        if lang not in self.languages:
            return self.languages
        return tuple(sorted({lang, "en"} & set(self.languages)))

    def matcher(self, language: str | None) -> Matcher:
        key = self.active_languages(language)
        matcher = self._matchers.get(key)
        if matcher is None:
            matcher = self._matchers[key] = Matcher(self.topics.values(), key)
        return matcher

    def background_cues(self, language: str | None) -> re.Pattern[str] | None:
        """One regex of the background cues of the active languages (None: no cues)."""
        found = self._background.get(language or "", False)
        if found is False:
            key = self.active_languages(language)
            sources = [s for lang in (*key, ANY_LANGUAGE) for s in self.background.get(lang, ())]
            found = self._background[language or ""] = self._shared_context(tuple(sources)) if sources else None
        return found

    def warm(self) -> None:
        """Set up the matchers for every language (and for ``und``) up front; each
        compiles its scan regex (0.2-0.4 s, 1 s for ``und``) on first use."""
        for lang in (*self.languages, "und"):
            self.matcher(lang)

    def context_regex(self, topic: str, language: str | None) -> re.Pattern[str] | None:
        """The regex of a topic's article-level anchors for the active languages (None: none)."""
        key = (topic, language or "")
        found = self._context.get(key, False)
        if found is False:
            spec = self.topics[topic].context
            sources = [s for lang in (*self.active_languages(language), ANY_LANGUAGE) for s in spec.get(lang, ())]
            found = self._context[key] = self._shared_context(tuple(sources)) if sources else None
        return found

    def _shared_context(self, sources: tuple[str, ...]) -> re.Pattern[str]:
        """One compiled regex per distinct list of anchors (topics often share one)."""
        cache = self.__dict__.setdefault("_context_by_sources", {})
        if sources not in cache:
            cache[sources] = context_regex(list(sources))
        return cache[sources]

    def pattern_counts(self) -> dict[str, int]:
        return {name: sum(len(v) for v in t.patterns.values()) for name, t in self.topics.items()}


def read_taxonomy_mapping(path: str) -> dict[str, Any]:
    """The validated taxonomy document at ``path`` (local or any Beam filesystem), as
    plain data: read once at start-up and shipped to workers with the job."""
    try:
        with FileSystems.open(path) as fh:
            raw = fh.read()
    except Exception as exc:  # noqa: BLE001 - any filesystem error becomes one clear message
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc}") from exc
    try:
        data = yaml.load(raw, Loader=_YAML_LOADER)  # libyaml: ~0.02 s for topics.yaml, 0.2 s in Python
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"taxonomy {path} is not valid YAML: {exc}") from exc
    try:
        taxonomy = Taxonomy.from_dict(data)
    except TaxonomyError as exc:
        raise TaxonomyError(f"{path}: {exc}") from None
    _validated.clear()
    _validated[document_key(data)] = taxonomy
    return data


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # both safe; the same data
_validated: dict[str, Taxonomy] = {}  # the last document read_taxonomy_mapping validated, parsed


def document_key(data: Any) -> str:
    """A taxonomy document as one string: equal documents, equal keys."""
    return data if isinstance(data, str) else json.dumps(data, sort_keys=True, default=str)


def validated_taxonomy(key: str) -> Taxonomy | None:
    """The taxonomy that :func:`read_taxonomy_mapping` parsed when it validated the document of
    ``key`` in this process (None: another document, or none): a run whose worker is the
    launching process compiles it once, not twice (~0.6 s)."""
    return _validated.get(key)


def load_taxonomy(path: str) -> Taxonomy:
    """Read and validate a taxonomy YAML file (local path or any Beam filesystem, e.g. gs://)."""
    return Taxonomy.from_dict(read_taxonomy_mapping(path))


# --------------------------------------------------------------------------- tagging

