"""``build_streaming_pipeline(p, config)``: the newsbeam graph under ``--streaming``.

    WatchInputs (new files, feed polls; or Pub/Sub) -> ReadWatchedFiles / PollWatchedFeeds
      -> DivertLate (behind the watermark: dead letter) -> FixedWindows(--window-seconds)
      -> NormalizeArticles -> DetectLanguage -> TagTopics          (the batch composites, unchanged)
      -> MarkDuplicatesAcrossWindows (per-key state + expiry timers) -> BuildStories
      -> WriteWindowed (articles/, stories/, dead_letter/: one file set per window)

Windows are event-time fixed windows of ``window_seconds``; elements are
timestamped when their file or feed poll is discovered, so a window's files
appear shortly after it ends. See docs/streaming.md for what differs from batch.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner, SwitchingDirectRunner
from apache_beam.transforms import window

from pipeline.config import JobConfig
from transforms.beamutil import DEAD_LETTER, MAIN
from transforms.fetch import CACHE_UPDATES, FetchOptions, _PollFeedsFn
from transforms.language import DetectLanguage
from transforms.normalize import NormalizeArticles
from transforms.read import DEFAULT_MAX_FILE_BYTES, _ReadFile
from transforms.records import reject
from transforms.stories import BuildStories
from transforms.streamdedup import DivertLate, MarkDuplicatesAcrossWindows
from transforms.topics import TagTopics
from transforms.watch import FEED, FILE, WatchInputs
from transforms.write import ARTICLE_FIELDS, output_path, to_json_line

LATENESS_KEY = "watermark"  # one key: its timers must see every window's deadline (see DivertLate)


def uses_live_feeder(p: beam.Pipeline) -> bool:
    """The Python DirectRunner needs the TestStream-served poller (see transforms/watch.py)."""
    return p.runner is None or isinstance(p.runner, (SwitchingDirectRunner, BundleBasedDirectRunner))


def _split_watched(item: tuple[str, str]):
    kind, value = item
    if kind == FILE:
        yield value
    elif kind == FEED:
        yield beam.pvalue.TaggedOutput(FEED, value)
    else:
        yield beam.pvalue.TaggedOutput(DEAD_LETTER, reject(value.split("'")[1] if "'" in value else value,
                                                           "streaming", value).to_record())


class WriteWindowed(beam.PTransform):
    """Write each window's records as JSON Lines under ``<output>/<name>/``, one file
    set per window (``<name>-<window start>-<window end>-SSSSS-of-NNNNN.jsonl``)."""

    def __init__(self, output: str, name: str, order: tuple[str, ...], shards: int = 1, compress: bool = False):
        super().__init__()
        self._output, self._name, self._order = output, name, order
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
                file_naming=fileio.default_file_naming(self._name, self._suffix),
                shards=self._shards,
                temp_directory=StaticValueProvider(str, output_path(self._output, ".tmp", self._name)),
            )
        )


def build_streaming_pipeline(p: beam.Pipeline, config: JobConfig) -> dict[str, beam.PCollection]:
    """Add the streaming job to ``p``; return its final PCollections (for tests)."""
    opts = config.streaming_options
    watched = p | "WatchInputs" >> WatchInputs(
        config.inputs,
        config.feeds,
        poll_seconds=opts.poll_seconds,
        feed_poll_seconds=opts.feed_poll_seconds,
        settle_seconds=opts.settle_seconds,
        live_feeder=uses_live_feeder(p),
    )
    return build_streaming_stages(watched, config)


def build_streaming_stages(watched: beam.PCollection, config: JobConfig) -> dict[str, beam.PCollection]:
    """Everything after the source: ``watched`` is ``(kind, value)`` pairs (see
    transforms/watch.py); tests feed it from a ``TestStream``."""
    opts = config.streaming_options
    dead_letters = []
    split = watched | "SplitWatched" >> beam.FlatMap(_split_watched).with_outputs(FEED, DEAD_LETTER, main=MAIN)
    dead_letters.append(split[DEAD_LETTER])

    read = split[MAIN] | "ReadWatchedFiles" >> beam.ParDo(
        _ReadFile(config.read.max_article_bytes, DEFAULT_MAX_FILE_BYTES)
    ).with_outputs(DEAD_LETTER, main=MAIN)
    dead_letters.append(read[DEAD_LETTER])
    sources = [read[MAIN]]
    if config.feeds:
        fetch_options = (config.fetch_options or FetchOptions()).with_settings(
            **({"allow_private_networks": True} if config.allow_private_networks else {})
        )
        polled = split[FEED] | "PollWatchedFeeds" >> beam.ParDo(
            _PollFeedsFn(fetch_options, config.state, 200)
        ).with_outputs(DEAD_LETTER, CACHE_UPDATES, main=MAIN)
        dead_letters.append(polled[DEAD_LETTER])
        sources.append(polled[MAIN])
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

    articles, dead = raw | "NormalizeArticles" >> NormalizeArticles(max_text_chars=config.normalize.max_text_chars)
    dead_letters.append(dead)
    lang = config.language
    articles, dead = articles | "DetectLanguage" >> DetectLanguage(
        lang.seed, lang.max_chars, lang.min_letters, lang.min_confidence
    )
    dead_letters.append(dead)
    articles, dead = articles | "TagTopics" >> TagTopics(config.topics_path)
    dead_letters.append(dead)

    articles = articles | "MarkDuplicatesAcrossWindows" >> MarkDuplicatesAcrossWindows(
        windowfn,
        by_url=config.dedup.by_url,
        by_content=config.dedup.by_content,
        near=config.dedup.near,
        retention_seconds=opts.retention_hours * 3600.0,
        allowed_lateness=lateness,
    )
    stories = articles | "BuildStories" >> BuildStories()
    dead_letter = (
        [d | f"DeadLettersIntoWindows{i}" >> beam.WindowInto(windowfn, allowed_lateness=lateness)
         for i, d in enumerate(dead_letters)]
        | "FlattenDeadLetters" >> beam.Flatten()
    )

    if config.output:
        out = config.output_options
        shards = out.num_shards or 1
        articles | "WriteArticles" >> WriteWindowed(config.output, "articles", ARTICLE_FIELDS, shards, out.compress)
        stories | "WriteStories" >> WriteWindowed(
            config.output, "stories", ("story_id", "headline", "article_ids"), shards, out.compress
        )
        dead_letter | "WriteDeadLetters" >> WriteWindowed(
            config.output, "dead_letter", ("source", "stage", "error", "excerpt"), shards, out.compress
        )
    return {"articles": articles, "stories": stories, "dead_letter": dead_letter}
