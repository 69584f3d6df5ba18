"""``python -m pipeline.digest --output OUT [--state STATE] [--days 7]``: the digest page.

Reads every run's tables under ``OUT`` (``pipeline/views.py``), builds the digest of the
``--days`` ending on ``--until`` (default: the latest publication date, at most today) and
writes ``OUT/digest/index.html`` (one self-contained page), ``digest.md`` and
``digest.csv``. With ``--state``, stories the memory saw before the period are
*continuing*. ``python -m pipeline ... --digest`` writes the same after a run. Exit status:
0, 2 for a bad command line, an output that is not there or an unusable state.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import sys
from typing import Sequence

from apache_beam.io.filesystems import FileSystems

from pipeline.views import OutputNotFound, Views
from transforms.io.parquet import write_atomically
from transforms.report.digest import Digest, build_digest, default_until, title_from_text
from transforms.report.html import plural, render_html
from transforms.report.text import render_csv, render_markdown
from transforms.state import memory

DIGEST_DIR = "digest"
FILES = ("index.html", "digest.md", "digest.csv")


class DigestError(ValueError):
    """A digest that cannot be made; the message is for a person."""


def read_articles(views: Views) -> tuple[list[dict], dict[str, list[str]], list[tuple[str, str, int]]]:
    """The articles (the few columns the digest needs), their topic names, the dead-letter counts."""
    con = views.connection
    cursor = con.execute(
        "SELECT id, story_id, title, url, source, language, published_at, dedup_status, left(text, 300) AS lead "
        "FROM articles ORDER BY id"
    )
    columns = [d[0] for d in cursor.description]
    articles = []
    for row in cursor.fetchall():
        article = dict(zip(columns, row))
        if not (article["title"] or "").strip():  # a text file or a feed entry without a title
            article["title"] = title_from_text(article["lead"])
        articles.append(article)
    topics: dict[str, list[str]] = {}
    for article_id, topic in con.execute("SELECT DISTINCT article_id, topic FROM topics ORDER BY 1, 2").fetchall():
        topics.setdefault(article_id, []).append(topic)
    dead = con.execute("SELECT stage, reason, count(*) FROM dead_letters GROUP BY ALL").fetchall()
    return articles, topics, [(s, r, int(n)) for s, r, n in dead]


def remembered_stories(state: str) -> dict[str, dt.datetime]:
    """When the ``--state`` memory first saw each story (its earliest entry's ``first_seen``)."""
    try:
        pointer = memory.read_pointer(state)
    except memory.StateError as exc:
        raise DigestError(f"--state {state}: {exc}") from None
    if pointer is None:
        return {}
    seen: dict[str, dt.datetime] = {}
    for result in FileSystems.match([memory.generation_pattern(state, pointer["generation"])]):
        for meta in result.metadata_list:
            with FileSystems.open(meta.path, compression_type="uncompressed") as fh:
                raw = fh.read()
            text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            for line in text.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                try:
                    record = memory.decode_record(line)
                except ValueError:
                    continue  # a damaged entry: the pipeline's ReadMemory reports these as dead letters
                story = record.get("story_id")
                first = dt.datetime.fromisoformat(record["first_seen"].replace("Z", "+00:00"))
                if story and (story not in seen or first < seen[story]):
                    seen[story] = first
    return seen


def make_digest(output: str, state: str | None = None, days: int = 7, until: dt.date | None = None) -> Digest:
    """The digest of the outputs under ``output``."""
    try:
        views = Views(output)
    except OutputNotFound as exc:
        raise DigestError(str(exc)) from None
    with views:
        articles, topics, dead = read_articles(views)
    remembered = remembered_stories(state) if state else None
    today = dt.datetime.now(dt.timezone.utc).date()
    return build_digest(
        articles, topics, dead, until=until or default_until(articles, today), days=days, remembered=remembered
    )


def write_digest(output: str, state: str | None = None, days: int = 7, until: dt.date | None = None) -> dict:
    """Write ``OUT/digest/{index.html,digest.md,digest.csv}``; return their paths and the digest's counts."""
    digest = make_digest(output, state, days, until)
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    contents = {
        "index.html": render_html(digest, generated_at=generated, output=output),
        "digest.md": render_markdown(digest),
        "digest.csv": render_csv(digest),
    }
    folder = FileSystems.join(output.rstrip("/"), DIGEST_DIR)
    paths = {}
    for name in FILES:
        path = FileSystems.join(folder, name)
        write_atomically(path, contents[name].encode("utf-8"))
        paths[name] = path
    return {
        "paths": paths,
        "period": f"{digest.start}..{digest.until}",
        "articles": digest.articles,
        "stories": digest.stories,
        "new_stories": digest.new_stories,
    }


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _days(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("--days must be at least 1")
    return value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.digest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="the pipeline's --output (folder or gs:// prefix)")
    parser.add_argument("--state", default=None, help="the pipeline's --state: tells new stories from continuing ones")
    parser.add_argument("--days", type=_days, default=7, help="length of the period in days (default 7)")
    parser.add_argument("--until", type=_date, default=None,
                        help="last day of the period, YYYY-MM-DD (default: the latest publication date, at most today)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from pipeline.gcs import configure_emulator

    configure_emulator()
    try:
        result = write_digest(args.output, args.state, args.days, args.until)
    except DigestError as exc:
        print(f"newsbeam digest: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"newsbeam digest {result['period']}: {plural(result['articles'], 'article')}, "
        f"{plural(result['stories'], 'story')} ({result['new_stories']} new) -> {result['paths']['index.html']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
