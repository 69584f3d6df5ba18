"""The command line a person sees: ``--help`` (newsbeam's own flags first, Beam's behind
``--help-beam``), ``--version``, and how much is printed (``--log-level``, ``-v``, ``-q``).

:func:`parse_front` takes these launcher-only flags off the command line; everything else is
the job's: newsbeam's :class:`~pipeline.options.NewsbeamOptions` and Beam's own options.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from typing import Sequence

import apache_beam as beam

import pipeline
from pipeline.config import ConfigError
from pipeline.options import NewsbeamOptions, beam_parser

LEVELS = ("debug", "info", "warning", "error")
DESCRIPTION = """\
Read news articles (JSON Lines, text, HTML, RSS/Atom; local or gs://) and live feeds, clean them,
detect the language, tag topics, mark duplicates, group stories, and write JSON Lines under --output."""
EPILOG = """\
Beam options (any of them can be added; --help-beam lists all):
  --runner NAME           DirectRunner (default: the local runner newsbeam is tested on), PrismRunner,
                          DaskRunner, DataflowRunner, FlinkRunner, SparkRunner
  --streaming             keep running: watch --input patterns, poll feeds, write every --window-seconds
  --direct_num_workers N  local worker processes (with --direct_running_mode multi_processing)
  --project, --region, --temp_location   Dataflow

exit status: 0 done; 1 the run failed; 2 bad command line, config, runner or output (nothing touched);
3 nothing could be read (no input matched, every input or feed rejected); 4 too many dead letters
(--max-dead-letter-ratio). Docs: docs/cli.md, docs/configuration.md.
"""


def prog_name(argv0: str | None = None) -> str:
    """``python -m pipeline`` when run as a module, else the command's name (``newsbeam``)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = os.path.basename(argv0 or "")
    return "python -m pipeline" if name in ("__main__.py", "-m", "", "-c") else name


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each flag once: ``--window-seconds N``, not its ``--window_seconds`` alias too."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        dashed = [o for o in action.option_strings if "_" not in o]
        if action.option_strings and dashed != action.option_strings:
            action = argparse.Action(dashed, action.dest, nargs=action.nargs, metavar=action.metavar)
        return super()._format_action_invocation(action)


class _OneLineParser(argparse.ArgumentParser):
    """argparse that raises ConfigError (one line, exit 2 in main) instead of printing usage."""

    def error(self, message: str):
        raise ConfigError(message)


@dataclasses.dataclass(frozen=True)
class Front:
    log_level: int = logging.WARNING
    quiet: bool = False  # no progress line (and only errors logged)
    show: str | None = None  # "help", "help-beam" or "version": print that and stop


def _front_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-h", "--help", action="store_const", const="help", dest="show")
    parser.add_argument("--help-beam", "--help_beam", action="store_const", const="help-beam", dest="show")
    parser.add_argument("--version", action="store_const", const="version", dest="show")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--log-level", "--log_level", dest="log_level", type=str.lower, choices=LEVELS)
    return parser


def parse_front(argv: Sequence[str]) -> tuple[Front, list[str]]:
    """The launcher-only flags of ``argv``, and the rest (the job's flags) in order."""
    known, rest = _front_parser().parse_known_args(list(argv))
    if known.log_level:
        level = getattr(logging, known.log_level.upper())
    elif known.quiet:
        level = logging.ERROR
    else:
        level = {0: logging.WARNING, 1: logging.INFO}.get(known.verbose, logging.DEBUG)
    return Front(log_level=level, quiet=known.quiet, show=known.show), rest


def help_text(prog: str) -> str:
    """The short help: newsbeam's flags, the common Beam ones, the exit statuses."""
    parser = argparse.ArgumentParser(
        prog=prog,
        usage=f"{prog} --input PATTERN [--input ...] [--feed URL ...] --output DIR [options] [Beam options]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
        add_help=False,
    )
    NewsbeamOptions._add_argparse_args(parser.add_argument_group("newsbeam options"))  # noqa: SLF001 - Beam's extension point
    messages = parser.add_argument_group("messages")
    messages.add_argument("-v", "--verbose", action="count", help="more log lines (-v info, -vv debug)")
    messages.add_argument("-q", "--quiet", action="store_true", help="errors only, no progress line")
    messages.add_argument("--log-level", choices=LEVELS, help="log level (default warning)")
    messages.add_argument("--version", action="store_true", help="print the versions and exit")
    messages.add_argument("-h", "--help", action="store_true", help="this help; --help-beam: every Beam option")
    return parser.format_help()


def beam_help_text(prog: str) -> str:
    """Every option Beam and newsbeam know (the long list)."""
    parser = beam_parser()
    parser.prog = prog
    return parser.format_help()


def version_text() -> str:
    return f"newsbeam {pipeline.__version__} (Apache Beam {beam.__version__}, Python {sys.version.split()[0]})"


def show(what: str, prog: str) -> str:
    return {"help": help_text, "help-beam": beam_help_text}.get(what, lambda _: version_text())(prog)


def setup_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
