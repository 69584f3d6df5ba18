"""gs:// end to end against a real Cloud Storage API (gcp-storage-emulator on 127.0.0.1),
and the Parquet output read back with pyarrow."""

import io
import json
import os

import pyarrow.parquet as pq
import pytest

from tests.support import REPO
from tests.support.cli import read_jsonl, run_cli, run_main
from tests.support.samples import TEXT_DE, TEXT_EN, TEXT_FR

INPUTS = {
    "a.jsonl": "\n".join(
        [
            json.dumps({"title": "EU sanctions", "text": TEXT_EN, "url": "https://news.example/eu",
                        "published_at": "2025-03-15T10:00:00+01:00"}),
            json.dumps({"title": "Copy", "text": TEXT_EN, "url": "https://wire.example/copy",
                        "published_at": "2025-03-15T12:00:00Z"}),
            "{broken json",
            json.dumps({"title": "Cessez-le-feu", "text": TEXT_FR}),
        ]
    ),
    "b.txt": TEXT_DE,
}


def shape(articles):
    """Ids embed the input path (gs:// vs local), so compare what they point at: each article by
    title, its duplicate mark by the original's title, its story by the titles sharing it."""
    title = {a["id"]: a["title"] for a in articles}
    stories = {}
    for a in articles:
        stories.setdefault(a["story_id"], set()).add(a["title"])
    return sorted(
        (a["title"], a["language"], a["dedup"]["status"], title.get(a["dedup"]["duplicate_of"]),
         tuple(sorted(stories[a["story_id"]])))
        for a in articles
    )


def blobs_jsonl(client, bucket, prefix):
    records = []
    for blob in client.list_blobs(bucket, prefix=prefix):
        if blob.name.endswith(".jsonl"):
            records.extend(json.loads(line) for line in blob.download_as_text().splitlines() if line.strip())
    return records


@pytest.mark.e2e
def test_gs_input_output_state_match_a_local_run(gcs_emulator, tmp_path):
    bucket = gcs_emulator.bucket("news-gcs-e2e")
    local_in = tmp_path / "in"
    local_in.mkdir()
    for name, text in INPUTS.items():
        bucket.blob(f"in/{name}").upload_from_string(text)
        (local_in / name).write_text(text, encoding="utf-8")

    gs = run_cli("--input", "gs://news-gcs-e2e/in/*.jsonl", "--input", "gs://news-gcs-e2e/in/*.txt",
                 "--output", "gs://news-gcs-e2e/out", "--state", "gs://news-gcs-e2e/state", env=gcs_emulator.env)
    assert gs.returncode == 0, gs.stderr
    # the gs:// run in a child (a fresh process must find the emulator on its own); the reference in this one
    local = run_main("--input", str(local_in / "*.jsonl"), "--input", str(local_in / "*.txt"),
                     "--output", str(tmp_path / "out"))
    assert local.returncode == 0, local.stderr

    client = gcs_emulator.client()
    articles = blobs_jsonl(client, "news-gcs-e2e", "out/articles/")
    dead = blobs_jsonl(client, "news-gcs-e2e", "out/dead_letter/")
    assert len(articles) == 4 and len(dead) == 1
    assert dead[0]["source"].startswith("gs://news-gcs-e2e/in/a.jsonl")
    assert len({a["id"] for a in articles}) == 4
    assert shape(articles) == shape(read_jsonl(tmp_path / "out" / "articles"))
    summary = json.loads(bucket.blob("out/summary.json").download_as_text())
    assert summary["articles"] == 4 and summary["dead_letters"] == 1
    # the Parquet pieces were written on gs:// and published under their final names only
    names = [b.name for b in client.list_blobs("news-gcs-e2e", prefix="out/")]
    assert not [n for n in names if "/.tmp-" in n or "_staging" in n]
    parquet = {n: pq.read_table(io.BytesIO(bucket.blob(n).download_as_bytes())).num_rows
               for n in names if n.endswith(".parquet")}
    assert sum(v for n, v in parquet.items() if n.startswith("out/articles_parquet/")) == 4
    assert sum(v for n, v in parquet.items() if n.startswith("out/dead_letter_parquet/")) == 1
    marker = json.loads(bucket.blob("out/_SUCCESS").download_as_text())
    assert {f"out/{f}" for f in marker["files"] if f.endswith(".parquet")} == set(parquet)


@pytest.mark.e2e
def test_gs_incremental_run_commits_manifest_in_gs_state(gcs_emulator):
    bucket = gcs_emulator.bucket("news-gcs-sched")
    bucket.blob("in/a.jsonl").upload_from_string(INPUTS["a.jsonl"])
    args = ("--input", "gs://news-gcs-sched/in/*", "--output", "gs://news-gcs-sched/out",
            "--state", "gs://news-gcs-sched/state", "--incremental")
    first = run_cli(*args, env=gcs_emulator.env)
    assert first.returncode == 0, first.stderr
    names = [b.name for b in gcs_emulator.client().list_blobs("news-gcs-sched")]
    assert any(n.startswith("state/manifest/run-") and n.endswith(".json") for n in names)
    assert any(n.startswith("out/articles/run=") for n in names)
    assert not any("_staging" in n or ".tmp" in n for n in names)
    again = run_main(*args, env=gcs_emulator.env)  # reads the manifest the child committed
    assert again.returncode == 0 and "nothing to do" in again.stdout


@pytest.mark.slow  # in this process: only the tables are asserted
def test_parquet_partitions_read_back_with_pyarrow(tmp_path):
    import pyarrow.dataset as ds

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_text(INPUTS["a.jsonl"], encoding="utf-8")
    config = tmp_path / "job.yaml"
    config.write_text(f"version: 1\ntopics: {REPO / 'configs' / 'topics.yaml'}\noutput:\n  format: both\n",
                      encoding="utf-8")
    out = tmp_path / "out"
    result = run_main("--input", str(src / "*.jsonl"), "--output", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr

    folders = sorted(p.name for p in (out / "articles_parquet").iterdir())
    assert folders == ["published_date=2025-03-15", "published_date=unknown"]
    table = ds.dataset(out / "articles_parquet", format="parquet", partitioning="hive").to_table()
    rows = {r["id"]: r for r in table.to_pylist()}
    jsonl = {a["id"]: a for a in read_jsonl(out / "articles")}
    assert set(rows) == set(jsonl)
    for article_id, article in jsonl.items():
        row = rows[article_id]
        assert row["title"] == article["title"] and row["text"] == article["text"]
        assert row["dedup_status"] == article["dedup"]["status"]
        assert row["dedup_duplicate_of"] == article["dedup"]["duplicate_of"]
        assert [t["name"] for t in row["topics"]] == [t["name"] for t in article["topics"]]
        assert row["places"] == article["places"] and row["organisations"] == article["organisations"]
        if article["published_at"]:
            assert row["published_at"].strftime("%Y-%m-%dT%H:%M:%SZ") == article["published_at"]
            assert str(row["published_date"]) == article["published_at"][:10]
        else:
            assert row["published_at"] is None and str(row["published_date"]) == "unknown"
    assert table.schema.field("published_at").type.tz == "UTC"


@pytest.mark.e2e
def test_parquet_format_must_be_known(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(f"version: 1\ntopics: {REPO / 'configs' / 'topics.yaml'}\noutput:\n  format: parquet\n",
                      encoding="utf-8")
    result = run_cli("--input", "x.jsonl", "--output", str(tmp_path / "o"), "--config", str(config))
    assert result.returncode == 2 and "output.format" in result.stderr


@pytest.fixture(autouse=True)
def _no_real_gcp_credentials(monkeypatch):
    # never let a developer's own credentials or project leak into these tests
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    assert "PYTEST_CURRENT_TEST" in os.environ
