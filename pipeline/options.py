"""Command-line options of the newsbeam job, as a Beam ``PipelineOptions`` view.

Being a ``PipelineOptions`` subclass, these flags travel with the job (Dataflow
templates, portable runners) and sit beside Beam's own flags on one command line.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser


class NewsbeamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--input",
            action="append",
            default=None,
            metavar="PATTERN",
            help="files to read: a path, a glob or gs://...; with --streaming also "
            "pubsub://projects/P/subscriptions/S; repeatable",
        )
        parser.add_argument("--feed", action="append", default=None, metavar="URL", help="RSS/Atom URL to poll; repeatable")
        parser.add_argument("--output", default=None, metavar="DIR", help="output folder or gs:// prefix")
        parser.add_argument(
            "--config", default=None, metavar="FILE", help="job settings YAML (default: the shipped configs/local.yaml)"
        )
        parser.add_argument("--state", default=None, metavar="DIR", help="folder or gs:// prefix for memory across runs")
        parser.add_argument(
            "--window-seconds",
            "--window_seconds",
            dest="window_seconds",
            type=int,
            default=60,
            metavar="N",
            help="streaming: how often results are written (seconds, default 60)",
        )
        parser.add_argument(
            "--incremental",
            action="store_true",
            default=False,
            help="scheduled batch: read only input files no committed run has read (manifest in --state); "
            "stage outputs and publish them under <kind>/run=<id>/ when the run succeeds",
        )
        parser.add_argument(
            "--output-topic",
            "--output_topic",
            dest="output_topic",
            default=None,
            metavar="TOPIC",
            help="streaming: also publish each enriched article as JSON to this Pub/Sub topic "
            "(projects/P/topics/T); --input pubsub://projects/P/subscriptions/S reads articles from Pub/Sub",
        )
        parser.add_argument(
            "--allow-private-networks",
            "--allow_private_networks",
            dest="allow_private_networks",
            action="store_true",
            default=False,
            help="allow feeds on loopback, private and link-local addresses",
        )
        parser.add_argument(
            "--bigquery_dataset",
            "--bigquery-dataset",
            dest="bigquery_dataset",
            default=None,
            help="also write the analyst tables (articles, stories, topics, dead_letters) to BigQuery "
            "PROJECT:DATASET (batch: file loads merged once the run succeeds; streaming: Storage Write API)",
        )
        parser.add_argument(
            "--digest",
            action="store_true",
            default=False,
            help="batch: after the run, write the digest page of the last 7 days to <output>/digest/ "
            "(as python -m pipeline.digest --output OUT [--state STATE])",
        )
        parser.add_argument(
            "--wait-for-lock",
            "--wait_for_lock",
            dest="wait_for_lock",
            nargs="?",
            type=float,
            const=3600.0,
            default=None,
            metavar="SECONDS",
            help="when another run holds --output or --state, wait for it (up to SECONDS, default 3600) "
            "instead of failing at once with exit status 5",
        )
        parser.add_argument(
            "--no-tuning",
            "--no_tuning",
            dest="no_tuning",
            action="store_true",
            default=False,
            help="run on plain Beam and CPython: every speed-up of the config's 'tuning' section off",
        )
        parser.add_argument(
            "--max-dead-letter-ratio",
            "--max_dead_letter_ratio",
            dest="max_dead_letter_ratio",
            type=float,
            default=None,
            metavar="R",
            help="fail the run (exit 4) when more than this share of the inputs (0-1) was rejected",
        )


def _all_option_classes(runners: bool = True) -> list[type]:
    """Every ``PipelineOptions`` subclass loaded; with ``runners``, the Dask runner's too
    (importing it costs ~0.5 s of CPU, so a command line that needs none of its flags skips it)."""
    if runners:  # make runner-specific options known when their runner is installed
        try:
            import apache_beam.runners.dask.dask_runner  # noqa: F401
        except ImportError:
            pass
    seen: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    return list(seen.values())


class OptionError(ValueError):
    """A flag with a bad value (``--window-seconds abc``); the message is one line."""


class _Parser(_BeamArgumentParser):
    def error(self, message: str):
        raise OptionError(message)


def beam_parser(runners: bool = True) -> argparse.ArgumentParser:
    """A parser of every option newsbeam and the installed Beam components know
    (``runners=False``: without the options of runners not imported yet)."""
    parser = _Parser(allow_abbrev=False)
    for cls in _all_option_classes(runners):
        cls._add_argparse_args(parser)  # noqa: SLF001 - Beam's own extension point
    return parser


def unknown_arguments(argv: Sequence[str]) -> list[str]:
    """The arguments that neither newsbeam nor any installed Beam component knows;
    :class:`OptionError` for a known flag with a bad value."""
    _, unknown = beam_parser(runners=False).parse_known_args(list(argv))
    if unknown:  # perhaps a runner's flag (--dask_client_address): ask again with every runner's options
        _, unknown = beam_parser().parse_known_args(list(argv))
    return unknown
