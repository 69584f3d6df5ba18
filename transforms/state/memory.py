"""Memory across scheduled runs (``--state``): earlier runs' articles take part in dedup
and story assignment as *prior* articles, and each run writes the next generation.

One JSON line per remembered article (id, dates, exact-copy keys, MinHash signature, dedup
marks, story id and, for originals, story features and language) in ``<state>/memory/gen-*/``;
``CURRENT`` names the generation to read, replaced in one write by :func:`commit` when a run succeeds, so
a failed run leaves the previous memory in force. Retention counts from ``first_seen``.
Prior articles sort before every article of the run (:data:`transforms.dedup.exact.PRIOR_MARK`),
pair with new ones but never with each other, keep their story ids, and are never emitted.
The whole design: ``docs/state.md``.

Counters (namespace ``newsbeam.memory``): ``remembered``, ``expired``, ``rejected``
(unreadable lines, to the dead letters), ``written``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import uuid
from typing import Any, Iterable, Iterator, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.common.stage import GuardedMap, guarded, namespace
from transforms.dedup.exact import EXACT, NEAR, PRIOR_MARK, UNIQUE, Edge, Node
from transforms.dedup.minhash import Sketcher, signature_bytes
from transforms.dedup.near import SIGNATURE_FIELD
from transforms.common.records import RejectedInput
from transforms.stories.records import STORY_PREFIX
from transforms.stories.features import StoryFeatures, story_features
from transforms.stories.params import StoryParams

STAGE = "memory"
MEMORY_DIR = "memory"
POINTER = "CURRENT"
GENERATION_PREFIX = "gen-"
SHARD_PREFIX = "memory"
SHARD_SUFFIX = ".jsonl.gz"
FORMAT_VERSION = 1
DEFAULT_RETENTION_DAYS = 7.0

_NO_DATE = "9999-12-31T23:59:59Z"
_ORIGINAL_KEY = PRIOR_MARK + "0"
_DUPLICATE_KEY = PRIOR_MARK + "1"
# The key of a remembered duplicate's original when only its id is known: after every
# real remembered original (so a real key wins, see dedup.resolve_duplicates), before
# remembered duplicates and every article of the run.
_ORIGINAL_PLACEHOLDER = _ORIGINAL_KEY + "~"
_STATUSES = (UNIQUE, EXACT, NEAR)

_log = logging.getLogger(__name__)


class StateError(ValueError):
    """The ``--state`` memory cannot be used; the message is for a person."""


# --------------------------------------------------------------------------- time


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


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


# --------------------------------------------------------------------------- plan and commit


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
    """What a run reads and writes under ``<state>/memory/``, resolved at launch."""

    state: str
    run_time: str  # ISO 8601 UTC: first_seen of this run's articles and "now" for retention
    generation: str  # the generation this run writes (a folder name)
    previous: str | None = None  # the committed generation it reads, None on a first run
    retention_days: float = DEFAULT_RETENTION_DAYS
    sketch: str = ""  # MinHash settings the signatures are made with (see sketch_id)
    reuse_signatures: bool = True  # the previous generation's signatures match ``sketch``


def sketch_id(num_perm: int, seed: int, shingle_k: int, min_shingles: int) -> str:
    """The MinHash settings a signature depends on; signatures made with others are not comparable."""
    return f"minhash:{num_perm}:{seed}:{shingle_k}:{min_shingles}"


def memory_dir(state: str) -> str:
    return FileSystems.join(state.rstrip("/"), MEMORY_DIR)


def generation_dir(state: str, generation: str) -> str:
    return FileSystems.join(memory_dir(state), generation)


def generation_pattern(state: str, generation: str) -> str:
    return FileSystems.join(generation_dir(state, generation), f"{SHARD_PREFIX}-*")


def pointer_path(state: str) -> str:
    return FileSystems.join(memory_dir(state), POINTER)


def generation_name(run_time: str, token: str | None = None) -> str:
    stamp = _parse_iso(run_time).strftime("%Y%m%dT%H%M%SZ")
    return f"{GENERATION_PREFIX}{stamp}-{token or uuid.uuid4().hex[:8]}"


def read_pointer(state: str) -> dict | None:
    """The committed pointer (``CURRENT``), or None when no run has committed yet."""
    path = pointer_path(state)
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path, compression_type="uncompressed") as fh:
            raw = fh.read()
    except Exception as exc:  # noqa: BLE001 - any failure means the state is unusable
        raise StateError(f"cannot read {path}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    try:
        pointer = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise StateError(f"{path} is damaged (not JSON); delete it to start with an empty memory") from None
    name = pointer.get("generation") if isinstance(pointer, dict) else None
    if not isinstance(name, str) or not name.startswith(GENERATION_PREFIX) or "/" in name:
        raise StateError(f"{path} names no generation; delete it to start with an empty memory")
    if pointer.get("format") != FORMAT_VERSION:
        raise StateError(f"{path}: memory format {pointer.get('format')!r} is not {FORMAT_VERSION}")
    return pointer


def plan_run(
    state: str,
    *,
    retention_days: float = DEFAULT_RETENTION_DAYS,
    sketch: str = "",
    now: dt.datetime | None = None,
    token: str | None = None,
) -> MemoryPlan:
    """Resolve ``CURRENT`` at launch: the generation to read (checked to exist) and
    the name of the one to write. ``StateError`` when the state is damaged."""
    run_time = iso_utc(now or dt.datetime.now(dt.timezone.utc))
    pointer = read_pointer(state)
    previous = None
    reuse = True
    if pointer is not None:
        previous = pointer["generation"]
        pattern = generation_pattern(state, previous)
        try:
            files = FileSystems.match([pattern])[0].metadata_list
        except Exception:  # noqa: BLE001 - a failed match means nothing is there
            files = []
        if not files:
            raise StateError(
                f"{pointer_path(state)} points at {previous}, which has no memory files; "
                "delete CURRENT to start with an empty memory"
            )
        reuse = pointer.get("sketch") == sketch
        if not reuse:
            _log.warning(
                "memory %s was sketched with %s, this run uses %s: remembered signatures are ignored",
                previous, pointer.get("sketch"), sketch,
            )
    return MemoryPlan(
        state=state,
        run_time=run_time,
        generation=generation_name(run_time, token),
        previous=previous,
        retention_days=retention_days,
        sketch=sketch,
        reuse_signatures=reuse,
    )


def _write_atomically(path: str, data: bytes) -> None:
    if "://" in path:  # object stores: one object write is atomic
        with FileSystems.create(path) as fh:
            fh.write(data)
        return
    temp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with FileSystems.create(temp, compression_type="uncompressed") as fh:
        fh.write(data)
    FileSystems.rename([temp], [path])  # os.rename: replaces the old pointer atomically


def commit(plan: MemoryPlan) -> dict:
    """Point ``CURRENT`` at the generation this run wrote (after the pipeline
    succeeded), then delete older generations but the one it replaced; return the
    pointer written."""
    if not FileSystems.match([generation_pattern(plan.state, plan.generation)])[0].metadata_list:
        raise StateError(f"generation {plan.generation} has no files; CURRENT left on {plan.previous}")
    pointer = {
        "format": FORMAT_VERSION,
        "generation": plan.generation,
        "previous": plan.previous,
        "run_time": plan.run_time,
        "retention_days": plan.retention_days,
        "sketch": plan.sketch,
    }
    _write_atomically(pointer_path(plan.state), (json.dumps(pointer, indent=1) + "\n").encode("utf-8"))
    clean_generations(plan.state, plan.generation, plan.previous)
    return pointer


def generations(state: str) -> list[str]:
    """The generation folders under ``<state>/memory/`` that hold files, sorted by name (= by time)."""
    pattern = FileSystems.join(memory_dir(state), f"{GENERATION_PREFIX}*", "*")
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - nothing matched
        return []
    names = set()
    for meta in found:
        parent = meta.path.rstrip("/").rsplit("/", 2)
        if len(parent) == 3 and parent[1].startswith(GENERATION_PREFIX):
            names.add(parent[1])
    return sorted(names)


def stale_generations(names: Iterable[str], current: str, previous: str | None = None) -> list[str]:
    """The generations to delete once ``current`` is committed: every older one except
    ``previous`` (the generation it replaced, kept as a fallback). Generations of
    crashed runs go; newer ones (a later run's, still being written) are never touched."""
    return sorted(n for n in names if n < current and n != previous)


def clean_generations(state: str, current: str, previous: str | None = None) -> list[str]:
    stale = stale_generations(generations(state), current, previous)
    for name in stale:
        path = generation_dir(state, name)
        try:
            FileSystems.delete([path + "/" if "://" in path else path])
        except Exception as exc:  # noqa: BLE001 - a leftover generation is harmless, say so
            _log.warning("could not delete old memory generation %s: %s", path, exc)
    # temp files of interrupted pointer writes
    try:
        temps = FileSystems.match([pointer_path(state) + ".tmp-*"])[0].metadata_list
        if temps:
            FileSystems.delete([m.path for m in temps])
    except Exception:  # noqa: BLE001 - nothing to clean
        pass
    return stale


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
        patterns = [generation_pattern(plan.state, plan.previous)] if plan.previous else []
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
