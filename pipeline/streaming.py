"""``build_streaming_pipeline(p, config)``: the newsbeam graph under ``--streaming``.

    WatchInputs (new files, feed polls) -> ReadWatchedFiles / PollWatchedFeeds
    ReadPubSubArticles (--input pubsub://projects/P/subscriptions/S: one JSON article per message)
      -> DivertLate (behind the watermark: dead letter) -> FixedWindows(--window-seconds)
      -> NormalizeArticles -> DetectLanguage -> TagTopics -> TagEntities (the batch composites, unchanged)
      -> MarkDuplicatesAcrossWindows (per-key state + expiry timers)
      -> AssignStoriesAcrossWindows (story memory keyed by block key, root, shard) -> BuildStories
      -> WriteWindowed (articles/, stories/, dead_letter/: one file set per window)
      -> RecordSeenFiles (after a window's files: its watched paths, read by the next job)
      -> SummarizeWindows (summary/: one summary per window, the batch summary's counts)
      -> PublishArticles (--output-topic projects/P/topics/T: one JSON article per message)

Windows are event-time fixed windows of ``window_seconds``; elements are
timestamped when their file or feed poll is discovered, so a window's files
appear shortly after it ends; Pub/Sub messages carry their publish time.
See docs/streaming.md for what differs from batch.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner, SwitchingDirectRunner
from apache_beam.transforms import window

from pipeline.config import ConfigError, JobConfig
from pipeline.options import NewsbeamOptions
from pipeline.enrich import enrich_articles
from transforms.common.stage import DEAD_LETTER, MAIN, GuardedMap, guarded
from transforms.io.bigquery import WriteBigQuery
from transforms.io.fileformats import DEFAULT_MAX_FILE_BYTES, article_from_object
from transforms.io.http import FetchOptions
from transforms.io.poll import CACHE_UPDATES, PollFeedsFn
from transforms.io.read import ReadFileFn
from transforms.common.records import RejectedInput, reject
from transforms.state.memory import ReadMemory
from transforms.stories.records import BuildStories
from transforms.stories.streaming import AssignStoriesAcrossWindows
from transforms.dedup.streaming import DivertLate, MarkDuplicatesAcrossWindows
from transforms.io.items import SkipSeenEntries, settle_committed
from transforms.io.seen import RecordSeenFiles, seen_folder
from pipeline.pubsub_live import (  # noqa: F401 - re-exported: the Pub/Sub names of the streaming job
    PUBSUB,
    PUBSUB_SCHEME,
    LivePubSubPoller,
    decode_message,
    encode_message,
    message_origin,
)
from transforms.io.watch import (
    ELEMENT_CODER,
    FEED,
    FILE,
    LivePoller,
    WatchInputs,
    start_live_feeder,
)
from transforms.io.write import ARTICLE_FIELDS, SummaryFn, output_path, summary_view, to_json_line, window_file_naming

_log = logging.getLogger(__name__)

LATENESS_KEY = "watermark"  # one key: its timers must see every window's deadline (see DivertLate)

_SUBSCRIPTION = re.compile(r"projects/[^/\s]+/subscriptions/[^/\s]+")
_TOPIC = re.compile(r"projects/[^/\s]+/topics/[^/\s]+")


def split_pubsub_inputs(inputs: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(file patterns, Pub/Sub subscription paths)`` from ``--input`` values.

    ``pubsub://projects/P/subscriptions/S`` names a subscription; anything else
    is a file pattern. Raises ``ConfigError`` for a malformed Pub/Sub input.
    """
    patterns, subscriptions = [], []
    for value in inputs:
        if not value.startswith(PUBSUB_SCHEME):
            patterns.append(value)
            continue
        path = value[len(PUBSUB_SCHEME) :]
        if not _SUBSCRIPTION.fullmatch(path):
            raise ConfigError(f"--input {value}: expected pubsub://projects/PROJECT/subscriptions/SUBSCRIPTION")
        _check_project(path, "--input")
        subscriptions.append(path)
    return tuple(patterns), tuple(dict.fromkeys(subscriptions))


def check_topic(topic: str) -> str:
    """``topic`` if it is a full topic path, else ``ConfigError``."""
    if not _TOPIC.fullmatch(topic):
        raise ConfigError(f"--output-topic {topic}: expected projects/PROJECT/topics/TOPIC")
    _check_project(topic, "--output-topic")
    return topic


def _check_project(path: str, flag: str) -> None:
    """Beam's (and Pub/Sub's) rule for project ids, checked before the graph is built."""
    from apache_beam.io.gcp.pubsub import PROJECT_ID_REGEXP

    project = path.split("/")[1]
    if not re.fullmatch(PROJECT_ID_REGEXP, project):
        raise ConfigError(f"{flag}: invalid project id {project!r} (6-30 lowercase letters, digits, hyphens)")


def article_from_message(data: bytes, origin: str) -> dict[str, Any]:
    """One RawArticle from a message body holding one JSON article (the ``.jsonl``
    line format), or ``RejectedInput``."""
    if not data or not data.strip():
        raise RejectedInput("empty message")
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RejectedInput(f"message is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RejectedInput(f"message is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return article_from_object(obj, origin, "pubsub")


def _message_element(message: Any, subscription: str) -> dict[str, Any]:
    """A ``PubsubMessage`` as the element ``GuardedMap`` sees: its origin and body."""
    data = message.data or b""
    return {
        "origin": message_origin(subscription, getattr(message, "message_id", None)),
        "data": data,
        "text": data,  # GuardedMap's dead-letter excerpt
    }


class WatchInputsAndPubSub(beam.PTransform):
    """DirectRunner: files, feeds and Pub/Sub subscriptions from one live poller,
    served as a ``TestStream`` (see transforms/io/watch.py): ``(kind, value)`` pairs."""

    def __init__(self, patterns, feeds, subscriptions, *, poll_seconds, feed_poll_seconds, settle_seconds, seen=None,
                 ack_seconds=60.0):  # fmt: skip
        super().__init__()
        self._args = (tuple(patterns), tuple(feeds), tuple(subscriptions), poll_seconds, feed_poll_seconds,
                      settle_seconds, seen, ack_seconds)  # fmt: skip

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        from apache_beam.testing.test_stream import TestStream

        patterns, feeds, subscriptions, poll, feed_poll, settle, seen, ack_seconds = self._args
        files = LivePoller(patterns, feeds, poll, feed_poll, settle, seen=seen)
        poller = LivePubSubPoller(
            subscriptions, files, poll, seen=seen, ack_on_commit=seen is not None, lease_seconds=ack_seconds
        )
        endpoint = start_live_feeder(poller)
        return pbegin | "LiveEvents" >> TestStream(coder=ELEMENT_CODER, endpoint=endpoint)


def _parse_message(element: dict[str, Any]) -> dict[str, Any]:
    return article_from_message(element["data"], element["origin"])


class ReadPubSubArticles(beam.PTransform):
    """Read JSON articles from Pub/Sub subscriptions; return ``(raw articles, dead letters)``.

    Elements are stamped with the message's publish time. Messages are
    acknowledged by the runner once read: a bad message becomes a dead letter,
    never a redelivery loop.
    """

    def __init__(self, subscriptions: Sequence[str]):
        super().__init__()
        self._subscriptions = tuple(subscriptions)

    def expand(self, pbegin: beam.pvalue.PBegin):
        articles, dead_letters = [], []
        for i, sub in enumerate(self._subscriptions):
            raw, dead = guarded(
                f"ParseMessages{i}",
                pbegin
                | f"ReadFromPubSub{i}" >> beam.io.ReadFromPubSub(subscription=sub, with_attributes=True)
                | f"MessageElements{i}" >> beam.Map(_message_element, sub),
                GuardedMap("read", _parse_message),
            )
            articles.append(raw)
            dead_letters.append(dead)
        if len(articles) == 1:
            return articles[0], dead_letters[0]
        return (articles | "FlattenArticles" >> beam.Flatten(), dead_letters | "FlattenDeadLetters" >> beam.Flatten())


def _article_message(record: dict[str, Any]) -> bytes:
    return to_json_line(record, ARTICLE_FIELDS).encode("utf-8")


class PublishArticles(beam.PTransform):
    """Publish each enriched article record as one JSON message on ``topic``."""

    def __init__(self, topic: str):
        super().__init__()
        self._topic = topic

    def expand(self, articles: beam.PCollection):
        return (
            articles
            | "ToMessages" >> beam.Map(_article_message)
            | "WriteToPubSub" >> beam.io.WriteToPubSub(topic=self._topic)
        )


def uses_live_feeder(p: beam.Pipeline) -> bool:
    """The Python DirectRunner needs the TestStream-served poller (see transforms/io/watch.py)."""
    return p.runner is None or isinstance(p.runner, (SwitchingDirectRunner, BundleBasedDirectRunner))


def _split_watched(item: tuple[str, str]):
    kind, value = item
    if kind == FILE:
        yield value
    elif kind == FEED:
        yield beam.pvalue.TaggedOutput(FEED, value)
    elif kind == PUBSUB:
        yield beam.pvalue.TaggedOutput(PUBSUB, value)
    else:
        yield beam.pvalue.TaggedOutput(
            DEAD_LETTER, reject(value.split("'")[1] if "'" in value else value, "streaming", value).to_record()
        )


class WriteWindowed(beam.PTransform):
    """Write each window's records as JSON Lines under ``<output>/<name>/``, one file
    set per window and job (``<name>-<window start>-<window end>-<job>-SSSSS-of-NNNNN.jsonl``,
    times as ``2026-12-07T05-30-00Z``: see ``transforms.io.write.window_file_name``);
    return the written files' ``FileResult``s, in their windows."""

    def __init__(
        self, output: str, name: str, order: tuple[str, ...], shards: int = 1, compress: bool = False, job: str = ""
    ):
        super().__init__()
        self._output, self._name, self._order = output, name, order
        self._job = job or new_job_id()
        self._shards = max(1, shards)
        self._suffix = ".jsonl.gz" if compress else ".jsonl"

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        order = self._order
        return (
            records
            | "Serialize" >> beam.Map(to_json_line, order)
            | "WriteFiles"
            >> fileio.WriteToFiles(
                path=output_path(self._output, self._name),
                file_naming=window_file_naming(self._name, self._suffix, self._job),
                shards=self._shards,
                temp_directory=StaticValueProvider(str, output_path(self._output, ".tmp", self._name)),
            )
        )


def new_job_id() -> str:
    """A short id naming one streaming job's window files and seen-files parts."""
    return uuid.uuid4().hex[:8]


def _summary_json(summary: dict) -> str:
    return json.dumps(summary, ensure_ascii=False, sort_keys=False)


class SummarizeWindows(beam.PTransform):
    """``{"articles", "stories", "dead_letter"}`` -> one summary per window (the batch
    ``summary.json`` counts: ``SummaryFn``), written as one JSON line under
    ``<output>/summary/summary-<window start>-<window end>-<job>-00000-of-00001.jsonl``."""

    def __init__(self, output: str, job: str = "") -> None:
        super().__init__()
        self._output = output
        self._job = job or new_job_id()

    def expand(self, outputs: dict[str, beam.PCollection]) -> beam.PCollection:
        tagged = [
            outputs["articles"] | "TagArticles" >> beam.Map(lambda r: ("article", summary_view(r))),
            outputs["stories"] | "TagStories" >> beam.Map(lambda r: ("story", {"article_ids": r.get("article_ids")})),
            outputs["dead_letter"] | "TagDeadLetters" >> beam.Map(lambda r: ("dead_letter", r)),
        ]
        summaries = (
            tagged
            | "FlattenForSummary" >> beam.Flatten()
            | "Summarize" >> beam.CombineGlobally(SummaryFn()).without_defaults()
        )
        if self._output:
            (
                summaries
                | "SerializeSummary" >> beam.Map(_summary_json)
                | "WriteSummaries"
                >> fileio.WriteToFiles(
                    path=output_path(self._output, "summary"),
                    file_naming=window_file_naming("summary", ".jsonl", self._job),
                    shards=1,
                    temp_directory=StaticValueProvider(str, output_path(self._output, ".tmp", "summary")),
                )
            )
        return summaries


def build_streaming_pipeline(p: beam.Pipeline, config: JobConfig) -> dict[str, beam.PCollection]:
    """Add the streaming job to ``p``; return its final PCollections (for tests)."""
    opts = config.streaming_options
    patterns, subscriptions = split_pubsub_inputs(config.inputs)
    output_topic = p.options.view_as(NewsbeamOptions).output_topic if p.options is not None else None
    watched = pubsub = None
    live = uses_live_feeder(p)
    seen = seen_folder(config.output) if config.output else None
    if live and subscriptions:
        watched = p | "WatchInputs" >> WatchInputsAndPubSub(
            patterns,
            config.feeds,
            subscriptions,
            poll_seconds=opts.poll_seconds,
            feed_poll_seconds=opts.feed_poll_seconds,
            settle_seconds=opts.settle_seconds,
            seen=seen,
            ack_seconds=opts.pubsub_ack_seconds,
        )
    elif patterns or config.feeds:
        watched = p | "WatchInputs" >> WatchInputs(
            patterns,
            config.feeds,
            poll_seconds=opts.poll_seconds,
            feed_poll_seconds=opts.feed_poll_seconds,
            settle_seconds=opts.settle_seconds,
            live_feeder=live,
            seen=seen,
        )
    if subscriptions and not live:
        pubsub = p | "ReadPubSubArticles" >> ReadPubSubArticles(subscriptions)
    prior = None
    if config.memory is not None and config.memory.previous:  # --state: continue a batch run's stories
        prior = p | "ReadMemory" >> ReadMemory(config.memory)
    return build_streaming_stages(
        watched, config, pubsub=pubsub, output_topic=check_topic(output_topic) if output_topic else None, prior=prior
    )


def build_streaming_stages(
    watched: beam.PCollection | None,
    config: JobConfig,
    pubsub: tuple[beam.PCollection, beam.PCollection] | None = None,
    output_topic: str | None = None,
    prior: tuple[beam.PCollection, beam.PCollection] | None = None,
) -> dict[str, beam.PCollection]:
    """Everything after the source: ``watched`` is ``(kind, value)`` pairs (see
    transforms/io/watch.py; tests feed it from a ``TestStream``), ``pubsub`` the
    ``(raw articles, dead letters)`` of ``ReadPubSubArticles``; at least one of them.
    ``output_topic`` (``projects/P/topics/T``) also receives every article record; ``prior``
    the ``(records, dead letters)`` of ``ReadMemory``: a batch run's stories that this stream continues."""
    opts = config.streaming_options
    dead_letters = []
    sources = []
    items: list[beam.PCollection] = []  # item keys of feed entries and pulled messages, for the commit
    if pubsub is not None:
        sources.append(pubsub[0])
        dead_letters.append(pubsub[1])
    if watched is not None:
        split = watched | "SplitWatched" >> beam.FlatMap(_split_watched).with_outputs(
            FEED, PUBSUB, DEAD_LETTER, main=MAIN
        )
        dead_letters.append(split[DEAD_LETTER])
    if watched is not None and pubsub is None and split_pubsub_inputs(config.inputs)[1]:  # WatchInputsAndPubSub
        messages, dead = guarded(
            "ParsePulledMessages",
            split[PUBSUB] | "DecodePulledMessages" >> beam.Map(decode_message),
            GuardedMap("read", _parse_message),
        )
        sources.append(messages)
        dead_letters.append(dead)
        items.append(split[PUBSUB] | "MessageKeys" >> beam.Map(lambda v: v.partition("\n")[0]))
    if watched is not None:
        read = split[MAIN] | "ReadWatchedFiles" >> beam.ParDo(
            ReadFileFn(
                config.read.max_article_bytes,
                DEFAULT_MAX_FILE_BYTES,
                config.read.max_dead_letters_per_file,
                config.input_fields,
            )
        ).with_outputs(DEAD_LETTER, main=MAIN)
        dead_letters.append(read[DEAD_LETTER])
        sources.append(read[MAIN])
    if not sources:
        raise ValueError("build_streaming_stages needs watched inputs or a Pub/Sub source")
    if watched is not None and config.feeds:
        fetch_options = (config.fetch_options or FetchOptions()).with_settings(
            **({"allow_private_networks": True} if config.allow_private_networks else {})
        )
        polled = split[FEED] | "PollWatchedFeeds" >> beam.ParDo(
            PollFeedsFn(fetch_options, config.state, 200)
        ).with_outputs(DEAD_LETTER, CACHE_UPDATES, main=MAIN)
        dead_letters.append(polled[DEAD_LETTER])
        entries, keys = polled[MAIN] | "SkipSeenEntries" >> SkipSeenEntries(
            seen_folder(config.output) if config.output else None
        )
        sources.append(entries)
        items.append(keys)
    raw = sources | "FlattenSources" >> beam.Flatten() if len(sources) > 1 else sources[0]

    on_time = (
        raw
        | "KeyForLateness" >> beam.Map(lambda r: (LATENESS_KEY, r))
        | "DivertLate"
        >> beam.ParDo(DivertLate(config.window_seconds, opts.allowed_lateness_seconds, DEAD_LETTER)).with_outputs(
            DEAD_LETTER, main=MAIN
        )
    )
    dead_letters.append(on_time[DEAD_LETTER])
    windowfn = window.FixedWindows(config.window_seconds)
    lateness = opts.allowed_lateness_seconds
    raw = on_time[MAIN] | "Window" >> beam.WindowInto(windowfn, allowed_lateness=lateness)

    articles = enrich_articles(raw, config, dead_letters)

    articles = articles | "MarkDuplicatesAcrossWindows" >> MarkDuplicatesAcrossWindows(
        windowfn,
        by_url=config.dedup.by_url,
        by_content=config.dedup.by_content,
        near=config.dedup.near,
        retention_seconds=opts.retention_hours * 3600.0,
        allowed_lateness=lateness,
    )
    articles = articles | "AssignStoriesAcrossWindows" >> AssignStoriesAcrossWindows(
        windowfn,
        config.stories,
        retention_seconds=config.dedup.retention_days * 86400.0,
        allowed_lateness=lateness,
        prior=None if prior is None else prior[0],
    )
    if prior is not None:
        dead_letters.append(prior[1])
    stories = articles | "BuildStories" >> BuildStories()
    dead_letter = [
        d | f"DeadLettersIntoWindows{i}" >> beam.WindowInto(windowfn, allowed_lateness=lateness)
        for i, d in enumerate(dead_letters)
    ] | "FlattenDeadLetters" >> beam.Flatten()

    job = new_job_id()  # names this job's window files and its seen-files parts
    if config.output:
        out = config.output_options
        shards = out.num_shards or 1
        written = [
            articles
            | "WriteArticles" >> WriteWindowed(config.output, "articles", ARTICLE_FIELDS, shards, out.compress, job),
            stories
            | "WriteStories"
            >> WriteWindowed(
                config.output, "stories", ("story_id", "headline", "article_ids"), shards, out.compress, job
            ),
            dead_letter
            | "WriteDeadLetters"
            >> WriteWindowed(
                config.output, "dead_letter", ("source", "stage", "error", "excerpt"), shards, out.compress, job
            ),
        ]
        # a window (and its watched files) is committed once its outputs are written
        done = (written | "FlattenWritten" >> beam.Flatten(),) + ((split[MAIN],) if watched is not None else ())
        if items and watched is not None:
            done += (items[0] if len(items) == 1 else items | "FlattenItems" >> beam.Flatten(),)
        done | "RecordSeenFiles" >> RecordSeenFiles(
            seen_folder(config.output), job, config.window_seconds, lateness, on_commit=settle_committed
        )
    outputs = {"articles": articles, "stories": stories, "dead_letter": dead_letter}
    outputs["summary"] = outputs | "SummarizeWindows" >> SummarizeWindows(config.output, job)
    if output_topic:
        articles | "PublishArticles" >> PublishArticles(output_topic)
    if config.bigquery is not None:  # --bigquery_dataset: the analyst tables, Storage Write API
        outputs | "WriteBigQuery" >> WriteBigQuery(config.bigquery)
    return outputs
