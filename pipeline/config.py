"""The job's own settings: YAML in ``configs/``, validated at start-up.

Without ``--config`` the ``local.yaml`` shipped in the ``configs`` package is read (package data,
so an installed ``newsbeam`` runs from any folder); relative paths inside a config (``topics``,
``feeds``) are relative to that config's folder. Runner settings (``--runner``, ``--project``...) are Beam's own flags and never
live here. ``build_pipeline`` receives a :class:`JobConfig` and never sees
argparse. Every validation error is a :class:`ConfigError` whose message names
the file, the key and what was expected, so the CLI can print it on one line.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

import yaml
from apache_beam.io.filesystems import FileSystems

import configs
from transforms.io.fieldmap import DEFAULT_PRESET, FieldMap, field_map
from transforms.runtime import SWITCH_VALUES, TuningConfig
from transforms.stories.params import StoryParams

DEFAULT_CONFIG = configs.path("local.yaml")
DEFAULT_TOPICS = configs.path("topics.yaml")  # a config that names no taxonomy gets the shipped one


OUTPUT_FORMATS = ("jsonl", "both")


class ConfigError(ValueError):
    """A bad configuration file or command line; the message is for a person."""


@dataclasses.dataclass(frozen=True)
class ReadConfig:
    max_article_bytes: int = 2_000_000
    max_dead_letters_per_file: int = 1000  # then one dead letter counts the rest (0: no limit)


@dataclasses.dataclass(frozen=True)
class NormalizeConfig:
    max_text_chars: int = 200_000


@dataclasses.dataclass(frozen=True)
class LanguageConfig:
    max_chars: int = 1000
    min_letters: int = 20
    min_confidence: float = 0.5
    seed: int = 0
    predetector: bool = True  # py3langid answers first; langdetect decides the uncertain cases
    predetector_min_prob: float = 0.99
    predetector_chars: int = 300  # py3langid's first read; an unsure answer reads max_chars once more


@dataclasses.dataclass(frozen=True)
class NearDupConfig:
    """MinHash-LSH near-duplicates (transforms/dedup/near.py); bands/rows 0: derived from threshold."""

    enabled: bool = True
    threshold: float = 0.5
    num_perm: int = 128
    bands: int = 0
    rows: int = 0
    shingle_k: int = 5
    min_shingles: int = 20


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    by_url: bool = True
    by_content: bool = True
    near: NearDupConfig = NearDupConfig()
    retention_days: float = 7.0  # --state: remembered articles are forgotten this long after first seen


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    compress: bool = False
    num_shards: int = 0  # 0: let the runner decide
    format: str = "both"  # also the analyst tables as Parquet (transforms/io/tables.py); "jsonl": JSON Lines only
    parquet_shards: int = 1  # Parquet files per table, publication date and bundle


@dataclasses.dataclass(frozen=True)
class StreamingConfig:
    """``--streaming`` only (pipeline/streaming.py, docs/streaming.md)."""

    poll_seconds: float = 5.0  # how often --input patterns are listed for new files
    feed_poll_seconds: float = 300.0  # how often every --feed is polled
    settle_seconds: float = 1.0  # a file unchanged for this long is complete
    allowed_lateness_seconds: float = 0.0  # later elements go to dead_letter/ (stage "streaming")
    retention_hours: float = 48.0  # how long an original is remembered for duplicate marking
    drain_seconds: float = 30.0  # SIGTERM/SIGINT: longest drain before the job is stopped without it
    pubsub_ack_seconds: float = 60.0  # DirectRunner: ack deadline of a pulled, uncommitted message (renewed)


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """Everything ``build_pipeline`` needs: where to read and write, and how."""

    inputs: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    feeds_config_path: str | None = None  # configs/feeds.yaml: feeds for scheduled runs and fetch settings
    fetch_options: Any = None  # transforms.io.http.FetchOptions loaded from feeds_config_path
    taxonomy: Any = None  # the validated topics document read from topics_path at start-up
    beam_defaults: tuple[tuple[str, Any], ...] = ()  # Beam flags used when the command line lacks them
    beam_defaults_min_input_mb: int = 0  # ...for inputs at least this large (worker start-up costs seconds)
    output: str = ""
    state: str | None = None
    memory: Any = None  # transforms.state.memory.MemoryPlan: the --state generations, resolved at launch
    topics_path: str = ""
    window_seconds: int = 60
    streaming: bool = False  # Beam's --streaming: build_pipeline builds the streaming graph
    streaming_options: StreamingConfig = StreamingConfig()
    allow_private_networks: bool = False
    read: ReadConfig = ReadConfig()
    input_fields: Any = None  # transforms.io.fieldmap.FieldMap: which JSON field gives which article field
    normalize: NormalizeConfig = NormalizeConfig()
    language: LanguageConfig = LanguageConfig()
    dedup: DedupConfig = DedupConfig()
    stories: StoryParams = StoryParams()
    output_options: OutputConfig = OutputConfig()
    bigquery: Any = None  # transforms.io.bigquery.BigQueryTarget (--bigquery_dataset), resolved at launch
    tuning: TuningConfig = TuningConfig()
    config_path: str = ""
    progress_dir: str | None = None  # a local run the launcher watches: progress counts go here
    run_info: Any = None  # summary.json's "run": runner, versions, inputs, started_at (set by the launcher)


_SECTIONS: dict[str, type] = {
    "read": ReadConfig,
    "normalize": NormalizeConfig,
    "language": LanguageConfig,
    "dedup": DedupConfig,
    "stories": StoryParams,
    "output": OutputConfig,
    "streaming": StreamingConfig,
}
_TOP_LEVEL = {"version", "topics", "feeds", "beam_defaults", "beam_defaults_min_input_mb", "tuning", "input", *_SECTIONS}
_FIELD_OF_SECTION = {"output": "output_options", "streaming": "streaming_options"}


def _check_type(where: str, value: Any, expected: type) -> Any:
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}: must not be negative, got {value!r}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if expected is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
        return value
    raise AssertionError(expected)


def _section(name: str, cls: type, raw: Any, source: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section '{name}' must be a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key '{name}.{key}' (known: {known})")
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            values[key] = _section(f"{name}.{key}", type(default), value, source)
        else:
            values[key] = _check_type(f"{source}: '{name}.{key}'", value, type(default))
    return cls(**values)


def _check_near(near: NearDupConfig, source: str) -> None:
    where = f"{source}: 'dedup.near"
    if not 0 < near.threshold <= 1:
        raise ConfigError(f"{where}.threshold' must be above 0 and at most 1, got {near.threshold}")
    if near.num_perm < 16:
        raise ConfigError(f"{where}.num_perm' must be at least 16, got {near.num_perm}")
    if near.shingle_k < 1:
        raise ConfigError(f"{where}.shingle_k' must be at least 1, got {near.shingle_k}")
    if (near.bands == 0) != (near.rows == 0):
        raise ConfigError(f"{where}': give both bands and rows, or neither (0: derived from the threshold)")
    if near.bands * near.rows > near.num_perm:
        raise ConfigError(f"{where}': bands*rows = {near.bands * near.rows} exceeds num_perm = {near.num_perm}")


def _tuning(raw: Any, source: str) -> TuningConfig:
    """The ``tuning:`` section: ``run_length`` >= 1; each switch ``auto``, ``on`` or ``off``
    (YAML's true/false mean on/off)."""
    if raw is None:
        return TuningConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section 'tuning' must be a mapping, got {type(raw).__name__}")
    fields = {f.name for f in dataclasses.fields(TuningConfig)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"{source}: unknown key 'tuning.{key}' (known: {', '.join(sorted(fields))})")
        if key == "run_length":
            values[key] = _check_type(f"{source}: 'tuning.run_length'", value, int)
            if values[key] < 1:
                raise ConfigError(f"{source}: 'tuning.run_length' must be at least 1 (1: element by element)")
            continue
        if isinstance(value, bool):
            value = "on" if value else "off"
        if value not in SWITCH_VALUES:
            raise ConfigError(f"{source}: 'tuning.{key}' must be one of {', '.join(SWITCH_VALUES)}, got {value!r}")
        values[key] = value
    return TuningConfig(**values)


def _input(raw: Any, source: str) -> FieldMap:
    """The ``input:`` section: ``preset`` (a name in configs/input_fields.yaml, default
    ``auto``) and ``fields`` (article field -> input name or list of names, tried in order)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section 'input' must be a mapping, got {type(raw).__name__}")
    unknown = set(raw) - {"preset", "fields"}
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))} in 'input' (known: fields, preset)")
    preset = raw.get("preset", DEFAULT_PRESET)
    if not isinstance(preset, str):
        raise ConfigError(f"{source}: 'input.preset' must be a preset name, got {preset!r}")
    try:
        return field_map(preset, raw.get("fields"))
    except (ValueError, OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _resolve(path: str, base_dir: str) -> str:
    """``path`` as written in a config whose folder is ``base_dir`` (a folder or a URL prefix)."""
    if "://" in path or os.path.isabs(path):
        return path
    if "://" in base_dir:
        return f"{base_dir.rstrip('/')}/{path}"
    return os.path.normpath(os.path.join(os.path.abspath(base_dir), path))


def parse_config(raw: Any, source: str = "<config>", base_dir: str = ".") -> JobConfig:
    """Validate a parsed YAML document into a :class:`JobConfig` (no inputs or output yet)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    unknown = set(raw) - _TOP_LEVEL
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {', '.join(sorted(map(str, unknown)))} (known: {', '.join(sorted(_TOP_LEVEL))})"
        )
    version = raw.get("version", 1)
    if version != 1:
        raise ConfigError(f"{source}: 'version' must be 1, got {version!r}")
    kwargs: dict[str, Any] = {"config_path": source}
    for name, cls in _SECTIONS.items():
        kwargs[_FIELD_OF_SECTION.get(name, name)] = _section(name, cls, raw.get(name), source)
    topics = raw.get("topics")
    kwargs["topics_path"] = (
        DEFAULT_TOPICS if topics is None else _resolve(_check_type(f"{source}: 'topics'", topics, str), base_dir)
    )
    feeds = raw.get("feeds") or []
    if isinstance(feeds, str):
        kwargs["feeds_config_path"] = _resolve(feeds, base_dir)
        feeds = []
    if not isinstance(feeds, list) or not all(isinstance(f, str) and f for f in feeds):
        raise ConfigError(f"{source}: 'feeds' must be the path of a feeds YAML file or a list of URLs")
    kwargs["feeds"] = tuple(feeds)
    beam_defaults = raw.get("beam_defaults") or {}
    if not isinstance(beam_defaults, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in beam_defaults.items()
    ):
        raise ConfigError(f"{source}: 'beam_defaults' must map Beam option names to single values")
    kwargs["beam_defaults"] = tuple(sorted(beam_defaults.items()))
    kwargs["beam_defaults_min_input_mb"] = _check_type(
        f"{source}: 'beam_defaults_min_input_mb'", raw.get("beam_defaults_min_input_mb", 0), int
    )
    kwargs["tuning"] = _tuning(raw.get("tuning"), source)
    kwargs["input_fields"] = _input(raw.get("input"), source)
    config = JobConfig(**kwargs)
    for key in ("min_confidence", "predetector_min_prob"):
        if getattr(config.language, key) > 1:
            raise ConfigError(f"{source}: 'language.{key}' must be between 0 and 1")
    _check_near(config.dedup.near, source)
    if config.output_options.format not in OUTPUT_FORMATS:
        raise ConfigError(
            f"{source}: 'output.format' must be one of {', '.join(OUTPUT_FORMATS)}, got {config.output_options.format!r} "
            "(articles/ is always JSON Lines; 'both' adds the Parquet tables articles_parquet/, stories_parquet/, "
            "topics_parquet/, dead_letter_parquet/)"
        )
    if config.dedup.retention_days <= 0:
        raise ConfigError(f"{source}: 'dedup.retention_days' must be above 0, got {config.dedup.retention_days}")
    for key, value in dataclasses.asdict(config.streaming_options).items():
        if value < 0 or (value == 0 and key != "allowed_lateness_seconds" and key != "settle_seconds"):
            raise ConfigError(f"{source}: 'streaming.{key}' must be a positive number of seconds/hours, got {value}")
    if not 10 <= config.streaming_options.pubsub_ack_seconds <= 600:
        raise ConfigError(
            f"{source}: 'streaming.pubsub_ack_seconds' must be 10-600 (Pub/Sub's ack deadline range), "
            f"got {config.streaming_options.pubsub_ack_seconds:g}"
        )
    return config


def _read_text(path: str) -> str:
    if "://" in path:  # gs://... (the Flex Template's config parameter)
        try:
            with FileSystems.open(path, compression_type="uncompressed") as fh:
                return fh.read().decode("utf-8")
        except Exception as exc:  # noqa: BLE001 - any failure to read it is a config error
            raise ConfigError(f"config file cannot be read: {path}: {type(exc).__name__}".splitlines()[0]) from None
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file cannot be read: {path}: {exc}".splitlines()[0]) from None


def load_config(path: str | None = None) -> JobConfig:
    """Read and validate a YAML config file (default: the shipped ``configs/local.yaml``)."""
    path = path or DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    base_dir = path.rsplit("/", 1)[0] if "://" in path else os.path.dirname(os.path.abspath(path))
    config = parse_config(raw, source=path, base_dir=base_dir)
    for what, file in (("topics taxonomy", config.topics_path), ("feeds config", config.feeds_config_path)):
        if file and "://" not in file and not os.path.exists(file):
            raise ConfigError(f"{path}: {what} not found: {file}")
    return config
