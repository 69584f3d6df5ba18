"""Memory across scheduled runs (``--state``): earlier runs' articles take part in dedup
and story assignment as *prior* articles, and each run writes the next generation.

One JSON line per remembered article (id, dates, exact-copy keys, MinHash signature, dedup
marks, story id and, for originals, story features and language) in ``<state>/memory/gen-*/``;
``CURRENT`` names the generation to read, replaced in one write by :func:`commit` when a run succeeds, so
a failed run leaves the previous memory in force (generations, the pointer and their checksums:
``transforms/state/generations.py``). Retention counts from ``first_seen``.
Prior articles sort before every article of the run (:data:`transforms.dedup.exact.PRIOR_MARK`),
pair with new ones but never with each other, keep their story ids, and are never emitted.
The whole design: ``docs/state.md``.

Counters (namespace ``newsbeam.memory``): ``remembered``, ``expired``, ``rejected``
(unreadable lines, to the dead letters), ``written``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from typing import Any, Iterable, Iterator, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.common.stage import GuardedMap, guarded, namespace
from transforms.state.generations import (  # noqa: F401 - the memory's plan and commit, used as memory.X
    DEFAULT_RETENTION_DAYS as DEFAULT_RETENTION_DAYS,
    FORMAT_VERSION as FORMAT_VERSION,
    GENERATION_PREFIX as GENERATION_PREFIX,
    MEMORY_DIR as MEMORY_DIR,
    POINTER as POINTER,
    SHARD_PREFIX as SHARD_PREFIX,
    SHARD_SUFFIX as SHARD_SUFFIX,
    MemoryPlan as MemoryPlan,
    StateError as StateError,
    _parse_iso,
    clean_generations as clean_generations,
    commit as commit,
    discard as discard,
    generation_dir as generation_dir,
    generation_name as generation_name,
    generation_pattern as generation_pattern,
    generations as generations,
    iso_utc as iso_utc,
    memory_dir as memory_dir,
    plan_run as plan_run,
    pointer_path as pointer_path,
    read_pointer as read_pointer,
    sketch_id as sketch_id,
    stale_generations as stale_generations,
)
from transforms.dedup.exact import EXACT, NEAR, PRIOR_MARK, UNIQUE, Edge, Node
from transforms.dedup.minhash import Sketcher, signature_bytes
from transforms.dedup.near import SIGNATURE_FIELD
from transforms.common.records import RejectedInput
from transforms.stories.records import STORY_PREFIX
from transforms.stories.features import StoryFeatures, story_features
from transforms.stories.params import StoryParams

STAGE = "memory"

_NO_DATE = "9999-12-31T23:59:59Z"
_ORIGINAL_KEY = PRIOR_MARK + "0"
_DUPLICATE_KEY = PRIOR_MARK + "1"
# The key of a remembered duplicate's original when only its id is known: after every
# real remembered original (so a real key wins, see dedup.resolve_duplicates), before
# remembered duplicates and every article of the run.
_ORIGINAL_PLACEHOLDER = _ORIGINAL_KEY + "~"
_STATUSES = (UNIQUE, EXACT, NEAR)

_log = logging.getLogger(__name__)


def within_retention(record: Mapping, now: str, retention_days: float) -> bool:
    """Whether ``record`` was first seen less than ``retention_days`` before ``now``
    (entries first seen "in the future", from a skewed clock, are kept)."""
    age = _parse_iso(now) - _parse_iso(record["first_seen"])
    return age < dt.timedelta(days=retention_days)


# --------------------------------------------------------------------------- records


def memory_record(
    article: Mapping,
    first_seen: str,
    signature: Any = None,
    features: StoryFeatures | None = None,
) -> dict:
    """What is remembered of an enriched ``article`` (after ``AssignStories``)."""
    dedup = article.get("dedup") or {}
    status = dedup.get("status") or UNIQUE
    return {
        "id": article["id"],
        "published_at": article.get("published_at"),
        "first_seen": first_seen,
        "url": article.get("url"),
        "content_hash": article.get("content_hash"),
        "minhash": None if signature is None else base64.b64encode(signature_bytes(signature)).decode("ascii"),
        "status": status,
        "duplicate_of": dedup.get("duplicate_of") if status != UNIQUE else None,
        "story_id": article.get("story_id"),
        "features": None if features is None else dict(features.counts),
        "language": None if features is None else features.language or None,
    }


def encode_record(record: Mapping) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _optional_str(data: Mapping, key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise RejectedInput(f"memory entry: '{key}' must be a string or null, got {type(value).__name__}")
    return value


def decode_record(line: str) -> dict:
    """One remembered entry from its JSON line; ``RejectedInput`` when it is not one."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise RejectedInput(f"memory entry is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RejectedInput("memory entry is not a JSON object")
    record = {key: _optional_str(data, key) for key in ("id", "published_at", "first_seen", "url", "content_hash",
                                                        "minhash", "status", "duplicate_of", "story_id",
                                                        "language")}
    if not record["id"]:
        raise RejectedInput("memory entry has no id")
    if not record["first_seen"]:
        raise RejectedInput("memory entry has no first_seen")
    try:
        _parse_iso(record["first_seen"])
    except ValueError:
        raise RejectedInput(f"memory entry: first_seen {record['first_seen']!r} is not an ISO time") from None
    if record["status"] not in _STATUSES:
        raise RejectedInput(f"memory entry: unknown status {record['status']!r}")
    if record["status"] != UNIQUE and not record["duplicate_of"]:
        raise RejectedInput("memory entry: a duplicate without duplicate_of")
    if record["minhash"] is not None:
        try:
            raw = base64.b64decode(record["minhash"], validate=True)
        except ValueError:
            raise RejectedInput("memory entry: minhash is not base64") from None
        if not raw or len(raw) % 4:
            raise RejectedInput(f"memory entry: minhash of {len(raw)} bytes is not a uint32 signature")
    features = data.get("features")
    if features is not None:
        if not isinstance(features, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in features.items()
        ):
            raise RejectedInput("memory entry: features must map feature names to numbers")
    record["features"] = features
    return record


def keyed_line(record: Mapping) -> tuple[str, tuple[str, str]]:
    """``(id, (first_seen, JSON line))``: what the writer shuffles (strings code
    much faster than dicts). Of several entries for one id (an article read again)
    the writer keeps the smallest value: the one first seen earliest, ties broken
    by content, so the choice is deterministic."""
    return record["id"], (record["first_seen"], encode_record(record))


# --------------------------------------------------------------------------- prior views


def prior_key(record: Mapping) -> str:
    """The dedup sort key of a remembered entry: before every new article;
    remembered originals before remembered duplicates; then first seen, published."""
    mark = _ORIGINAL_KEY if record["status"] == UNIQUE else _DUPLICATE_KEY
    return f"{mark}{record['first_seen']}|{record.get('published_at') or _NO_DATE}"


def dedup_view(record: Mapping, with_signature: bool = True) -> dict:
    """A remembered entry as the dedup layers read it (``FindDuplicates(prior=...)``,
    ``FindNearDuplicates``: ``minhash`` bytes instead of a text)."""
    view = {
        "id": record["id"],
        "published_at": prior_key(record),
        "url": record.get("url"),
        "content_hash": record.get("content_hash"),
    }
    if with_signature and record.get("minhash"):
        view[SIGNATURE_FIELD] = base64.b64decode(record["minhash"])
    return view


def prior_edge(record: Mapping) -> Edge | None:
    """A remembered duplicate's link to its original, as the earlier run resolved it."""
    if record["status"] == UNIQUE or not record.get("duplicate_of"):
        return None
    kind = "exact" if record["status"] == EXACT else "near"
    return Edge(Node(prior_key(record), record["id"]), Node(_ORIGINAL_PLACEHOLDER, record["duplicate_of"]), kind)


def story_root(record: Mapping) -> str | None:
    """The root article id of a remembered entry's story (``story_id`` = prefix + root)."""
    story = record.get("story_id")
    if not story:
        return None
    return story[len(STORY_PREFIX):] if story.startswith(STORY_PREFIX) else story


def prior_story_features(record: Mapping) -> StoryFeatures | None:
    """A remembered original's story features (duplicates follow their original)."""
    if record["status"] != UNIQUE or not record.get("features"):
        return None
    counts = tuple(sorted((str(f), float(c)) for f, c in record["features"].items()))
    return StoryFeatures(record["id"], record.get("published_at") or "", counts, record.get("language") or "")


def prior_story_root(record: Mapping) -> tuple[str, str] | None:
    """``(id, story root)`` of a remembered original."""
    root = story_root(record)
    if record["status"] != UNIQUE or root is None:
        return None
    return record["id"], root


# --------------------------------------------------------------------------- Beam


def _as_input(item: tuple[str, str]) -> dict:
    """A line of a memory shard, shaped so a dead letter names its file and shows the line."""
    filename, line = item
    return {"origin": filename, "text": line}


def _parse_line(item: dict) -> dict:
    return decode_record(item["text"])


class _KeepRecent(beam.DoFn):
    def __init__(self, now: str, retention_days: float) -> None:
        self._now = now
        self._days = retention_days
        ns = namespace(STAGE)
        self._remembered = Metrics.counter(ns, "remembered")
        self._expired = Metrics.counter(ns, "expired")

    def process(self, record: dict) -> Iterator[dict]:
        if within_retention(record, self._now, self._days):
            self._remembered.inc()
            yield record
        else:
            self._expired.inc()


class ReadMemory(beam.PTransform):
    """PBegin -> ``(records, dead_letters)``: the remembered entries of the previous
    generation still within the retention window (none on a first run)."""

    def __init__(self, plan: MemoryPlan) -> None:
        super().__init__()
        self._plan = plan

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, beam.PCollection]:
        plan = self._plan
        patterns = list(plan.files) or ([generation_pattern(plan.state, plan.previous)] if plan.previous else [])
        lines = (
            pbegin
            | "MemoryFiles" >> beam.Create(patterns)
            | "ReadMemoryLines" >> beam.io.ReadAllFromText(with_filename=True)
            | "AsInput" >> beam.Map(_as_input)
        )
        records, dead = guarded("ParseMemory", lines, GuardedMap(STAGE, _parse_line))
        recent = records | "KeepRecent" >> beam.ParDo(_KeepRecent(plan.run_time, plan.retention_days))
        return recent, dead


class PriorViews(beam.PTransform):
    """Remembered entries -> the inputs of the stages they take part in:
    ``dedup`` (views for ``FindDuplicates(prior=...)``), ``near`` (views with a
    signature, for ``FindNearDuplicates``), ``edges`` (duplicate -> original),
    ``story_features`` and ``story_roots`` (for ``AssignStories``)."""

    def __init__(self, reuse_signatures: bool = True) -> None:
        super().__init__()
        self._reuse = reuse_signatures

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        reuse = self._reuse
        dedup = records | "DedupViews" >> beam.Map(dedup_view, reuse)
        return {
            "dedup": dedup,
            "near": dedup | "WithSignature" >> beam.Filter(lambda v: SIGNATURE_FIELD in v),
            "edges": records | "DuplicateEdges" >> beam.FlatMap(lambda r: [e for e in [prior_edge(r)] if e]),
            "story_features": records
            | "StoryFeatures" >> beam.FlatMap(lambda r: [f for f in [prior_story_features(r)] if f]),
            "story_roots": records | "StoryRoots" >> beam.FlatMap(lambda r: [x for x in [prior_story_root(r)] if x]),
        }


class _ToRecord(beam.DoFn):
    """Enriched article -> memory record (signature and story features recomputed:
    ~0.1 + 0.5 ms per article, cheaper than carrying them through the stages)."""

    def __init__(self, run_time: str, sketch_args: tuple, params: StoryParams) -> None:
        self._run_time = run_time
        self._sketch_args = sketch_args
        self._params = params
        self._sketch: Sketcher | None = None

    def setup(self) -> None:
        self._sketch = Sketcher(*self._sketch_args)

    def process(self, article: dict) -> Iterator[dict]:
        signature = self._sketch(article.get("text"))  # type: ignore[misc]
        original = not (article.get("dedup") or {}).get("duplicate_of")
        features = story_features(article, self._params) if original else None
        yield memory_record(article, self._run_time, signature, features)


class _FirstSeen(beam.DoFn):
    def __init__(self) -> None:
        self._written = Metrics.counter(namespace(STAGE), "written")

    def process(self, keyed: tuple[str, Iterable[tuple[str, str]]]) -> Iterator[str]:
        self._written.inc()
        yield min(keyed[1])[1]


class WriteMemory(beam.PTransform):
    """``(prior records, enriched articles)`` -> the new generation's shards
    (``<state>/memory/<generation>/memory-*.jsonl.gz``). ``CURRENT`` is not touched:
    the launcher commits after the whole run succeeded (:func:`commit`)."""

    def __init__(self, plan: MemoryPlan, sketch_args: tuple, params: StoryParams | None = None) -> None:
        super().__init__()
        self._plan = plan
        self._sketch_args = sketch_args  # (num_perm, seed, shingle_k, min_shingles)
        self._params = params or StoryParams()

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> beam.pvalue.PDone:
        prior, articles = inputs
        plan = self._plan
        new = articles | "ToMemoryRecords" >> beam.ParDo(_ToRecord(plan.run_time, self._sketch_args, self._params))
        return (
            (prior, new)
            | "AllRecords" >> beam.Flatten()
            | "KeyById" >> beam.Map(keyed_line)
            | "GroupById" >> beam.GroupByKey()
            | "FirstSeen" >> beam.ParDo(_FirstSeen())
            | "WriteGeneration"
            >> beam.io.WriteToText(
                FileSystems.join(generation_dir(plan.state, plan.generation), SHARD_PREFIX),
                file_name_suffix=SHARD_SUFFIX,
            )
        )
