"""``build_pipeline(p, config)``: the newsbeam graph, from a validated config.

    ReadArticles (+ PollFeeds) -> NormalizeArticles -> DetectLanguage -> TagTopics -> TagEntities
      -> ResolveArticles (MarkDuplicates + AssignStories in one pass) -> BuildStories -> WriteOutputs
    with --state: ReadMemory -> PriorViews (into both dedup layers and the story layer);
      RememberArticles writes the next memory generation (committed by the launcher)

Every fallible stage returns ``(good, dead_letters)``; the dead letters of all
stages are flattened into ``dead_letter/``. With ``config.progress_dir`` (a local run the launcher
watches) three pass-through steps count articles read, enriched and resolved. No I/O happens while the graph is
built.
"""

from __future__ import annotations

import apache_beam as beam

from pipeline.config import JobConfig
from pipeline.enrich import enrich_articles
from transforms.io.poll import PollFeeds
from transforms.state.memory import PriorViews, ReadMemory, WriteMemory
from transforms.dedup.minhash import DEFAULT_SEED
from transforms.dedup.near import FindNearDuplicates
from transforms.io.read import ReadArticles
from transforms.dedup.resolve import ResolveArticles
from transforms.stories.records import BuildStories
from transforms.io.bigquery import WriteBigQuery
from transforms.io.parquet import WriteParquet
from transforms.io.write import WriteOutputs
from transforms.common.progress import CountProgress


def _progress(pcoll: beam.PCollection, config: JobConfig, checkpoint: str) -> beam.PCollection:
    """``pcoll``, counted for the progress line when the launcher watches this run."""
    if not config.progress_dir:
        return pcoll
    return pcoll | f"Progress{checkpoint.title()}" >> CountProgress(config.progress_dir, checkpoint)


def build_pipeline(p: beam.Pipeline, config: JobConfig) -> dict[str, beam.PCollection]:
    """Add the whole job to ``p``; return its final PCollections (for tests)."""
    if config.streaming:  # imported here: a batch run does without the streaming modules (~0.1 s)
        from pipeline.streaming import build_streaming_pipeline

        return build_streaming_pipeline(p, config)
    dead_letters = []

    sources = []
    if config.inputs:
        raw, dead = p | "ReadArticles" >> ReadArticles(
            list(config.inputs),
            config.read.max_article_bytes,
            max_dead_letters=config.read.max_dead_letters_per_file,
            fields=config.input_fields,
        )
        sources.append(raw)
        dead_letters.append(dead)
    if config.feeds:
        raw, dead = p | "PollFeeds" >> PollFeeds(
            config.feeds,
            allow_private_networks=config.allow_private_networks,
            state_dir=config.state,
            options=config.fetch_options,
        )
        sources.append(raw)
        dead_letters.append(dead)
    raw = sources[0] if len(sources) == 1 else sources | "FlattenSources" >> beam.Flatten()
    raw = _progress(raw, config, "read")

    articles = _progress(enrich_articles(raw, config, dead_letters), config, "enriched")

    memory = config.memory  # --state: articles of earlier runs take part as prior originals
    prior_records = prior = None
    if memory is not None and memory.previous:
        prior_records, dead = p | "ReadMemory" >> ReadMemory(memory)
        dead_letters.append(dead)
        prior = prior_records | "PriorViews" >> PriorViews(memory.reuse_signatures)

    near = config.dedup.near
    edges = []
    if near.enabled:
        signed = articles if prior is None else (articles, prior["near"]) | "WithPriorSignatures" >> beam.Flatten()
        edges.append(
            signed
            | "FindNearDuplicates"
            >> FindNearDuplicates(near.threshold, near.num_perm, near.bands, near.rows, near.shingle_k, near.min_shingles)
        )
    if prior is not None:
        edges.append(prior["edges"])
    extra_edges = edges[0] if len(edges) == 1 else (edges | "FlattenDedupEdges" >> beam.Flatten() if edges else None)
    articles = articles | "ResolveArticles" >> ResolveArticles(
        config.dedup.by_url,
        config.dedup.by_content,
        config.stories,
        extra_edges=extra_edges,
        prior=None if prior is None else prior["dedup"],
        prior_features=None if prior is None else prior["story_features"],
        prior_roots=None if prior is None else prior["story_roots"],
    )
    articles = _progress(articles, config, "resolved")
    stories = articles | "BuildStories" >> BuildStories()
    if memory is not None:
        if prior_records is None:
            prior_records = p | "NoMemory" >> beam.Create([])
        sketch = (near.num_perm, DEFAULT_SEED, near.shingle_k, near.min_shingles)
        (prior_records, articles) | "RememberArticles" >> WriteMemory(memory, sketch, config.stories)

    dead_letter = dead_letters | "FlattenDeadLetters" >> beam.Flatten()
    outputs = {"articles": articles, "stories": stories, "dead_letter": dead_letter}
    out = config.output_options
    outputs | "WriteOutputs" >> WriteOutputs(
        config.output, compress=out.compress, num_shards=out.num_shards, run_info=config.run_info
    )
    if out.format == "both":  # the analyst tables (articles, stories, topics, dead letters) as Parquet
        outputs | "WriteParquet" >> WriteParquet(config.output, shards=out.parquet_shards)
    if config.bigquery is not None:  # the same tables in BigQuery (--bigquery_dataset)
        outputs | "WriteBigQuery" >> WriteBigQuery(config.bigquery)
    return outputs
