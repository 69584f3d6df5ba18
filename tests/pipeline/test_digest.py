"""pipeline.digest: the digest files of the tables under an output, with and without --state."""

import csv
import datetime as dt
import json
import subprocess
import sys

import pytest

from pipeline import digest as digest_cli
from tests.support import REPO
from tests.support.cli import read_jsonl, run_main
from tests.support.samples import TEXT_EN, TEXT_FR
from tests.support.tables import article, write_tables

UNTIL = dt.date(2026, 3, 15)


def test_digest_files_from_tables(tmp_path):
    arts = [
        article(1, story=1, day=UNTIL, topics=("sanctions",), language="ru", source="tass.example",
                title="EU adopts sanctions package"),
        article(2, story=1, day=UNTIL, topics=("sanctions",), language="uk", source="pravda.example"),
        article(3, story=3, day=UNTIL - dt.timedelta(days=9), topics=("energy",)),
    ]
    write_tables(tmp_path, arts, [{"source": "f#line 2", "stage": "read", "error": "line 2 is not JSON", "excerpt": "{"}])
    assert digest_cli.main(["--output", str(tmp_path), "--days", "7"]) == 0
    folder = tmp_path / "digest"
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "News digest 2026-03-09 – 2026-03-15" in page and "EU adopts sanctions package" in page
    assert 'data-story-id="s-a000001"' in page and "s-a000003" not in page  # story 3 is before the period
    assert "line N is not JSON" in page
    rows = list(csv.DictReader((folder / "digest.csv").open(encoding="utf-8")))
    assert [(r["topic"], r["story_id"], r["languages"], r["status"]) for r in rows] == [
        ("sanctions", "s-a000001", "ru;uk", "new")]
    assert (folder / "digest.md").read_text(encoding="utf-8").startswith("# News digest")
    # an earlier period holds story 3 only
    earlier = digest_cli.make_digest(str(tmp_path), days=3, until=UNTIL - dt.timedelta(days=8))
    assert [s.story_id for _, stories in earlier.top for s in stories] == ["s-a000003"]


def test_command_line_errors(tmp_path, capsys):
    assert digest_cli.main(["--output", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        digest_cli.main(["--output", str(tmp_path), "--days", "0"])
    assert exc.value.code == 2
    (tmp_path / "state" / "memory").mkdir(parents=True)
    (tmp_path / "state" / "memory" / "CURRENT").write_text("not json")
    assert digest_cli.main(["--output", str(tmp_path), "--state", str(tmp_path / "state")]) == 2
    assert "damaged" in capsys.readouterr().err


@pytest.mark.e2e
def test_digest_with_state_after_real_runs(tmp_path):
    today = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jsonl").write_text(
        json.dumps({"title": "EU sanctions on Russia", "text": TEXT_EN, "url": "https://news.example/eu",
                    "published_at": today.isoformat()}) + "\n", encoding="utf-8")
    out, state = tmp_path / "out", tmp_path / "state"
    args = ("--input", str(inputs / "*.jsonl"), "--output", str(out), "--state", str(state), "--incremental")
    first = run_main(*args)  # the runs in this process; the digest command in a child
    assert first.returncode == 0, first.stderr
    (inputs / "b.jsonl").write_text(
        json.dumps({"title": "Cessez-le-feu", "text": TEXT_FR, "published_at": today.isoformat()}) + "\n",
        encoding="utf-8")
    second = run_main(*args, "--digest")
    assert second.returncode == 0, second.stderr
    assert "digest:" in second.stdout and (out / "digest" / "index.html").exists()
    stories = {a["title"]: a["story_id"] for a in read_jsonl(out / "articles")}
    remembered = digest_cli.remembered_stories(str(state))
    assert set(stories.values()) <= set(remembered)
    proc = subprocess.run([sys.executable, "-m", "pipeline.digest", "--output", str(out), "--state", str(state)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2 articles, 2 stories (2 new)" in proc.stdout
