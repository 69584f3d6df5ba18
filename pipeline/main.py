"""Entry point: ``newsbeam`` / ``python -m pipeline --input ... --output ...``.

Parses the command line (newsbeam's flags plus any Beam flag), loads and validates the YAML
config, chooses the runner, checks that the output is writable and outside the inputs and that
some input matches, all before any output is touched; then takes the locks on ``--output`` and
``--state``, runs the pipeline into a staging folder and publishes it (``pipeline/runguard.py``),
and prints the run summary. Exit statuses (``pipeline/exitcodes.py``): 0 done, 2 bad command line /
config / runner / output / damaged state, 3 nothing could be read, 4 too many dead letters, 5 another
run holds the output or state, 1 the run itself failed. A streaming job
stops on SIGTERM/SIGINT by draining (``pipeline/drain.py``): 0 when drained, 128 + the
signal when forced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import platform
import sys
import time
import traceback
import uuid
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

import pipeline
from pipeline.build import build_pipeline
from pipeline.config import ConfigError, JobConfig, load_config
from pipeline import cli, exitcodes, incremental, runguard
from pipeline.drain import DrainOnSignal
from pipeline.exitcodes import RunError
from pipeline.gcs import configure_emulator
from pipeline.lock import LockBusy, LockLost
from pipeline.options import NewsbeamOptions, OptionError, unknown_arguments
from pipeline.progress import ProgressLine
from pipeline.runners import Chosen, choose_runner
from transforms.common.redact import redact_text
from transforms.common.worker_logs import install_redaction, with_worker_redaction
from transforms.state import memory
from transforms import runtime
from transforms.io.feedcache import FeedCache
from transforms.io.feedsconfig import FeedsConfigError, load_feeds_config
from transforms.dedup.minhash import DEFAULT_SEED
from transforms.enrich.topics import TaxonomyError, read_taxonomy_mapping
from transforms.io import bigquery as bigquery_tables
from transforms.io import seen
from transforms.io.read import output_inside_inputs
from transforms.io.watch import stop_live_feeders
from transforms.io.write import SUMMARY_FILE, output_path
from transforms.state.integrity import StateError

_log = logging.getLogger("newsbeam")


def job_config(options: NewsbeamOptions) -> JobConfig:
    """The validated job config: the YAML file, overridden by command-line flags."""
    config = load_config(options.config)
    inputs = tuple(options.input or ())
    feeds = tuple(options.feed or ()) + config.feeds
    fetch_options = None
    if config.feeds_config_path:
        try:
            feeds_config = load_feeds_config(config.feeds_config_path)
        except (FeedsConfigError, ValueError, OSError) as exc:
            raise ConfigError(f"{config.feeds_config_path}: {exc}") from None
        feeds += tuple(feeds_config.urls)
        fetch_options = feeds_config.options
    feeds = tuple(dict.fromkeys(feeds))
    try:
        taxonomy = read_taxonomy_mapping(config.topics_path)
    except TaxonomyError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None
    if not inputs and not feeds:
        raise ConfigError("nothing to read: give --input PATTERN and/or --feed URL (see --help)")
    if not options.output:
        raise ConfigError("--output DIR_OR_GS_PREFIX is required")
    if options.window_seconds <= 0:
        raise ConfigError("--window-seconds must be a positive number of seconds")
    ratio = options.max_dead_letter_ratio
    if ratio is not None and not 0 <= ratio <= 1:
        raise ConfigError(f"--max-dead-letter-ratio must be between 0 and 1, got {ratio:g}")
    return dataclasses.replace(
        config,
        inputs=inputs,
        feeds=feeds,
        fetch_options=fetch_options,
        taxonomy=taxonomy,
        output=options.output,
        state=options.state,
        window_seconds=options.window_seconds,
        allow_private_networks=options.allow_private_networks,
    )


def check_output_writable(output: str) -> None:
    """Write and delete a probe file under ``output``; a ConfigError if that fails."""
    probe = output_path(output, f".newsbeam-probe-{uuid.uuid4().hex}")
    if "://" not in output:
        try:
            FileSystems.mkdirs(output)
        except OSError:
            pass  # exists already; the probe below tells whether it is usable
    try:
        with FileSystems.create(probe) as fh:
            fh.write(b"ok")
    except Exception as exc:  # noqa: BLE001 - any failure means the output is unusable
        raise ConfigError(f"output {output} is not writable: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    finally:
        try:
            if FileSystems.exists(probe):
                FileSystems.delete([probe])
        except Exception:  # noqa: BLE001 - the probe could not be written either
            pass


def check_output_outside_inputs(config: JobConfig) -> None:
    """A ConfigError when an ``--input`` pattern would read the run's own outputs or state."""
    for what, folder, kind in (("--output", config.output, "output"), ("--state", config.state, "state")):
        pattern = output_inside_inputs(config.inputs, folder, kind) if folder else None
        if pattern:
            raise ConfigError(f"{what} {folder} is inside --input {pattern}: a run would read its own {kind}; "
                              "move it out or narrow the pattern")


def read_summary(output: str) -> dict:
    with FileSystems.open(output_path(output, SUMMARY_FILE)) as fh:
        return json.loads(fh.read().decode("utf-8"))


def _listing(items: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "") if items else "none"


def format_summary(summary: dict, seconds: float) -> str:
    """The printed summary: counts, dead letters grouped by reason with one real example each,
    and (from ``summary["run"]``) where the outputs went, what ran, on what, and when."""
    dedup = summary.get("dedup", {})
    run = summary.get("run") or {}
    on = f" on {run['runner']}" if run.get("runner") else ""
    lines = [
        f"newsbeam: {summary['inputs']} inputs -> {summary['articles']} articles, "
        f"{summary['stories']} stories ({summary['multi_article_stories']} with several articles), "
        f"{summary['dead_letters']} dead letters in {seconds:.1f} s{on}",
        "  duplicates: " + (", ".join(f"{k} {v}" for k, v in dedup.items()) or "none"),
        "  languages:  " + (", ".join(f"{k} {v}" for k, v in summary.get("languages", {}).items()) or "none"),
        "  topics:     " + (", ".join(f"{k} {v}" for k, v in summary.get("topics", {}).items()) or "none"),
    ]
    reasons = summary.get("dead_letter_reasons", {})
    examples = summary.get("dead_letter_examples", {})
    if reasons:
        lines.append("  dead letters by reason (one example each):")
        for reason, count in reasons.items():
            example = examples.get(reason)
            if not example:  # a summary written before examples were kept
                lines.append(f"    {count:>5}  {reason}")
                continue
            stage = reason.split(": ", 1)[0]
            lines.append(f"    {count:>5}  {stage}: {example['error']}")
            if example.get("source"):
                lines.append(f"           {'at' if count == 1 else 'e.g.'} {example['source']}")
    if run:
        lines.append(f"  inputs:     {_listing(list(run.get('inputs', ())) + list(run.get('feeds', ())))}")
        lines.append(f"  outputs:    {run.get('output')} (articles/, stories/, dead_letter/, summary.json)")
        lines.append(
            f"  runner:     {run.get('runner')} (newsbeam {run.get('newsbeam_version')}, Beam {run.get('beam_version')}), "
            f"{run.get('started_at')} -> {run.get('finished_at')}"
        )
    return "\n".join(lines)


def dry_run_summary(result, started: float) -> dict:
    """What ``--dry_run=True`` (DataflowRunner) translated: the job's transforms, nothing run."""
    job = getattr(result, "job", None)
    proto = getattr(job, "proto_pipeline", None)
    names = sorted({t.unique_name for t in proto.components.transforms.values()}) if proto is not None else []
    return {"dry_run": True, "transforms": names, "seconds": round(time.perf_counter() - started, 2)}


def with_memory(config: JobConfig) -> JobConfig:
    """With ``--state`` (batch): resolve ``<state>/memory/CURRENT`` now, at launch, into
    the generation this run reads and the one it writes (``transforms/state/memory.py``).
    A streaming job reads the generation (its stories continue the batch ones) and never commits one."""
    if not config.state:
        return config
    near = config.dedup.near
    try:
        plan = memory.plan_run(
            config.state,
            retention_days=config.dedup.retention_days,
            sketch=memory.sketch_id(near.num_perm, DEFAULT_SEED, near.shingle_k, near.min_shingles),
        )
    except memory.StateError as exc:
        raise ConfigError(f"--state {config.state}: {exc}") from None
    return dataclasses.replace(config, memory=plan)


def with_bigquery(config: JobConfig, dataset: str | None) -> JobConfig:
    """``--bigquery_dataset PROJECT:DATASET`` resolved into the job's BigQuery target."""
    if not dataset:
        return config
    try:
        target = bigquery_tables.parse_dataset(dataset, run=uuid.uuid4().hex[:16], streaming=config.streaming)
    except bigquery_tables.BigQueryError as exc:
        raise ConfigError(str(exc)) from None
    return dataclasses.replace(config, bigquery=target)


def input_bytes(patterns: Sequence[str]) -> int:
    """Total size of the files the input patterns match now (0 where listing fails)."""
    total = 0
    for pattern in patterns:
        try:
            total += sum(m.size_in_bytes for r in FileSystems.match([pattern]) for m in r.metadata_list)
        except Exception:  # noqa: BLE001 - a pattern that cannot be listed is the readers' dead letter
            continue
    return total


def nothing_matches(patterns: Sequence[str]) -> bool:
    """True when no input pattern matches a file now (a pattern that cannot be listed
    matches nothing here; the reader puts its reason in a dead letter on a real run)."""
    for pattern in patterns:
        if "://" in pattern and not pattern.startswith("gs://"):  # pubsub://... and other non-file inputs
            return False
        try:
            if any(r.metadata_list for r in FileSystems.match([pattern], limits=[1])):
                return False
        except Exception:  # noqa: BLE001 - unlistable: no match at start-up
            continue
    return True


def run_info(config: JobConfig, chosen: Chosen) -> dict:
    """What ``summary.json`` and the printed summary say about the run (under ``run``)."""
    return {
        "runner": chosen.name,
        "newsbeam_version": pipeline.__version__,
        "beam_version": beam.__version__,
        "python": platform.python_version(),
        "config": config.config_path,
        "inputs": list(config.inputs),
        "feeds": list(config.feeds),
        "output": config.output,
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def runner_name(options: PipelineOptions) -> str | None:
    """The ``--runner`` name as given (None: Beam's default), ``"other"`` for a runner object."""
    runner = options.view_as(StandardOptions).runner
    return runner if isinstance(runner, str) or runner is None else "other"


def default_flags(config: JobConfig, options: PipelineOptions, argv: Sequence[str]) -> list[str]:
    """The config's ``beam_defaults`` as flags, for the options the command line does not set.

    They apply to local batch runs on the DirectRunner only (they are its tuning,
    e.g. ``direct_num_workers: 2`` to use both cores), when the inputs are at least
    ``beam_defaults_min_input_mb`` large (starting worker processes costs seconds);
    another runner or ``--streaming`` gets none of them.
    """
    standard = options.view_as(StandardOptions)
    if not runtime.is_local_runner(runner_name(options), bool(standard.streaming)):
        return []
    if config.beam_defaults_min_input_mb and input_bytes(config.inputs) < config.beam_defaults_min_input_mb * 2**20:
        return []
    given = {a.split("=", 1)[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    flags = [f"--{name}={value}" for name, value in config.beam_defaults if name not in given]
    unknown = unknown_arguments(flags)
    if unknown:
        raise ConfigError(f"{config.config_path}: unknown Beam option(s) in beam_defaults: {' '.join(unknown)}")
    return flags


def tuning_for(config: JobConfig, options: PipelineOptions) -> runtime.Tuning:
    """The run's speed-up switches (``tuning:`` in the config, all off with ``--no-tuning``),
    resolved for the runner that will run it."""
    if options.view_as(NewsbeamOptions).no_tuning:
        return runtime.PLAIN
    streaming = bool(options.view_as(StandardOptions).streaming)
    return runtime.resolve(config.tuning, runner_name(options), streaming, beam.__version__)


def run(argv: Sequence[str], progress: bool = False) -> dict:
    """Run the job for ``argv``; return the summary. Raises ConfigError for bad usage (before
    anything is touched), RunError for a run that read nothing or rejected too much.
    ``progress``: print the progress line of a long local batch run on stderr."""
    argv = list(argv)
    try:
        unknown = unknown_arguments(argv)
    except OptionError as exc:
        raise ConfigError(str(exc)) from None
    if unknown:
        raise ConfigError(f"unrecognized arguments: {' '.join(unknown)} (see --help)")
    options = PipelineOptions(argv)
    configure_emulator()  # STORAGE_EMULATOR_HOST: anonymous client, no credential probing
    config = job_config(options.view_as(NewsbeamOptions))
    defaults = default_flags(config, options, argv)
    if defaults:
        argv = defaults + argv
        options = PipelineOptions(argv)
    config = dataclasses.replace(config, streaming=bool(options.view_as(StandardOptions).streaming))
    config = with_bigquery(config, options.view_as(NewsbeamOptions).bigquery_dataset)
    chosen = choose_runner(options)  # an unknown --runner is a usage error, found before anything is touched
    if not config.streaming:
        if any(i.startswith("pubsub://") for i in config.inputs):
            raise ConfigError("--input pubsub://... reads a subscription continuously: add --streaming")
        if options.view_as(NewsbeamOptions).output_topic:
            raise ConfigError("--output-topic publishes as a streaming job runs: add --streaming")
    elif options.view_as(NewsbeamOptions).digest:
        raise ConfigError("--digest is written after a batch run; for a streaming job run python -m pipeline.digest")
    runtime.apply_in_launcher(tuning_for(config, options))
    with_worker_redaction(options)  # worker processes redact their own logs
    started = time.perf_counter()
    if options.view_as(TestOptions).dry_run:  # translate the job for its runner; touch no storage
        p = beam.Pipeline(runner=chosen.runner, options=options)
        build_pipeline(p, config)
        return dry_run_summary(p.run(), started)
    if options.view_as(NewsbeamOptions).incremental:
        incremental.check(config)
    check_output_writable(config.output)
    check_output_outside_inputs(config)
    if not config.streaming and config.inputs and not config.feeds and nothing_matches(config.inputs):
        raise RunError(exitcodes.NOTHING_READ, f"no input matched: {_listing(list(config.inputs))}")
    config = dataclasses.replace(config, run_info=run_info(config, chosen))
    with runguard.guarded(config, options.view_as(NewsbeamOptions).wait_for_lock) as guard:
        return _run_locked(config, options, chosen, guard, progress)


def _run_locked(
    config: JobConfig, options: PipelineOptions, chosen: Chosen, guard: runguard.RunGuard, progress: bool
) -> dict:
    """The run itself, holding the locks: read the memory, plan, stage, run, judge, commit, publish.
    A run that fails (the runner, or exit status 3 or 4) publishes nothing and commits no memory."""
    started = time.perf_counter()
    config = with_memory(config)  # CURRENT read under the lock; damage is a one-line error (status 2)
    if config.state and config.feeds and not config.streaming and FeedCache.migrate(config.state):
        _log.info("feed cache under --state rewritten without the feed URLs in clear (version 2)")
    scheduled = None
    if options.view_as(NewsbeamOptions).incremental:
        scheduled = incremental.plan(config)
        if scheduled is None:
            return {**incremental.nothing_new_summary(), "seconds": round(time.perf_counter() - started, 2)}
        config = scheduled.config
        if config.bigquery is not None:  # a retried run stages into the same tables: its MERGE adds nothing twice
            config = dataclasses.replace(config, bigquery=dataclasses.replace(config.bigquery, run=scheduled.run_id))
    if config.streaming:
        if config.bigquery is not None:  # the Storage Write API sink does not partition: tables made first
            from pipeline.bigquery import prepare_streaming

            prepare_streaming(config.bigquery)
        return run_streaming(config, options, chosen)
    published_output = config.output
    if scheduled is None:
        config = guard.stage(config)  # the previous outputs stay as they are until publication
    try:
        with contextlib.ExitStack() as stack:
            if progress and chosen.local_batch:
                config = dataclasses.replace(config, progress_dir=stack.enter_context(ProgressLine()).folder)
            with beam.Pipeline(runner=chosen.runner, options=options) as p:
                build_pipeline(p, config)
        guard.check()
        summary = read_summary(config.output)
        summary["seconds"] = round(time.perf_counter() - started, 2)
    except BaseException:
        guard.discard(config)
        raise
    failure = exitcodes.judge(summary, options.view_as(NewsbeamOptions).max_dead_letter_ratio)
    if failure is not None:  # nothing published, no memory committed: earlier outputs stay as they were
        guard.discard(dataclasses.replace(config, output=published_output), keep_staging=True)
        raise RunError(
            failure.status,
            f"{failure}; nothing was published and earlier outputs are kept; this run's files, dead letters "
            f"included, are in {config.output} until the next run",
            summary,
        )
    if config.memory is not None:  # the run succeeded: the new memory generation becomes current
        memory.commit(config.memory)
    if config.bigquery is not None:  # the run succeeded: its staged rows join the main tables
        from pipeline.bigquery import publish

        summary["bigquery"] = publish(config.bigquery)
    if scheduled is not None:  # publish the staged outputs, then the manifest (the commit point)
        incremental.finish(scheduled, summary)
        summary.update(run_id=scheduled.run_id, new_files=len(scheduled.files))
    else:
        summary["run_id"] = guard.publish(summary)["run_id"]
    summary["seconds"] = round(time.perf_counter() - started, 2)
    if options.view_as(NewsbeamOptions).digest:  # the digest of every run under the real --output
        from pipeline.digest import write_digest

        digest_output = scheduled.output if scheduled is not None else published_output
        summary["digest"] = write_digest(digest_output, config.state)["paths"]["index.html"]
    return summary


def clear_stale_temp(output: str) -> None:
    """Delete the window files a forced-stopped job left half-written under ``<output>/.tmp/``
    (their inputs were not committed, so this job reads them again)."""
    for result in FileSystems.match([output_path(output, ".tmp", "*", "*")]):
        paths = [m.path for m in result.metadata_list]
        if paths:
            FileSystems.delete(paths)


def run_streaming(config: JobConfig, options: PipelineOptions, chosen: Chosen) -> dict:
    """Run the streaming job until SIGTERM/SIGINT has drained it (``pipeline/drain.py``).

    Earlier jobs' window files are kept (each job names its files with its own id),
    and the files they committed in ``<output>/_streaming/seen/`` are not read again;
    window files of windows a forced-stopped job did not commit are set aside under
    ``<output>/_streaming/uncommitted/`` (their inputs are read again).
    """
    started = time.perf_counter()
    clear_stale_temp(config.output)
    with DrainOnSignal(config.streaming_options.drain_seconds) as drain:
        try:
            committed, windows = seen.compact(seen.seen_folder(config.output))
        except seen.SeenFilesError as exc:
            raise ConfigError(str(exc)) from None
        if committed:
            _log.info("%d watched files were committed by earlier jobs; they are not read again", len(committed))
        moved = seen.set_aside_uncommitted(config.output, windows)
        if moved:
            _log.warning(
                "%d window files of a job stopped without draining were not committed: moved to %s "
                "(their inputs are read again)", len(moved), output_path(config.output, *seen.UNCOMMITTED_DIR)
            )  # fmt: skip
        try:
            with beam.Pipeline(runner=chosen.runner, options=options) as p:
                build_pipeline(p, config)
        finally:
            stop_live_feeders()
    return {"streaming": True, "seconds": round(time.perf_counter() - started, 2), "drain_seconds": drain.seconds()}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        front, argv = cli.parse_front(argv)
    except ConfigError as exc:
        print(f"newsbeam: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    cli.setup_logging(front.log_level)
    install_redaction()  # credentials in feed URLs never reach the log (workers: transforms/common/worker_logs.py)
    runguard.report_disk_full_once()
    if front.show:
        print(cli.show(front.show, cli.prog_name()))
        return exitcodes.OK
    try:
        summary = run(argv, progress=not front.quiet)
    except (ConfigError, StateError) as exc:
        print(f"newsbeam: error: {redact_text(str(exc))}", file=sys.stderr)
        return exitcodes.USAGE
    except (LockBusy, LockLost) as exc:
        print(f"newsbeam: error: {redact_text(str(exc))}", file=sys.stderr)
        return exitcodes.LOCKED
    except RunError as exc:
        if exc.summary:
            print(format_summary(exc.summary, exc.summary.get("seconds", 0.0)))
        print(f"newsbeam: error: {redact_text(str(exc))}", file=sys.stderr)
        return exc.status
    except Exception as exc:  # noqa: BLE001 - the runner failed: its traceback, then one line that says so
        if runguard.disk_full(exc):
            print(f"newsbeam: error: no space left on device (--output or --state); the run published nothing and "
                  f"earlier outputs are untouched: {redact_text(str(exc).splitlines()[0][:200])}", file=sys.stderr)
            return exitcodes.FAILED
        print(redact_text(traceback.format_exc()), end="", file=sys.stderr)  # a worker's traceback may quote a URL
        print(f"newsbeam: error: the run failed: {redact_text(_one_line(exc))}", file=sys.stderr)
        return exitcodes.FAILED
    if summary.get("streaming"):
        print(
            f"newsbeam: streaming job ended after {summary['seconds']:.1f} s "
            f"(drained in {summary['drain_seconds']:.1f} s)"
        )
        return 0
    if summary.get("dry_run"):
        print(f"newsbeam: dry run: job translated ({len(summary['transforms'])} transforms) in {summary['seconds']:.1f} s")
        return 0
    if summary.get("new_files") == 0:
        print("newsbeam: no new input files since the last committed run; nothing to do")
        return exitcodes.OK
    print(format_summary(summary, summary["seconds"]))
    if summary.get("run_id"):
        files = f" ({summary['new_files']} new files)" if "new_files" in summary else ""
        print(f"  run:        {summary['run_id']}{files}")
    if summary.get("digest"):
        print(f"  digest:     {summary['digest']}")
    return exitcodes.OK
