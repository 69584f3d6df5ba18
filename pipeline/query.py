"""``python -m pipeline.query --output OUT [--format table|csv|json] ["SQL"]``: SQL over the outputs.

Opens every run's analyst tables under ``OUT`` in DuckDB (``pipeline/views.py``) as the
views ``articles``, ``stories``, ``topics`` and ``dead_letters``, runs the SQL and prints the
result: an aligned text table (default), CSV with a header, or JSON Lines (one object per
row). Without SQL it reads statements from a prompt (``;`` ends one; ``.tables``,
``.schema VIEW``, ``.quit``). Exit status: 0, 1 for a failing statement, 2 for a bad command
line or an output that is not there.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import io
import json
import sys
from typing import Any, Sequence, TextIO

import duckdb

from pipeline.views import OutputNotFound, Views
from transforms.io.tables import TABLES

FORMATS = ("table", "csv", "json")
MAX_CELL = 60  # table format: longer cells are cut (csv and json give everything)


def plain(value: Any) -> Any:
    """A DuckDB value as plain JSON data (times in ISO 8601 UTC with ``Z``)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return value.isoformat(timespec="seconds") + "Z"
        return value.isoformat(timespec="seconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def cell(value: Any) -> str:
    """One value as text in the table and CSV formats (NULL as an empty cell)."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned text table, long cells cut, and the row count."""
    cells = [[cell(v).replace("\n", " ") for v in row] for row in rows]
    cells = [[c if len(c) <= MAX_CELL else c[: MAX_CELL - 1] + "…" for c in row] for row in cells]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(r[i] is None or isinstance(plain(r[i]), (int, float)) for r in rows)
               for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def format_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([cell(v) for v in row] for row in rows)
    return buffer.getvalue().rstrip("\n")


def format_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return "\n".join(json.dumps(dict(zip(columns, plain(list(row)))), ensure_ascii=False) for row in rows)


FORMATTERS = {"table": format_table, "csv": format_csv, "json": format_json}


def run_sql(views: Views, sql: str) -> tuple[list[str], list[tuple]]:
    """The columns and rows of ``sql`` (no columns for a statement without a result)."""
    cursor = views.connection.execute(sql)
    if cursor.description is None:
        return [], []
    return [d[0] for d in cursor.description], cursor.fetchall()


def _print_result(views: Views, sql: str, fmt: str, out: TextIO) -> None:
    columns, rows = run_sql(views, sql)
    if columns:
        text = FORMATTERS[fmt](columns, rows)
        if text:
            print(text, file=out)


def _meta(views: Views, command: str, out: TextIO) -> bool:
    """A dot command of the prompt; False for ``.quit``."""
    words = command.split()
    if words[0] in (".quit", ".exit", ".q"):
        return False
    if words[0] == ".tables":
        for table in TABLES:
            print(f"{table.name}  ({views.counts[table.name]} files)", file=out)
    elif words[0] == ".schema" and len(words) == 2 and words[1] in {t.name for t in TABLES}:
        _print_result(views, f"DESCRIBE {words[1]}", "table", out)
    else:
        print("commands: .tables, .schema VIEW, .quit; SQL ends with ';'", file=out)
    return True


def interactive(views: Views, fmt: str, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    """Statements from ``stdin`` until ``.quit`` or end of input; a failing one is reported, the
    prompt goes on. Returns 1 when a statement failed and the input is not a terminal."""
    tty = stdin.isatty()
    if tty:
        try:
            import readline  # noqa: F401 - line editing and history for input()
        except ImportError:
            pass
        print("newsbeam query: views " + ", ".join(t.name for t in TABLES) + "; .tables, .schema VIEW, .quit", file=out)
    failed = False
    pending: list[str] = []
    while True:
        prompt = ("   ...> " if pending else "newsbeam> ") if tty else ""
        try:
            line = input(prompt) if tty else stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not tty and line == "":
            break
        line = line.rstrip("\n")
        if not pending and line.strip().startswith("."):
            if not _meta(views, line.strip(), out):
                break
            continue
        pending.append(line)
        statement = "\n".join(pending).strip()
        if not statement.endswith(";"):
            if not statement:
                pending = []
            continue
        pending = []
        try:
            _print_result(views, statement, fmt, out)
        except duckdb.Error as exc:
            failed = True
            print(f"error: {str(exc).splitlines()[0]}", file=err)
    if pending and "\n".join(pending).strip():  # a last statement without ';'
        try:
            _print_result(views, "\n".join(pending), fmt, out)
        except duckdb.Error as exc:
            failed = True
            print(f"error: {str(exc).splitlines()[0]}", file=err)
    return 1 if failed and not tty else 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.query",
        description="SQL (DuckDB) over every run under --output: views articles, stories, topics, dead_letters",
    )
    parser.add_argument("--output", required=True, help="the pipeline's --output (folder or gs:// prefix)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json (JSON Lines)")
    parser.add_argument("sql", nargs="?", help="the SQL to run; without it, a prompt")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        views = Views(args.output)
    except OutputNotFound as exc:
        print(f"newsbeam query: error: {exc}", file=sys.stderr)
        return 2
    with views:
        if args.sql is None:
            return interactive(views, args.format, sys.stdin, sys.stdout, sys.stderr)
        try:
            _print_result(views, args.sql, args.format, sys.stdout)
        except duckdb.Error as exc:
            print(f"newsbeam query: error: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
