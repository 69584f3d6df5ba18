"""End-to-end runs of ``python -m pipeline`` on files, as a user runs it: in a child process (``e2e``)
where the process is what is tested (exit status, stderr, help), in this process (``slow``) where
only the outputs are; one module run (``mixed_run``) is read by several tests."""

import gzip
import json
import os

import pytest

from tests.support.cli import read_jsonl, run_cli, run_main
from tests.support.samples import TEXT_DE, TEXT_EN, TEXT_FR


def write_mixed_inputs(src):
    """One folder of every kind of input, good and bad: 6 articles and 4 dead letters."""
    src.mkdir()
    lines = [
        json.dumps({"title": "EU sanctions", "text": TEXT_EN, "url": "https://news.example/eu?utm_source=x",
                    "published_at": "2025-03-15T10:00:00+01:00", "source": "news.example"}),
        "{broken json",
        json.dumps({"title": "Copy", "text": TEXT_EN, "url": "https://wire.example/copy", "published_at": "2025-03-15T12:00:00Z"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"title": "Cessez-le-feu", "content": TEXT_FR, "published_at": "Sat, 15 Mar 2025 08:00:00 GMT"}),
        "",
    ]
    (src / "a.jsonl").write_text("\n".join(lines), encoding="utf-8")
    with gzip.open(src / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"body": TEXT_DE, "title": "Erdbeben"}) + "\n")
    (src / "c.txt").write_text(TEXT_FR.replace("lundi", "mardi"), encoding="utf-8")
    (src / "empty.txt").write_bytes(b"")
    (src / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (src / "page.html").write_text(
        "<html><head><title>Erdbeben</title></head><body><nav>Home | News | Sport</nav>"
        f"<article><h1>Erdbeben an der Küste</h1><p>{TEXT_DE}</p><p>{TEXT_DE}</p></article>"
        "<footer>© Example Zeitung. Alle Rechte vorbehalten.</footer></body></html>",
        encoding="utf-8",
    )
    # 5 good articles in files (a.jsonl: 3, b: 1, c.txt: 1, page: 1 -> 6) and 4 bad inputs
    return src, {"articles": 6, "dead_letters": 4}


@pytest.fixture
def mixed_inputs(tmp_path):
    return write_mixed_inputs(tmp_path / "in")


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """One ``python -m pipeline -v`` run over every mixed input (progress every 0.1 s: the run lasts
    under a second on a fast machine), that several tests read: conservation, the summary, the progress line, the ids a second run must repeat."""
    base = tmp_path_factory.mktemp("mixed")
    src, expected = write_mixed_inputs(base / "in")
    out = base / "out"
    patterns = [str(src / "*.jsonl*"), str(src / "*.txt"), str(src / "*.html")]
    env = {**os.environ, "NEWSBEAM_PROGRESS_EVERY": "0.1"}
    result = run_cli(*(a for p in patterns for a in ("--input", p)), "--output", str(out), "-v", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return src, expected, out, patterns, result


@pytest.mark.e2e
def test_run_on_mixed_files_conserves_every_input(mixed_run):
    src, expected, out, _, result = mixed_run
    assert "inputs" in result.stdout and "dead letters" in result.stdout

    articles = read_jsonl(out / "articles")
    dead = read_jsonl(out / "dead_letter")
    stories = read_jsonl(out / "stories")
    assert len(articles) == expected["articles"]
    assert len(dead) == expected["dead_letters"]
    assert len({a["id"] for a in articles}) == len(articles)
    for record in dead:
        assert record["source"] and record["stage"] and record["error"]
    assert {os.path.basename(d["source"].split("#")[0]) for d in dead} == {"a.jsonl", "empty.txt", "binary.txt"}

    by_title = {a["title"]: a for a in articles}
    original, copy = by_title["EU sanctions"], by_title["Copy"]
    assert original["url"] == "https://news.example/eu"
    assert original["published_at"] == "2025-03-15T09:00:00Z"
    assert original["dedup"] == {"status": "unique", "duplicate_of": None}
    assert copy["dedup"] == {"status": "exact_duplicate", "duplicate_of": original["id"]}
    assert copy["story_id"] == original["story_id"]
    assert {t["name"] for t in original["topics"]} >= {"sanctions"}
    for topic in original["topics"]:
        for ev in topic["evidence"]:
            assert original[ev.get("field", "text")][ev["start"]:ev["end"]] == ev["text"]
    assert {a["language"] for a in articles} == {"en", "fr", "de"}
    for story in stories:
        assert set(story) >= {"story_id", "article_ids", "headline", "first_published_at", "languages", "topics"}
    assert sorted(i for s in stories for i in s["article_ids"]) == sorted(a["id"] for a in articles)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["articles"] == expected["articles"] and summary["dead_letters"] == expected["dead_letters"]


@pytest.mark.e2e
def test_ids_are_stable_across_runs_and_runner_settings(mixed_run, tmp_path):
    src, _, first, _, _ = mixed_run  # one process, the default runner settings, over the same files as src/*
    second = tmp_path / "o2"
    # the launcher in this process (its two worker processes are children as always): 2-3 s less CPU
    assert run_main("--input", str(src / "*"), "--output", str(second), "--direct_num_workers", "2",
                    "--direct_running_mode", "multi_processing").returncode == 0
    key = lambda a: (a["id"], a["dedup"]["status"], a["dedup"]["duplicate_of"], a["story_id"])  # noqa: E731
    assert sorted(map(key, read_jsonl(first / "articles"))) == sorted(map(key, read_jsonl(second / "articles")))


@pytest.mark.slow
def test_rerun_into_same_output_replaces_previous_results(mixed_inputs, tmp_path):
    src, expected = mixed_inputs
    out = tmp_path / "out"
    for _ in range(2):  # in this process: what is tested is the output folder, not the process
        assert run_main("--input", str(src / "*.jsonl"), "--output", str(out)).returncode == 0
    assert len(read_jsonl(out / "articles")) == 3


@pytest.mark.slow
def test_seed_articles_end_to_end(shared_data, tmp_path):
    out = tmp_path / "out"
    result = run_main("--input", str(shared_data / "seeds" / "*.txt"), "--output", str(out))
    assert result.returncode == 0, result.stderr
    articles = read_jsonl(out / "articles")
    assert len(articles) == 2
    wanted = {"sanctions", "troop_deployment", "ceasefire", "peace_talks", "frozen_assets", "security_guarantees",
              "military_aid"}
    for article in articles:
        assert article["language"] == "en"
        assert article["dedup"]["status"] == "unique"
        names = {t["name"] for t in article["topics"]}
        assert wanted <= names, wanted - names
        assert all(t["evidence"] for t in article["topics"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--output", "x"], "nothing to read"),
        (["--input", "x.jsonl"], "--output"),
        pytest.param(["--input", "x.jsonl", "--output", "o", "--inptu", "y"], "unrecognized arguments: --inptu",
                     marks=pytest.mark.e2e),
        (["--input", "x.jsonl", "--output", "o", "--config", "/nonexistent.yaml"], "config file not found"),
        (["--input", "x.jsonl", "--output", "o", "--window-seconds", "0"], "--window-seconds"),
        (["--input", "pubsub://projects/p/subscriptions/s", "--output", "o"], "add --streaming"),
        (["--input", "x.jsonl", "--output", "o", "--output-topic", "projects/p/topics/t"], "add --streaming"),
    ],
)
def test_bad_command_lines_fail_with_one_clear_line(args, message, tmp_path):
    # argparse's own error through a child process (the status and the one line a scheduler sees); the
    # others in this process: the same main() and stderr, no interpreter start (2-3 s of CPU each)
    run = run_cli if "--inptu" in args else run_main
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_unwritable_output_fails_fast(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_main("--input", "x.jsonl", "--output", str(blocker / "sub"))  # status 2 through a child: above
    assert result.returncode == 2
    assert "not writable" in result.stderr


@pytest.mark.slow
def test_a_pattern_matching_nothing_beside_one_that_matches_is_a_dead_letter(mixed_inputs, tmp_path):
    src, _ = mixed_inputs
    out = tmp_path / "out"
    result = run_main("--input", str(src / "*.jsonl"), "--input", str(tmp_path / "nothing-*.jsonl"), "--output", str(out))
    assert result.returncode == 0, result.stderr
    dead = [d for d in read_jsonl(out / "dead_letter") if "no file matches" in d["error"]]
    assert len(dead) == 1


@pytest.mark.e2e
def test_help_is_short_newsbeam_first_and_beams_options_are_one_flag_away():
    short = run_cli("--help")  # the child: the program name and what a user sees
    assert short.returncode == 0
    assert short.stdout.startswith("usage: python -m pipeline --input PATTERN")
    assert len(short.stdout.splitlines()) < 70 and "--help-beam" in short.stdout
    full = run_main("--help-beam")  # in this process: the same main(), less CPU
    assert full.returncode == 0 and "--dataflow_service_options" in full.stdout
    version = run_main("--version")
    assert version.returncode == 0 and version.stdout.startswith("newsbeam ")


@pytest.mark.e2e
def test_summary_names_runner_version_inputs_outputs_times_and_readable_reasons(mixed_run):
    src, _, out, patterns, result = mixed_run  # run with -v
    run = json.loads((out / "summary.json").read_text())["run"]
    assert run["runner"] == "FnApiRunner" and run["inputs"] == patterns
    assert run["output"] == str(out) and run["newsbeam_version"] and run["beam_version"]
    assert run["started_at"] <= run["finished_at"] and run["finished_at"].endswith("Z")
    assert " on FnApiRunner" in result.stdout and f"outputs:    {out}" in result.stdout
    assert "prism" not in result.stderr.lower()  # -v shows Beam's info lines: no Prism attempt among them
    # one real example per reason, as written, with where it came from
    assert "invalid JSON" in result.stdout or "JSON" in result.stdout
    assert f"{src}/a.jsonl#line 2" in result.stdout and "'…'" not in result.stdout
    assert "Using yield and return" not in result.stderr


@pytest.mark.e2e
def test_progress_line_on_stderr_and_none_with_q(mixed_run, tmp_path):
    src, _, _, _, loud = mixed_run  # run with NEWSBEAM_PROGRESS_EVERY=0.1
    assert "articles read (" in loud.stderr and "/s)" in loud.stderr
    env = {**os.environ, "NEWSBEAM_PROGRESS_EVERY": "0.1"}
    quiet = run_cli("--input", str(src / "*"), "--output", str(tmp_path / "o2"), "-q", env=env)
    assert quiet.returncode == 0 and quiet.stderr == ""
