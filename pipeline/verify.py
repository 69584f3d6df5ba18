"""``python -m pipeline.verify --output OUT --input PATTERN ...``: check an output folder
against its inputs, and exit non-zero on any violation.

What it checks:

- **markers**: every file under ``articles/``, ``stories/``, ``dead_letter/`` and
  ``articles_parquet/`` was published by a run that completed: a plain run's files are
  listed in ``OUT/_SUCCESS`` (which names the same run as ``summary.json``), a
  scheduled run's files (``<kind>/run=<id>/``) in ``runs/run=<id>/_SUCCESS``;
  a streaming job's window files (``<kind>-<start>-<end>-<job>-...``) are whole by
  construction and their marker is the window's commit in ``OUT/_streaming/seen/``
  (a window a forced-stopped job did not commit is set aside by the next job, which
  reads its inputs again). Every file a marker lists exists.
- **no leftovers**: nothing under ``OUT/_staging/`` (a run in progress, or one that
  failed and no run has cleaned up after yet) nor ``OUT/.tmp/`` (a window file a
  stopped streaming job was writing).
- **no duplicate ids** among the articles.
- **conservation**: the inputs are read again with newsbeam's own reader; every
  input article (``path#line N``, ``path#entry N``, ``path``) is exactly once in
  ``articles/`` (by ``origin``) or in ``dead_letter/`` (by ``source``), and every
  part the reader rejects is in ``dead_letter/`` as often as it is rejected.
- **feed entries** (``--feed-entries FILE``, JSON Lines ``{"feed": URL, "link": URL}``,
  every entry a feed served): each is exactly once in ``articles/`` (by ``url``, among
  the articles whose ``origin`` is ``<feed>#entry N``), and no article of that feed
  comes from an entry not listed.

The checks are pure functions over lists of paths and records (:func:`check_markers`,
:func:`check_records`, :func:`check_feed_entries`); :func:`main` reads the files. Exit status 0 when all hold,
1 on a violation, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import io
import json
import re
import sys
from typing import Collection, Iterable, Iterator, Sequence

from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, load_config
from pipeline.gcs import configure_emulator
from transforms.common.records import Rejected
from transforms.common.records import DEFAULT_MAX_DEAD_LETTERS
from transforms.io.fileformats import DEFAULT_MAX_ARTICLE_BYTES, DEFAULT_MAX_FILE_BYTES, read_file
from transforms.io.publish import JOURNAL_FILE, STAGING_DIR, SUCCESS_FILE
from transforms.io.read import expand_pattern
from transforms.io.seen import SEEN_DIR, UNCOMMITTED_DIR, WINDOW_DIRS, SeenFilesError, read_record, uncommitted_files
from transforms.io.write import SUMMARY_FILE
from transforms.state.manifest import RUN_PREFIX, RUNS_DIR

KINDS = ("articles", "stories", "dead_letter", "articles_parquet")
TEMP_DIR = ".tmp"  # a streaming job's half-written window files (the next job deletes them)
_WINDOW = re.compile(r"\d{4}-\d\d-\d\dT\d\d[:-]\d\d")  # streaming window files carry their window's times
_SHOWN = 5


@dataclasses.dataclass
class Report:
    violations: list[str] = dataclasses.field(default_factory=list)
    lines: list[str] = dataclasses.field(default_factory=list)

    def fail(self, message: str) -> None:
        self.violations.append(message)

    def note(self, message: str) -> None:
        self.lines.append(message)


def _examples(items: Iterable[str]) -> str:
    items = sorted(items)
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


# --------------------------------------------------------------------------- markers


def check_markers(files: Sequence[str], markers: dict[str, dict | None], summary: dict | None, report: Report,
                  windows: Collection[str] = frozenset()) -> None:
    """``files``: every path under OUT (relative); ``markers``: ``_SUCCESS`` records by
    their relative path (None for one that is not JSON); ``summary``: ``summary.json``;
    ``windows``: the window keys committed in ``_streaming/seen/`` (a streaming job's marker)."""
    for path, marker in markers.items():
        if marker is None:
            report.fail(f"{path} is damaged (not a JSON object)")
    present = set(files)
    plain_marker = markers.get(SUCCESS_FILE)
    plain_listed = set((plain_marker or {}).get("files", ()))
    runs: dict[str, set[str]] = {}
    for path, marker in markers.items():
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == RUNS_DIR and parts[1].startswith(RUN_PREFIX) and marker:
            runs[parts[1][len(RUN_PREFIX):]] = set(marker.get("files", ()))
    staging = sorted({p.split("/")[1] for p in files if p.startswith(STAGING_DIR + "/") and p.count("/") >= 2})
    if staging:
        report.fail(f"leftover staging folders under {STAGING_DIR}/ (a run in progress, or one that failed: the next "
                    f"run removes them): {_examples(staging)}")
    temp = [p for p in files if p.startswith(TEMP_DIR + "/")]
    if temp:
        report.fail(f"{len(temp)} half-written window files under {TEMP_DIR}/ (a streaming job running, or stopped "
                    f"without draining: the next job deletes them): {_examples(temp)}")
    check_windows(files, windows, report)
    unmarked, windows, scheduled = [], 0, collections.Counter()
    for path in files:
        parts = path.split("/")
        if parts[0] not in KINDS or len(parts) < 2:
            continue
        if len(parts) > 2 and parts[1].startswith(RUN_PREFIX):
            run = parts[1][len(RUN_PREFIX):]
            if path not in runs.get(run, ()):
                unmarked.append(path)
            scheduled[run] += 1
        elif path in plain_listed:
            continue
        elif _WINDOW.search(parts[-1]):
            windows += 1
        else:
            unmarked.append(path)
    if unmarked:
        report.fail(f"{len(unmarked)} output files no completion marker lists (a run that did not finish, or a "
                    f"leftover): {_examples(unmarked)}")
    missing = [f for f in plain_listed if f not in present]
    missing += [f for listed in runs.values() for f in listed if f not in present]
    if missing:
        report.fail(f"{len(missing)} files listed by a completion marker are missing: {_examples(missing)}")
    if plain_marker:
        if summary is None:
            report.fail(f"{SUCCESS_FILE} without {SUMMARY_FILE}: the publication did not finish")
        elif summary.get("run_id") != plain_marker.get("run_id"):
            report.fail(f"{SUMMARY_FILE} names run {summary.get('run_id')}, {SUCCESS_FILE} run {plain_marker.get('run_id')}")
        report.note(f"plain run {plain_marker.get('run_id')} published {plain_marker.get('completed_at')}, "
                    f"{len(plain_listed)} files")
    elif summary is not None:
        report.fail(f"{SUMMARY_FILE} without {SUCCESS_FILE}: the run was not published completely")
    if runs or scheduled:
        report.note(f"{len(runs)} scheduled runs with a marker, {sum(scheduled.values())} files under run=<id>/")
    if windows:
        report.note(f"{windows} streaming window files (whole files; their marker: the window commits in _streaming/seen/)")


def check_windows(files: Sequence[str], windows: Collection[str], report: Report) -> None:
    """Every streaming window file (under ``articles/``, ``stories/``, ``dead_letter/``,
    ``summary/``) belongs to a window its job committed (``{"window": key}`` in
    ``_streaming/seen/``): one that is not was left by a job stopped without draining,
    and its inputs will be read again (so its records would be there twice)."""
    names = [p.split("/")[-1] for p in files if p.count("/") == 1 and p.split("/")[0] in WINDOW_DIRS]
    uncommitted = uncommitted_files(names, set(windows))
    if uncommitted:
        report.fail(f"{len(uncommitted)} streaming window files of windows that were never committed (a job stopped "
                    f"without draining; the next job sets them aside and reads their inputs again): "
                    f"{_examples(uncommitted)}")
    aside = [p for p in files if p.startswith("/".join(UNCOMMITTED_DIR) + "/")]
    if aside:
        report.note(f"{len(aside)} uncommitted window files set aside under {'/'.join(UNCOMMITTED_DIR)}/ (not read)")
    if windows:
        report.note(f"{len(set(windows))} streaming windows committed")


# --------------------------------------------------------------------------- records


@dataclasses.dataclass
class Expected:
    """What the inputs hold: article origins and rejected parts (by source)."""

    articles: list[str] = dataclasses.field(default_factory=list)
    rejected: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    files: int = 0


def check_records(expected: Expected, articles: Iterable[dict], dead_letters: Iterable[dict], report: Report) -> None:
    """Conservation and unique ids, from the input units and the published records."""
    ids: collections.Counter = collections.Counter()
    origins: collections.Counter = collections.Counter()
    for article in articles:
        ids[article.get("id")] += 1
        origins[article.get("origin")] += 1
    sources: collections.Counter = collections.Counter(d.get("source") for d in dead_letters)
    doubled_ids = [str(i) for i, n in ids.items() if n > 1]
    if doubled_ids:
        report.fail(f"{len(doubled_ids)} article ids appear more than once: {_examples(doubled_ids)}")
    lost, doubled = [], []
    for origin in expected.articles:
        seen = origins.get(origin, 0) + sources.get(origin, 0)
        if seen == 0:
            lost.append(origin)
        elif seen > 1:
            doubled.append(origin)
    if lost:
        report.fail(f"{len(lost)} input articles are neither in articles/ nor in dead_letter/: {_examples(lost)}")
    if doubled:
        report.fail(f"{len(doubled)} input articles are in the outputs more than once: {_examples(doubled)}")
    short = [s for s, n in expected.rejected.items() if sources.get(s, 0) < n]
    if short:
        report.fail(f"{len(short)} rejected input parts have no dead letter: {_examples(short)}")
    known = set(expected.articles)
    input_paths = {o.split("#", 1)[0] for o in known} | {s.split("#", 1)[0] for s in expected.rejected}
    stray = [o for o in origins if o not in known and (not o or o.split("#", 1)[0] in input_paths)]
    if stray:
        report.fail(f"{len(stray)} articles come from no article of these inputs (stale or doubled): "
                    f"{_examples(map(str, stray))}")
    report.note(f"inputs: {expected.files} files, {len(expected.articles)} articles, "
                f"{sum(expected.rejected.values())} rejected parts")
    report.note(f"outputs: {sum(ids.values())} articles ({len(ids)} ids), {sum(sources.values())} dead letters")


def check_feed_entries(entries: Iterable[dict], articles: Iterable[dict], report: Report) -> None:
    """``entries``: ``{"feed": URL, "link": URL}``, every entry the feeds served. Each is in
    ``articles`` exactly once, by ``url`` among that feed's articles (``origin``
    ``<feed>#entry N``: an entry's number changes from poll to poll, its link does not);
    no article of a listed feed comes from an entry not listed."""
    wanted: dict[str, list[str]] = collections.defaultdict(list)
    for entry in entries:
        wanted[str(entry["feed"])].append(str(entry["link"]))
    seen: dict[str, collections.Counter] = {feed: collections.Counter() for feed in wanted}
    for article in articles:
        feed = str(article.get("origin", "")).split("#entry ", 1)[0]
        if feed in seen and str(article.get("origin", "")) != feed:
            seen[feed][article.get("url")] += 1
    lost, doubled, stray = [], [], []
    for feed, links in wanted.items():
        listed = set(links)
        lost += [link for link in listed if not seen[feed][link]]
        doubled += [link for link in listed if seen[feed][link] > 1]
        stray += [str(url) for url in seen[feed] if url not in listed]
    if lost:
        report.fail(f"{len(lost)} feed entries are not in articles/: {_examples(lost)}")
    if doubled:
        report.fail(f"{len(doubled)} feed entries are in articles/ more than once: {_examples(doubled)}")
    if stray:
        report.fail(f"{len(stray)} feed articles come from no listed entry: {_examples(stray)}")
    total = sum(len(set(links)) for links in wanted.values())
    report.note(f"feed entries: {total} from {len(wanted)} feeds, {sum(sum(c.values()) for c in seen.values())} "
                f"feed articles")


# --------------------------------------------------------------------------- reading


def _match(pattern: str) -> list[str]:
    try:
        return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    except BeamIOError:
        return []


def _relative(output: str, path: str) -> str:
    base = output.rstrip("/") + "/"
    if "://" not in output:
        import os

        return os.path.relpath(path, output).replace(os.sep, "/")
    return path[len(base):]


def _read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return fh.read()


def _json_or_none(path: str) -> dict | None:
    try:
        data = json.loads(_read_bytes(path).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def read_expected(patterns: Sequence[str], max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
                  max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, max_dead_letters: int = DEFAULT_MAX_DEAD_LETTERS,
                  fields=None) -> Expected:
    """Read the inputs with newsbeam's reader (same limits and field map as the runs):
    the origin of every article, every rejected part."""
    expected = Expected()
    paths = sorted({p for pattern in patterns for e in expand_pattern(pattern) for p in _match(e)})
    for path in paths:
        expected.files += 1
        try:
            stream = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
        except Exception:  # noqa: BLE001 - the pipeline makes an unreadable file one dead letter
            expected.rejected[path] += 1
            continue
        with stream:
            for item in read_file(path, stream, max_article_bytes=max_article_bytes, max_file_bytes=max_file_bytes,
                                  max_dead_letters=max_dead_letters, fields=fields):
                if isinstance(item, Rejected):
                    expected.rejected[item.source] += 1
                else:
                    expected.articles.append(item["origin"])
    for pattern in patterns:
        if not any(_match(e) for e in expand_pattern(pattern)):
            expected.rejected[pattern] += 1  # the pipeline's "no file matches" dead letter
    return expected


def read_records(paths: Iterable[str]) -> Iterator[dict]:
    for path in paths:
        raw = _read_bytes(path)
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
        for line in io.BytesIO(raw):
            if line.strip():
                yield json.loads(line)


def read_entries(paths: Sequence[str]) -> list[dict]:
    """The ``--feed-entries`` files: JSON Lines, ``{"feed": URL, "link": URL}`` a line."""
    entries = []
    for path in paths:
        for n, line in enumerate(_read_bytes(path).decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not (isinstance(entry, dict) and isinstance(entry.get("feed"), str) and isinstance(entry.get("link"), str)):
                raise ConfigError(f"{path} line {n}: not a JSON object with \"feed\" and \"link\" strings")
            entries.append(entry)
    return entries


def _committed_windows(output: str) -> set[str]:
    try:
        return read_record(output.rstrip("/") + "/" + "/".join(SEEN_DIR))[1]
    except (SeenFilesError, BeamIOError):
        return set()  # damaged: every window file is then reported as not committed


def verify(output: str, patterns: Sequence[str], config_path: str | None = None,
           feed_entries: Sequence[str] = ()) -> Report:
    """Every check on ``output`` against the inputs ``patterns`` (and the feed entries
    listed in the files ``feed_entries``)."""
    configure_emulator()
    report = Report()
    paths = _match(output.rstrip("/") + "/**")
    files = [_relative(output, p) for p in paths]
    if not files:
        report.fail(f"{output} holds no files")
        return report
    markers = {f: _json_or_none(p) for f, p in zip(files, paths) if f.rsplit("/", 1)[-1] == SUCCESS_FILE}
    summary_path = output.rstrip("/") + "/" + SUMMARY_FILE
    summary = _json_or_none(summary_path) if SUMMARY_FILE in files else None
    if JOURNAL_FILE in {f.rsplit("/", 1)[-1] for f in files}:
        report.note("a publication was interrupted: the next run finishes it")
    check_markers(files, markers, summary, report, _committed_windows(output))
    published = [(f, p) for f, p in zip(files, paths) if not f.startswith(STAGING_DIR + "/")]

    def kind(name: str) -> list[str]:
        return [p for f, p in published if f.startswith(name + "/") and re.search(r"\.jsonl(\.gz)?$", f)]

    config = load_config(config_path)
    expected = read_expected(patterns, config.read.max_article_bytes, max_dead_letters=config.read.max_dead_letters_per_file,
                             fields=config.input_fields)
    articles = list(read_records(kind("articles")))
    check_records(expected, articles, list(read_records(kind("dead_letter"))), report)
    if feed_entries:
        check_feed_entries(read_entries(feed_entries), articles, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="the output folder or gs:// prefix to check")
    parser.add_argument("--input", action="append", required=True, help="the input patterns of its runs; repeatable")
    parser.add_argument("--config", default=None, help="the config its runs used (read limits)")
    parser.add_argument("--feed-entries", action="append", default=[], metavar="FILE",
                        help='JSON Lines, {"feed": URL, "link": URL} for every entry a feed served: each must be in '
                        "articles/ exactly once; repeatable")
    args = parser.parse_args(argv)
    try:
        report = verify(args.output, args.input, args.config, args.feed_entries)
    except ConfigError as exc:
        print(f"newsbeam verify: error: {exc}", file=sys.stderr)
        return 2
    print(f"newsbeam verify: {args.output}")
    for line in report.lines:
        print(f"  {line}")
    for violation in report.violations:
        print(f"  VIOLATION: {violation}")
    print(("OK: markers, no leftovers, unique ids, conservation" + (", feed entries" if args.feed_entries else ""))
          if not report.violations
          else f"FAILED: {len(report.violations)} violations")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
