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
            help="file pattern to read (local path, glob or gs://), or with --streaming "
            "pubsub://projects/P/subscriptions/S; repeatable",
        )
        parser.add_argument("--feed", action="append", default=None, help="RSS/Atom URL to poll; repeatable")
        parser.add_argument("--output", default=None, help="output folder or gs:// prefix")
        parser.add_argument("--config", default=None, help="job settings YAML (default configs/local.yaml)")
        parser.add_argument("--state", default=None, help="folder or gs:// prefix for memory across runs")
        parser.add_argument(
            "--window-seconds",
            "--window_seconds",
            dest="window_seconds",
            type=int,
            default=60,
            help="streaming: how often results are written (seconds)",
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


def _all_option_classes() -> list[type]:
    # Make runner-specific options known when their runner is installed.
    try:
        import apache_beam.runners.dask.dask_runner  # noqa: F401
    except ImportError:
        pass
    seen: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    return list(seen.values())


def unknown_arguments(argv: Sequence[str]) -> list[str]:
    """The arguments that neither newsbeam nor any installed Beam component knows."""
    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in _all_option_classes():
        cls._add_argparse_args(parser)  # noqa: SLF001 - Beam's own extension point
    _, unknown = parser.parse_known_args(list(argv))
    return unknown
