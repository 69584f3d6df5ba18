"""End to end: one folder whose files trigger many dead-letter reasons through ``python -m pipeline``.
Each bad part is one dead letter naming its source, stage and exact reason, each good one one article,
and nothing is counted twice or lost (the pure checks of each reason are in
tests/transforms/test_dead_letter_reasons.py; docs/testing.md lists reason -> test). The run is in this
process (``run_main``): only its outputs are asserted."""

import gzip
import json
import os

import pytest

from tests.support.cli import read_jsonl, run_main
from tests.support.samples import TEXT_EN

pytestmark = pytest.mark.slow

GOOD = json.dumps({"title": "Good", "text": TEXT_EN})


def good(i: int) -> str:
    return json.dumps({"title": f"Good {i}", "text": f"{TEXT_EN} Number {i}.", "url": f"https://a.example/{i}"})


FILES = {
    "lines.jsonl": "\n".join([
        good(1), '{"a":', '"just a string"', '{"title": "x"}',
        '{"version": "https://jsonfeed.org/version/1.1", "items": []}',
        json.dumps({"title": "Short", "text": "Hi there"}), json.dumps({"title": "Blank", "text": "  "}), good(2),
    ]).encode() + b"\n",
    "items.json": f"[{good(3)}, 5]".encode(),
    "broken.json": f"[{good(4)} x".encode(),
    "none.json": b"[]",
    "binary.jsonl": b"\x00\x01\x02\x03\x04\x05" * 20,
    "empty.rss": b"",
    "fake.jsonl.gz": b"not gzip at all",
    "script.html": b"<html><body><script>var a = 1;</script></body></html>",
    "data.xyz": b"whatever",
    "gz.jsonl.gz": gzip.compress(good(5).encode() + b"\n"),
}

# (file#part, stage, reason); a separator error after item 0 is reported on "#item 0"
EXPECTED_DEAD = {
    ("lines.jsonl#line 2", "read", "line 2: invalid JSON: Expecting value (column 6)"),
    ("lines.jsonl#line 3", "read", "line 3: JSON is a string, not an object"),
    ("lines.jsonl#line 4", "read",
     "line 4: no text (fields text, content, body, maintext, text_content, article_text or description)"),
    ("lines.jsonl#line 5", "read",
     "line 5: a JSON Feed (jsonfeed.org) document; JSON Feed is not a supported input format"),
    ("lines.jsonl#line 6", "normalize", "text too short: 7 letters, at least 20 needed"),
    ("lines.jsonl#line 7", "read", "line 7: 'text' is empty"),
    ("items.json#item 1", "read", "item 1: JSON is a number, not an object"),
    ("broken.json#item 0", "read", "after item 0: expected ',' or ']' but found 'x'; the rest was not read"),
    ("none.json", "read", "empty file (an empty JSON array)"),
    ("binary.jsonl", "read", "binary data: 120 NUL or control bytes in the first 120"),
    ("empty.rss", "read", "empty file"),
    ("fake.jsonl.gz", "read", "named .gz but not gzip data"),
    ("script.html", "normalize", "no main text in HTML"),
    ("data.xyz", "read", "unsupported format '.xyz'"),
}


def test_folder_of_failures_gives_one_exact_dead_letter_each_and_conserves(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in FILES.items():
        (src / name).write_bytes(data)
    out = tmp_path / "out"

    result = run_main("--input", str(src), "--input", str(tmp_path / "missing" / "*.jsonl"), "--output", str(out))
    assert result.returncode == 0, result.stderr

    articles = read_jsonl(out / "articles")
    dead = read_jsonl(out / "dead_letter")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert sorted(a["title"] for a in articles) == [f"Good {i}" for i in range(1, 6)]
    missing = [d for d in dead if "missing" in d["source"]]
    got = {(os.path.basename(d["source"]), d["stage"], d["error"]) for d in dead if d not in missing}
    assert got == EXPECTED_DEAD
    [no_match] = missing
    assert no_match["error"] == f"no file matches '{tmp_path / 'missing' / '*.jsonl'}'"
    assert len(dead) == len(EXPECTED_DEAD) + 1  # nothing reported twice
    assert all(d.get("count", 1) == 1 for d in dead)
    assert summary["articles"] == 5
    assert summary["inputs"] == summary["articles"] + summary["dead_letters"] == len(articles) + len(dead)
