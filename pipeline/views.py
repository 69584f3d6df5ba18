"""The analyst tables of every run under ``--output``, opened in DuckDB as views.

Each view (``articles``, ``stories``, ``topics``, ``dead_letters``) reads every Parquet
file of its folder (``transforms/io/tables.py``) under ``OUT``: a plain run's
``articles_parquet/published_date=D/`` and scheduled runs' ``articles_parquet/run=R/
published_date=D/`` alike. Files are grouped by their set of Hive keys and each group read
with ``hive_partitioning`` and ``union_by_name`` (the keys, ``published_date`` and ``run``,
are VARCHAR columns, NULL where a layout lacks them); a table with no file is an empty
view with the table's schema, so queries work on any output.

``gs://`` outputs: DuckDB's httpfs would need the network for its extension, so the
Parquet files are first copied through Beam's ``FileSystems`` (the google-cloud-storage
client, or the emulator of ``STORAGE_EMULATOR_HOST``) into a temporary folder.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from typing import Iterable

import duckdb
import pyarrow as pa

from transforms.io.tables import PARTITION_KEY, TABLES, Table

RUN_KEY = "run"
HIVE_KEYS = (RUN_KEY, PARTITION_KEY)


class OutputNotFound(ValueError):
    """``--output`` is not a folder newsbeam wrote."""


def is_table_file(relative: str) -> bool:
    """Whether a path under a table folder is a complete Parquet file (not a temporary one)."""
    name = relative.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith(".")


def hive_keys(relative: str) -> tuple[str, ...]:
    """The Hive keys in a file's path below its table folder: ``run=x/published_date=y/f`` -> ``("run", "published_date")``."""
    return tuple(part.split("=", 1)[0] for part in relative.split("/")[:-1] if "=" in part)


def group_by_keys(relatives: Iterable[str]) -> dict[tuple[str, ...], list[str]]:
    """Files grouped by their Hive key set (DuckDB reads one layout per ``read_parquet``)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for relative in sorted(relatives):
        groups.setdefault(hive_keys(relative), []).append(relative)
    return groups


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def view_sql(table: Table, folder: str, groups: dict[tuple[str, ...], list[str]]) -> str:
    """``SELECT`` over every file group of ``table`` under the local ``folder``."""
    selects = []
    for keys, files in sorted(groups.items()):
        paths = ", ".join(_sql_str(os.path.join(folder, f)) for f in files)
        hive = "true, hive_types_autocast = false" if keys else "false"
        extra = "".join(f", NULL::VARCHAR AS {k}" for k in HIVE_KEYS if k not in keys)
        selects.append(
            f"SELECT *{extra} FROM read_parquet([{paths}], hive_partitioning = {hive}, union_by_name = true)"
        )
    return "\nUNION ALL BY NAME\n".join(selects)


def empty_table(table: Table) -> pa.Table:
    """No rows, the table's columns plus the Hive keys."""
    schema = table.schema
    for key in HIVE_KEYS:
        schema = schema.append(pa.field(key, pa.string()))
    return schema.empty_table()


def _local_files(root: str, folder: str) -> list[str]:
    base = pathlib.Path(root, folder)
    if not base.is_dir():
        return []
    return [p.relative_to(base).as_posix() for p in base.rglob("*.parquet") if is_table_file(p.as_posix())]


def _remote_copy(output: str, into: str) -> None:
    """Copy every table file under the remote ``output`` into the local folder ``into``."""
    from apache_beam.io.filesystems import FileSystems

    from pipeline.gcs import configure_emulator

    configure_emulator()
    base = output.rstrip("/")
    for table in TABLES:
        prefix = f"{base}/{table.folder}/"
        try:
            found = [m.path for r in FileSystems.match([prefix + "**"]) for m in r.metadata_list]
        except Exception:  # noqa: BLE001 - a folder that cannot be listed has no files for the view
            found = []
        for path in found:
            relative = path[len(prefix):]
            if not is_table_file(relative):
                continue
            target = pathlib.Path(into, table.folder, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            with FileSystems.open(path) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


class Views:
    """A DuckDB connection with the four views over ``output``; close it (or use ``with``)."""

    def __init__(self, output: str) -> None:
        self._temp = None
        root = output
        if "://" in output:
            self._temp = tempfile.mkdtemp(prefix="newsbeam-query-")
            _remote_copy(output, self._temp)
            root = self._temp
        elif not os.path.isdir(output):
            raise OutputNotFound(f"--output {output} is not a folder")
        self.connection = duckdb.connect(":memory:")
        self.connection.execute("SET TimeZone = 'UTC'")  # timestamps come back as UTC datetimes
        self.counts: dict[str, int] = {}
        for table in TABLES:
            files = _local_files(root, table.folder)
            self.counts[table.name] = len(files)
            if files:
                sql = view_sql(table, os.path.join(root, table.folder), group_by_keys(files))
                self.connection.execute(f"CREATE VIEW {table.name} AS {sql}")
            else:
                self.connection.register(f"_empty_{table.name}", empty_table(table))
                self.connection.execute(f"CREATE VIEW {table.name} AS SELECT * FROM _empty_{table.name}")

    def close(self) -> None:
        self.connection.close()
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)

    def __enter__(self) -> "Views":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
