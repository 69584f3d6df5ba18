"""Exit statuses a scheduler can trust (README "Exit status"), end to end, and a failed start
never touching the outputs of an earlier run."""

import hashlib
import json
import os

import pytest

from pipeline import exitcodes
from tests.support.cli import read_jsonl, run_cli, run_main
from tests.support.httpserver import LocalHTTPServer, serve_status
from tests.support.samples import TEXT_EN, TEXT_FR

pytestmark = pytest.mark.e2e


def snapshot(folder) -> dict[str, str]:
    """Every file under ``folder`` with a digest of its bytes."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """An input folder and the outputs of a successful run over it."""
    base = tmp_path_factory.mktemp("earlier")
    src = base / "in"
    src.mkdir()
    lines = [json.dumps({"title": "Sanctions", "text": TEXT_EN, "url": "https://a.example/1"}),
             json.dumps({"title": "Trêve", "text": TEXT_FR}), "{broken"]
    (src / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = base / "out"
    result = run_main("--input", str(src / "*.jsonl"), "--output", str(out))  # only sets up: in this process
    assert result.returncode == 0, result.stderr
    return src, out, snapshot(out)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runner", "Flonk"], "--runner Flonk: unknown runner"),
        (["--window-seconds", "abc"], "--window-seconds"),
        (["--max-dead-letter-ratio", "2"], "--max-dead-letter-ratio must be between 0 and 1"),
        (["--log-level", "loud"], "--log-level"),
        (["--config", "BAD_CONFIG"], "unknown section(s) colour"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_a_bad_start_is_status_2_in_one_line_and_leaves_earlier_outputs(earlier_run, tmp_path, args, message):
    src, out, before = earlier_run
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("version: 1\ncolour: blue\n")
    args = [str(bad_config) if a == "BAD_CONFIG" else a for a in args]
    # one case through a child process (the status a scheduler sees, nothing else printed on the way),
    # the others in this process: the same main() and the same stderr, 2-3 s less CPU each
    run = run_cli if args == ["--bogus"] else run_main
    result = run("--input", str(src / "*.jsonl"), "--output", str(out), *args)
    assert result.returncode == exitcodes.USAGE, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(out) == before


def test_no_input_matched_is_status_3_before_anything_is_touched(earlier_run, tmp_path):
    _, out, before = earlier_run
    result = run_cli("--input", "/nonexistent/*.jsonl", "--input", str(tmp_path / "nope-*.jsonl"), "--output", str(out))
    assert result.returncode == exitcodes.NOTHING_READ, result.stderr
    assert result.stderr.strip() == f"newsbeam: error: no input matched: /nonexistent/*.jsonl, {tmp_path}/nope-*.jsonl"
    assert snapshot(out) == before


def test_mistyped_incremental_path_is_status_3_not_nothing_to_do(earlier_run, tmp_path):
    src, _, _ = earlier_run
    out, state = tmp_path / "out", tmp_path / "state"
    # in this process: status 3 through a child is checked above and below; here what tells the two apart
    ok = run_main("--input", str(src / "*.jsonl"), "--output", str(out), "--state", str(state), "--incremental")
    assert ok.returncode == 0, ok.stderr
    again = run_main("--input", str(src / "*.jsonl"), "--output", str(out), "--state", str(state), "--incremental")
    assert again.returncode == 0 and "nothing to do" in again.stdout  # nothing new is not a failure
    typo = run_main("--input", str(src / "*.jsnol"), "--output", str(out), "--state", str(state), "--incremental")
    assert typo.returncode == exitcodes.NOTHING_READ and "no input matched" in typo.stderr


def test_every_input_rejected_is_status_3_with_the_summary(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bad.jsonl").write_text("{broken\n[1]\n")
    # in this process (status 3 through a child: the tests above and below), the same main(), stdout and stderr
    result = run_main("--input", str(tmp_path / "*.txt"), "--input", str(tmp_path / "*.jsonl"), "--output", str(tmp_path / "out"))
    assert result.returncode == exitcodes.NOTHING_READ, result.stderr
    assert "nothing could be read: all 3 inputs were rejected" in result.stderr
    assert "3 dead letters" in result.stdout  # the summary is printed before the error
    assert "nothing was published and earlier outputs are kept" in result.stderr
    assert not (tmp_path / "out" / "dead_letter").exists()  # a failed run publishes nothing...
    assert len(read_jsonl(tmp_path / "out" / "_staging")) == 3  # ...and leaves its dead letters to read


def test_every_feed_failed_is_status_3(tmp_path):
    with LocalHTTPServer() as server:
        server.route("/a.xml", serve_status(500))
        server.route("/b.xml", serve_status(404))
        result = run_cli("--feed", server.url("/a.xml"), "--feed", server.url("/b.xml"), "--allow-private-networks",
                         "--output", str(tmp_path / "out"))
    assert result.returncode == exitcodes.NOTHING_READ, result.stderr
    dead = [d for d in read_jsonl(tmp_path / "out" / "_staging") if "stage" in d]  # not published: see above
    assert {d["stage"] for d in dead} == {"fetch"} and len(dead) == 2


def test_dead_letter_ratio_past_the_threshold_is_status_4(earlier_run, tmp_path):
    src, _, _ = earlier_run
    args = ["--input", str(src / "*.jsonl"), "--output", str(tmp_path / "out")]
    assert run_main(*args, "--max-dead-letter-ratio", "0.5").returncode == 0  # under the threshold: published
    published = read_jsonl(tmp_path / "out" / "articles")
    over = run_cli(*args, "--max-dead-letter-ratio", "0.2")
    assert over.returncode == exitcodes.TOO_MANY_DEAD_LETTERS, over.stderr
    assert "1 of 3 inputs were rejected (33.3%), over --max-dead-letter-ratio 0.2" in over.stderr
    assert published and read_jsonl(tmp_path / "out" / "articles") == published  # the failed run published nothing
