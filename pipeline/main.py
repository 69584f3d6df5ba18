"""Entry point: ``python -m pipeline --input ... --output ...``.

Parses the command line (newsbeam's flags plus any Beam flag), loads and
validates the YAML config, checks that the output is writable and outside the
inputs, takes the locks on ``--output`` and ``--state``, runs the pipeline into a
staging folder and publishes it (``pipeline/runguard.py``), and prints the run
summary. Exit statuses: ``pipeline/exitcodes.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
import uuid
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

from pipeline.build import build_pipeline
from pipeline.config import ConfigError, JobConfig, load_config
from pipeline import exitcodes, incremental, runguard
from pipeline.gcs import configure_emulator
from pipeline.lock import LockBusy, LockLost
from pipeline.options import NewsbeamOptions, unknown_arguments
from pipeline.dask_runner import runner_for
from transforms.common.redact import RedactingFilter, redact_text
from transforms.state import memory
from transforms import runtime
from transforms.io.feedsconfig import FeedsConfigError, load_feeds_config
from transforms.dedup.minhash import DEFAULT_SEED
from transforms.enrich.topics import TaxonomyError, read_taxonomy_mapping
from transforms.io.read import output_inside_inputs
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
        raise ConfigError("nothing to read: give --input PATTERN and/or --feed URL")
    if not options.output:
        raise ConfigError("--output DIR_OR_GS_PREFIX is required")
    if options.window_seconds <= 0:
        raise ConfigError("--window-seconds must be a positive number of seconds")
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


def format_summary(summary: dict, seconds: float) -> str:
    dedup = summary.get("dedup", {})
    lines = [
        f"newsbeam: {summary['inputs']} inputs -> {summary['articles']} articles, "
        f"{summary['stories']} stories ({summary['multi_article_stories']} with several articles), "
        f"{summary['dead_letters']} dead letters in {seconds:.1f} s",
        "  duplicates: " + (", ".join(f"{k} {v}" for k, v in dedup.items()) or "none"),
        "  languages:  " + (", ".join(f"{k} {v}" for k, v in summary.get("languages", {}).items()) or "none"),
        "  topics:     " + (", ".join(f"{k} {v}" for k, v in summary.get("topics", {}).items()) or "none"),
    ]
    reasons = summary.get("dead_letter_reasons", {})
    if reasons:
        lines.append("  dead letters by reason:")
        lines.extend(f"    {count:>5}  {reason}" for reason, count in reasons.items())
    return "\n".join(lines)


def dry_run_summary(result, started: float) -> dict:
    """What ``--dry_run=True`` (DataflowRunner) translated: the job's transforms, nothing run."""
    job = getattr(result, "job", None)
    proto = getattr(job, "proto_pipeline", None)
    names = sorted({t.unique_name for t in proto.components.transforms.values()}) if proto is not None else []
    return {"dry_run": True, "transforms": names, "seconds": round(time.perf_counter() - started, 2)}


def with_memory(config: JobConfig) -> JobConfig:
    """With ``--state`` (batch): resolve ``<state>/memory/CURRENT`` now, at launch, into
    the generation this run reads and the one it writes (``transforms/state/memory.py``)."""
    if not config.state or config.streaming:
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


def input_bytes(patterns: Sequence[str]) -> int:
    """Total size of the files the input patterns match now (0 where listing fails)."""
    total = 0
    for pattern in patterns:
        try:
            total += sum(m.size_in_bytes for r in FileSystems.match([pattern]) for m in r.metadata_list)
        except Exception:  # noqa: BLE001 - a pattern that cannot be listed is the readers' dead letter
            continue
    return total


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


def run(argv: Sequence[str]) -> dict:
    """Run the job for ``argv``; return the summary. Raises ConfigError for bad usage."""
    argv = list(argv)
    unknown = unknown_arguments(argv)
    if unknown:
        raise ConfigError(f"unrecognized arguments: {' '.join(unknown)}")
    options = PipelineOptions(argv)
    configure_emulator()  # STORAGE_EMULATOR_HOST: anonymous client, no credential probing
    config = job_config(options.view_as(NewsbeamOptions))
    defaults = default_flags(config, options, argv)
    if defaults:
        argv = defaults + argv
        options = PipelineOptions(argv)
    config = dataclasses.replace(config, streaming=bool(options.view_as(StandardOptions).streaming))
    runtime.apply_in_launcher(tuning_for(config, options))
    if not config.streaming:
        if any(i.startswith("pubsub://") for i in config.inputs):
            raise ConfigError("--input pubsub://... reads a subscription continuously: add --streaming")
        if options.view_as(NewsbeamOptions).output_topic:
            raise ConfigError("--output-topic publishes as a streaming job runs: add --streaming")
    started = time.perf_counter()
    if options.view_as(TestOptions).dry_run:  # translate the job for its runner; touch no storage
        p = beam.Pipeline(runner=runner_for(options), options=options)
        build_pipeline(p, config)
        return dry_run_summary(p.run(), started)
    check_output_writable(config.output)
    check_output_outside_inputs(config)
    with runguard.guarded(config, options.view_as(NewsbeamOptions).wait_for_lock) as guard:
        return _run_locked(config, options, guard, started)


def _run_locked(config: JobConfig, options: PipelineOptions, guard: runguard.RunGuard, started: float) -> dict:
    """The run itself, holding the locks: plan, stage, run, commit, publish."""
    scheduled = None
    if options.view_as(NewsbeamOptions).incremental:
        scheduled = incremental.plan(config)
        if scheduled is None:
            return {**incremental.nothing_new_summary(), "seconds": round(time.perf_counter() - started, 2)}
        config = scheduled.config
    elif not config.streaming:
        config = guard.stage(config)  # the previous outputs stay as they are until publication
    config = with_memory(config)
    started = time.perf_counter()
    try:
        with beam.Pipeline(runner=runner_for(options), options=options) as p:
            build_pipeline(p, config)
        guard.check()
    except BaseException:
        guard.discard(config)
        raise
    if config.memory is not None:  # the run succeeded: the new memory generation becomes current
        memory.commit(config.memory)
    if config.streaming:  # only reached when the streaming job was stopped; it writes no summary
        return {"streaming": True, "seconds": round(time.perf_counter() - started, 2)}
    summary = read_summary(config.output)
    if scheduled is not None:  # publish the staged outputs, then the manifest (the commit point)
        incremental.finish(scheduled, summary)
        summary.update(run_id=scheduled.run_id, new_files=len(scheduled.files))
    else:
        summary["run_id"] = guard.publish(summary)["run_id"]
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # credentials in feed URLs never reach the log
        handler.addFilter(RedactingFilter())
    runguard.report_disk_full_once()
    argv = sys.argv[1:] if argv is None else argv
    try:
        summary = run(argv)
    except (ConfigError, StateError) as exc:
        print(f"newsbeam: error: {redact_text(str(exc))}", file=sys.stderr)
        return exitcodes.USAGE
    except (LockBusy, LockLost) as exc:
        print(f"newsbeam: error: {redact_text(str(exc))}", file=sys.stderr)
        return exitcodes.LOCKED
    except Exception as exc:
        if not runguard.disk_full(exc):
            raise
        print(f"newsbeam: error: no space left on device (--output or --state); the run wrote nothing and "
              f"earlier outputs are untouched: {redact_text(str(exc).splitlines()[0][:200])}", file=sys.stderr)
        return exitcodes.FAILED
    if summary.get("streaming"):
        print(f"newsbeam: streaming job ended after {summary['seconds']:.1f} s")
        return 0
    if summary.get("dry_run"):
        print(f"newsbeam: dry run: job translated ({len(summary['transforms'])} transforms) in {summary['seconds']:.1f} s")
        return 0
    if summary.get("new_files") == 0:
        print("newsbeam: no new input files since the last committed run; nothing to do")
        return 0
    print(format_summary(summary, summary["seconds"]))
    if summary.get("run_id"):
        files = f" ({summary['new_files']} new files)" if "new_files" in summary else ""
        print(f"  run:        {summary['run_id']}{files}")
    return 0
