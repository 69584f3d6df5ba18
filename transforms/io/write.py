"""Writing the three outputs and the run summary under ``--output``.

Layout (all JSON Lines, ``.jsonl`` or ``.jsonl.gz``)::

    <output>/articles/articles-SSSSS-of-NNNNN.jsonl
    <output>/stories/stories-SSSSS-of-NNNNN.jsonl
    <output>/dead_letter/dead_letter-SSSSS-of-NNNNN.jsonl
    <output>/summary.json          one JSON object: the run's counts, and what ran (``run``)

Streaming jobs write one file set per window instead (:func:`window_file_naming`):
``<name>-<window start>-<window end>-<job>-SSSSS-of-NNNNN.jsonl`` with times as
``2026-12-07T05-30-00Z`` (no ``:``, which Hadoop, Spark and Windows cannot read).

Beam writes shards to a temporary folder and renames them when the bundle is
committed, so readers never see partial files.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.common.unicode import deep_valid_unicode, valid_unicode

try:
    import orjson
except ImportError:  # pragma: no cover - setup.py installs it; json writes the same lines, ~3x slower
    orjson = None

ARTICLE_FIELDS = (
    "id",
    "url",
    "source",
    "title",
    "text",
    "published_at",
    "language",
    "language_confidence",
    "dedup",
    "story_id",
    "topics",
)
OUTPUT_DIRS = ("articles", "stories", "dead_letter")
SUMMARY_FILE = "summary.json"


def to_json_line(record: dict, order: Iterable[str] = ()) -> str:
    """One JSON line, known fields first in ``order``, the rest sorted; non-ASCII kept.

    orjson writes it (~8 us for an article, json.dumps ~25 us); what orjson refuses,
    json writes. Both give the same compact line (floats may differ in exponent
    spelling only: ``1e-7`` for ``1e-07``)."""
    ordered = {k: record.get(k) for k in order}
    for key in sorted(record):
        if key not in ordered:
            ordered[key] = record[key]
    if orjson is not None:
        try:
            return orjson.dumps(ordered).decode("utf-8")
        except TypeError:  # orjson.JSONEncodeError: ints over 64 bits, lone surrogates, odd keys ...
            pass
    line = json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))
    if valid_unicode(line)[1]:  # a lone surrogate that got past the readers: U+FFFD, not a crash in the writer
        line = json.dumps(deep_valid_unicode(ordered), ensure_ascii=False, separators=(",", ":"))
    return line


def output_path(output: str, *parts: str) -> str:
    return FileSystems.join(output.rstrip("/"), *parts) if output else "/".join(parts)


def window_stamp(seconds: float) -> str:
    """A window bound as a file-name part: ``2026-12-07T05-30-00Z`` (UTC, no ``:``)."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")


def window_file_name(
    prefix: str, start: float, end: float, job: str, shard: int, total: int, suffix: str = ".jsonl"
) -> str:
    """``articles-2026-12-07T05-30-00Z-2026-12-07T05-31-00Z-3f9a12c0-00000-of-00001.jsonl``.

    ``job`` (a fresh id per streaming job) keeps a restarted job from overwriting
    the files an earlier job wrote for the same window."""
    return f"{prefix}-{window_stamp(start)}-{window_stamp(end)}-{job}-{shard:05d}-of-{total:05d}{suffix}"


def window_file_naming(prefix: str, suffix: str, job: str):
    """A ``fileio.WriteToFiles`` ``file_naming`` callable using :func:`window_file_name`."""

    def name(window, pane, shard_index, total_shards, compression, destination) -> str:
        start = float(window.start.micros) / 1e6 if hasattr(window, "start") else 0.0
        end = float(window.end.micros) / 1e6 if hasattr(window, "end") else 0.0
        return window_file_name(prefix, start, end, job, shard_index or 0, total_shards or 1, suffix)

    return name


_DIGITS = re.compile(r"\d+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def reason_class(error: str) -> str:
    """A dead-letter reason with its particulars (numbers, quoted values) folded, the key the
    summary groups reasons by: ``line 7 is 20971520 bytes`` -> ``line N is N bytes``."""
    folded = _QUOTED.sub("'…'", _DIGITS.sub("N", error.split("\n", 1)[0]))
    return folded[:90]


def reason_example(record: dict) -> tuple[str, str]:
    """``(source, error)`` of a dead letter as the summary shows it: the real reason, first line."""
    error = (record.get("error") or "").split("\n", 1)[0]
    return str(record.get("source") or ""), error[:300] + ("…" if len(error) > 300 else "")


def summary_view(article: dict) -> dict:
    """The few fields of an article the summary counts (keeps the combine light)."""
    return {
        "dedup": {"status": (article.get("dedup") or {}).get("status", "unique")},
        "language": article.get("language"),
        "topics": [t["name"] for t in article.get("topics") or ()],
    }


class SummaryFn(beam.CombineFn):
    """Counts for the end-of-run summary, from tagged ``(kind, record)`` pairs
    (articles as :func:`summary_view`)."""

    def create_accumulator(self) -> dict[str, collections.Counter]:
        return collections.defaultdict(collections.Counter)

    def add_input(self, acc: dict, item: tuple[str, dict]) -> dict:
        kind, record = item
        if kind == "article":
            acc["totals"]["articles"] += 1
            acc["dedup"][(record.get("dedup") or {}).get("status", "unique")] += 1
            acc["languages"][record.get("language") or "und"] += 1
            for name in record.get("topics") or ():
                acc["topics"][name] += 1
        elif kind == "story":
            acc["totals"]["stories"] += 1
            if len(record.get("article_ids") or ()) > 1:
                acc["totals"]["multi_article_stories"] += 1
        else:
            count = record.get("count") or 1  # one record may stand for many (a per-file cap)
            acc["totals"]["dead_letters"] += count
            key = f"{record.get('stage')}: {reason_class(record.get('error') or '')}"
            acc["dead_letters"][key] += count
            example = reason_example(record)
            examples = acc["examples"]  # one real example per reason: the smallest (source, error), any order
            if key not in examples or example < examples[key]:
                examples[key] = example
        return acc

    def merge_accumulators(self, accs: Iterable[dict]) -> dict:
        merged = self.create_accumulator()
        for acc in accs:
            for section, counter in acc.items():
                if section == "examples":
                    for key, example in counter.items():
                        if key not in merged[section] or example < merged[section][key]:
                            merged[section][key] = example
                else:
                    merged[section].update(counter)
        return merged

    def extract_output(self, acc: dict) -> dict[str, Any]:
        totals = acc.get("totals", collections.Counter())
        return {
            "inputs": totals["articles"] + totals["dead_letters"],
            "articles": totals["articles"],
            "stories": totals["stories"],
            "multi_article_stories": totals["multi_article_stories"],
            "dead_letters": totals["dead_letters"],
            "dedup": dict(sorted(acc.get("dedup", {}).items())),
            "languages": dict(acc.get("languages", collections.Counter()).most_common()),
            "topics": dict(acc.get("topics", collections.Counter()).most_common()),
            "dead_letter_reasons": dict(acc.get("dead_letters", collections.Counter()).most_common()),
            "dead_letter_examples": {
                key: {"source": source, "error": error} for key, (source, error) in sorted(acc.get("examples", {}).items())
            },
        }


def summary_json(counts: dict, run_info: dict) -> str:
    """``summary.json``: the counts, and under ``run`` what ran (``finished_at``: now, when the
    last counts are in)."""
    summary = dict(counts)
    if run_info:
        finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        summary["run"] = {**run_info, "finished_at": finished}
    return json.dumps(summary, ensure_ascii=False, indent=1)


class WriteOutputs(beam.PTransform):
    """Write articles, stories, dead letters and ``summary.json`` under ``output``.

    Applied to a dict ``{"articles": ..., "stories": ..., "dead_letter": ...}``.
    """

    def __init__(self, output: str, compress: bool = False, num_shards: int = 0, run_info: dict | None = None):
        super().__init__()
        self._output = output
        self._suffix = ".jsonl.gz" if compress else ".jsonl"
        self._num_shards = num_shards
        self._run_info = dict(run_info or {})  # summary.json's "run": runner, versions, inputs, started_at

    def _write(self, pcoll: beam.PCollection, name: str, order: Iterable[str]) -> beam.PCollection:
        order = tuple(order)
        return (
            pcoll
            | f"Serialize{name.title().replace('_', '')}" >> beam.Map(to_json_line, order)
            | f"Write{name.title().replace('_', '')}"
            >> beam.io.WriteToText(
                output_path(self._output, name, name),
                file_name_suffix=self._suffix,
                num_shards=self._num_shards,
            )
        )

    def expand(self, outputs: dict[str, beam.PCollection]) -> beam.PCollection:
        self._write(outputs["articles"], "articles", ARTICLE_FIELDS)
        self._write(outputs["stories"], "stories", ("story_id", "headline", "article_ids"))
        self._write(outputs["dead_letter"], "dead_letter", ("source", "stage", "error", "excerpt"))
        tagged = [
            outputs["articles"] | "TagArticlesForSummary" >> beam.Map(lambda r: ("article", summary_view(r))),
            outputs["stories"]
            | "TagStoriesForSummary"
            >> beam.Map(lambda r: ("story", {"article_ids": r.get("article_ids") or []})),
            outputs["dead_letter"] | "TagDeadLettersForSummary" >> beam.Map(lambda r: ("dead_letter", r)),
        ]
        return (
            tagged
            | "FlattenForSummary" >> beam.Flatten()
            | "Summarize" >> beam.CombineGlobally(SummaryFn())
            | "SerializeSummary" >> beam.Map(summary_json, self._run_info)
            | "WriteSummary"
            >> beam.io.WriteToText(output_path(self._output, SUMMARY_FILE), num_shards=1, shard_name_template="")
        )
