"""End to end: a folder of hostile and foreign inputs through ``python -m pipeline``.
Nothing crashes, every input is once an article or counted in a dead letter, and the
outputs are valid UTF-8 with no credential in them. The run is in this process (``run_main``): only
its outputs are asserted."""

import gzip
import json
import os
import shutil

import pytest

from tests.support import REPO
from tests.support.cli import read_jsonl, run_main
from tests.support.samples import TEXT_EN

pytestmark = pytest.mark.slow


def _jsonl_line(i: int) -> bytes:
    record = {"title": f"Update {i}", "text": f"{TEXT_EN} Update number {i} of the day.", "url": f"https://a.example/{i}"}
    if i == 5:
        return b'{"title": "Half \\ud83d an emoji", "text": "' + TEXT_EN.encode() + b' Five.", "id": "\\ud800"}'
    if i == 7:
        record["published_at"] = "2025-03-15T10:00:00+99:99"
    if i == 9:
        record["published_at"] = "-1"
    line = json.dumps(record, ensure_ascii=False).encode()
    return line.replace(b"Update number", b"Update\x00 number") if i == 3 else line


def test_hostile_folder_conserves_every_input(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(b"\n".join(_jsonl_line(i) for i in range(1, 101)) + b"\n")
    with open(os.path.join(os.fsencode(src), b"caf\xe9.jsonl"), "wb") as fh:
        fh.write(b"\n".join(json.dumps({"text": f"{TEXT_EN} Latin-1 name {i}."}).encode() for i in range(2)) + b"\n")
    (src / "flood.jsonl.gz").write_bytes(gzip.compress(b"1\n" * 5000))
    (src / "blank.jsonl.gz").write_bytes(gzip.compress(b"\n" * 1_000_000))
    (src / "binary.txt").write_bytes(bytes(range(256)) * 8)
    for name in ("newsplease.json", "mediacloud.jsonl", "jsonld.html"):
        shutil.copy(REPO / "tests" / "data" / "inputs" / name, src / name)
    out = tmp_path / "out"

    result = run_main("--input", str(src), "--output", str(out))
    assert result.returncode == 0, result.stderr

    articles = read_jsonl(out / "articles")  # strict UTF-8: a lone surrogate would fail here
    dead = read_jsonl(out / "dead_letter")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    inputs = 100 + 2 + 5000 + 1 + 1 + 1 + 2 + 1
    assert len(articles) == 99 + 2 + 1 + 2 + 1
    assert len(articles) + sum(d.get("count", 1) for d in dead) == inputs
    assert (summary["inputs"], summary["articles"], summary["dead_letters"]) == (inputs, 105, inputs - 105)
    assert len(dead) == 1 + 1001 + 1 + 1  # the flood is capped at 1,000 + one that counts the rest

    by_origin = {os.path.basename(a["origin"]): a for a in articles}
    assert "a.jsonl#line 3" not in by_origin
    [nul] = [d for d in dead if d["source"].endswith("a.jsonl#line 3")]
    assert nul["error"].startswith("line 3: raw NUL byte at column")
    five = by_origin["a.jsonl#line 5"]
    assert five["title"] == "Half \ufffd an emoji" and five["external_id"] == "\ufffd" and len(five["warnings"]) == 2
    assert by_origin["a.jsonl#line 7"]["published_at"] is None
    assert "UTC offset out of range" in by_origin["a.jsonl#line 7"]["warnings"][0]
    assert by_origin["a.jsonl#line 9"]["published_at"] is None
    assert {"caf\\xe9.jsonl#line 1", "caf\\xe9.jsonl#line 2"} <= set(by_origin)
    page = by_origin["jsonld.html"]
    assert (page["title"], page["source"], page["published_at"]) == (
        "Floods force evacuations in river towns", "example-times.com", "2025-03-13T06:40:00Z"
    )
    assert by_origin["newsplease.json"]["published_at"] == "2025-03-15T14:30:00Z"
    [counted] = [d for d in dead if d.get("count")]
    assert counted["count"] == 4000 and counted["source"].endswith("flood.jsonl.gz")
