"""pipeline.query and pipeline.views: the analyst tables of every run in DuckDB."""

import collections
import datetime as dt
import io
import json
import pathlib
import subprocess
import sys

import pytest

from pipeline import query
from pipeline.views import Views, group_by_keys, hive_keys
from tests.support import REPO
from tests.support.cli import read_jsonl, run_main
from tests.support.tables import article, write_tables

DAY = dt.date(2026, 3, 15)


def _articles():
    return [
        article(1, story=1, day=DAY, topics=("sanctions",), language="ru", source="tass.example"),
        article(2, story=1, day=DAY, topics=("sanctions", "energy"), language="uk", source="pravda.example"),
        article(3, story=3, day=DAY - dt.timedelta(days=1), topics=("ceasefire",), language="en"),
    ]


def test_hive_keys_and_groups():
    assert hive_keys("run=r1/published_date=2026-03-15/part-000.parquet") == ("run", "published_date")
    assert hive_keys("part-000.parquet") == ()
    groups = group_by_keys(["published_date=x/a.parquet", "run=1/published_date=x/a.parquet", "b.parquet"])
    assert sorted(groups) == [(), ("published_date",), ("run", "published_date")]


def test_views_read_every_run_whatever_its_layout(tmp_path):
    write_tables(tmp_path, _articles()[:2], [{"source": "x#line 1", "stage": "read", "error": "bad JSON", "excerpt": "{"}])
    write_tables(tmp_path, _articles()[2:], [{"source": "y#line 9", "stage": "read", "error": "bad JSON", "excerpt": "["}],
                 run="r2")
    with Views(str(tmp_path)) as views:
        con = views.connection
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 3
        assert con.execute("SELECT count(*) FROM stories").fetchone()[0] == 2
        assert con.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 2
        assert con.execute("SELECT topic, count(*) FROM topics GROUP BY 1 ORDER BY 1").fetchall() == [
            ("ceasefire", 1), ("energy", 1), ("sanctions", 2)]
        runs = con.execute("SELECT id, run, published_date FROM articles ORDER BY id").fetchall()
        assert runs == [("a000001", None, "2026-03-15"), ("a000002", None, "2026-03-15"), ("a000003", "r2", "2026-03-14")]
        assert con.execute("SELECT list_sort(list(run)) FROM dead_letters").fetchone()[0] == ["r2", None]
        # the first question of docs/queries.md: sanctions stories in Russian or Ukrainian media, by outlet
        rows = con.execute(
            "SELECT source, count(DISTINCT story_id) FROM topics WHERE topic = 'sanctions' "
            "AND language IN ('ru', 'uk') GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert rows == [("pravda.example", 1), ("tass.example", 1)]


def test_empty_output_gives_empty_views_with_columns(tmp_path):
    with Views(str(tmp_path)) as views:
        for name in ("articles", "stories", "topics", "dead_letters"):
            assert views.connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == 0
        columns = [r[0] for r in views.connection.execute("DESCRIBE topics").fetchall()]
        assert columns[:4] == ["article_id", "story_id", "topic", "score"] and "published_date" in columns


def test_formats():
    columns, rows = ["topic", "n", "at", "langs"], [("sanctions", 2, dt.datetime(2026, 3, 15, 9, tzinfo=dt.timezone.utc),
                                                    ["ru", "uk"]), ("x" * 80, None, None, [])]
    table = query.format_table(columns, rows).splitlines()
    assert table[0].split() == columns and table[-1] == "(2 rows)"
    assert "2026-03-15T09:00:00Z" in table[2] and len(table[3]) < 100 and table[3].startswith("x" * 59 + "…")
    csv_lines = query.format_csv(columns, rows).splitlines()
    assert csv_lines[1] == 'sanctions,2,2026-03-15T09:00:00Z,"[""ru"", ""uk""]"'
    first = json.loads(query.format_json(columns, rows).splitlines()[0])
    assert first == {"topic": "sanctions", "n": 2, "at": "2026-03-15T09:00:00Z", "langs": ["ru", "uk"]}


def test_interactive_prompt_reads_statements_until_quit(tmp_path):
    write_tables(tmp_path, _articles())
    out, err = io.StringIO(), io.StringIO()
    script = "SELECT count(*) AS n\nFROM articles;\n.tables\nSELECT nope FROM articles;\nSELECT 42 AS x;\n.quit\nSELECT 1;\n"
    with Views(str(tmp_path)) as views:
        status = query.interactive(views, "csv", io.StringIO(script), out, err)
    assert status == 1  # a statement failed and the input was not a terminal
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["n", "3"] and "articles  (2 files)" in lines and lines[-2:] == ["x", "42"]
    assert err.getvalue().startswith("error: Binder Error")


def test_missing_output_and_bad_sql_exit_codes(tmp_path, capsys):
    assert query.main(["--output", str(tmp_path / "nope"), "SELECT 1"]) == 2
    write_tables(tmp_path, _articles())
    assert query.main(["--output", str(tmp_path), "SELEC 1"]) == 1
    assert query.main(["--output", str(tmp_path), "--format", "json", "SELECT count(*) AS n FROM stories"]) == 0
    assert capsys.readouterr().out.strip() == '{"n": 2}'


@pytest.mark.e2e
def test_parquet_counts_per_topic_equal_the_jsonl_counts(tmp_path):
    """The acceptance check: one real run on the bundled sample, counted both ways."""
    out = tmp_path / "out"
    sample = REPO / "data" / "sample"
    inputs = [a for ext in ("jsonl", "jsonl.gz", "txt", "html", "rss", "atom") for a in ("--input", f"{sample}/*.{ext}")]
    result = run_main(*inputs, "--output", str(out))  # the runs in this process; the query command in a child
    assert result.returncode == 0, result.stderr
    articles = read_jsonl(out / "articles")
    expected = collections.Counter(t["name"] for a in articles for t in a["topics"])
    assert expected, "the sample has tagged articles"
    sql = "SELECT topic, count(*) AS n FROM topics GROUP BY topic ORDER BY topic"
    proc = subprocess.run([sys.executable, "-m", "pipeline.query", "--output", str(out), "--format", "json", sql],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = {row["topic"]: row["n"] for row in map(json.loads, proc.stdout.splitlines())}
    assert got == dict(expected)
    with Views(str(out)) as views:
        con = views.connection
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == len(articles)
        assert con.execute("SELECT count(*) FROM stories").fetchone()[0] == len(read_jsonl(out / "stories"))
        assert con.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == len(read_jsonl(out / "dead_letter"))
        stories_ids = sorted(r[0] for r in con.execute("SELECT story_id FROM stories").fetchall())
        assert stories_ids == sorted({a["story_id"] for a in articles})
    # a second plain run into the same output replaces the tables, never adds to them
    again = run_main(*inputs, "--output", str(out))
    assert again.returncode == 0, again.stderr
    with Views(str(out)) as views:
        assert views.connection.execute("SELECT count(*) FROM articles").fetchone()[0] == len(articles)


@pytest.mark.e2e
def test_query_reads_a_gs_output(gcs_emulator, tmp_path):
    bucket = gcs_emulator.bucket("news-query")
    local = tmp_path / "local"
    write_tables(local, _articles(), run="r1")
    for path in local.rglob("*.parquet"):
        bucket.blob(f"out/{path.relative_to(local).as_posix()}").upload_from_filename(str(path))
    bucket.blob("out/articles_parquet/.tmp-123").upload_from_string(b"half a file")
    with Views("gs://news-query/out") as views:
        assert views.connection.execute("SELECT count(*) FROM topics WHERE run = 'r1'").fetchone()[0] == 4
        assert views.counts["articles"] == 2
    assert not pathlib.Path(views._temp).exists()  # the downloaded copy is removed
