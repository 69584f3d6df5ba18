"""The steps of ReadArticles run in this process, without a pipeline: what a pattern
matches (each path once, in order, every file under a folder), the elements file names
travel as, and the counters and dead letters of reading files (``newsbeam.read``)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from tests.support.counters import counting
from tests.support.outputs import split_dead_letters
from transforms.io import read
from transforms.io.read import ReadFileFn, expand_pattern, open_path, output_inside_inputs, path_element

NS = "newsbeam.read"


def _lines(*texts: str) -> bytes:
    return "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()


def test_patterns_match_each_file_once_in_order(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    for name in ("b.jsonl", "a.jsonl", "sub/c.jsonl", "sub/d.txt"):
        (tmp_path / name).write_bytes(_lines("x"))
    with counting() as counters:
        paths, dead = split_dead_letters(read._MatchPattern().process(f"{tmp_path}/**/*.jsonl"))
    # "dir/**/*.x" takes the files directly in dir too, once each, sorted
    assert paths == [str(tmp_path / n) for n in ("a.jsonl", "b.jsonl", "sub/c.jsonl")] and dead == []
    assert counters() == {}
    paths, _ = split_dead_letters(read._MatchPattern().process(str(tmp_path)))  # a folder: every file under it
    assert paths == [str(tmp_path / n) for n in ("a.jsonl", "b.jsonl", "sub/c.jsonl", "sub/d.txt")]
    paths, _ = split_dead_letters(read._MatchPattern().process(f"{tmp_path}/"))
    assert len(paths) == 4


def test_a_pattern_that_matches_nothing_counts_as_rejected(tmp_path: Path):
    with counting() as counters:
        _, dead = split_dead_letters(read._MatchPattern().process(str(tmp_path / "*.jsonl")))
        _, dead2 = split_dead_letters(read._MatchPattern().process("nosuchscheme://b/*.jsonl"))
    assert [(d["source"], d["stage"]) for d in dead + dead2] == [
        (str(tmp_path / "*.jsonl"), "read"), ("nosuchscheme://b/*.jsonl", "read"),
    ]
    assert counters() == {(NS, "rejected"): 2}


def test_a_non_utf8_file_name_travels_as_bytes_and_shows_escaped(tmp_path: Path):
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jsonl")
    with open(name, "wb") as fh:
        fh.write(_lines("from a Latin-1 name"))
    [element], _ = split_dead_letters(read._MatchPattern().process(f"{tmp_path}/*.jsonl"))
    assert element == name  # bytes: a str with surrogates cannot cross a Beam coder
    assert open_path(element) == (os.fsdecode(name), f"{tmp_path}/caf\\xe9.jsonl")
    [article], dead = split_dead_letters(ReadFileFn(1 << 20, 1 << 30).process(element))
    assert dead == [] and article["origin"] == f"{tmp_path}/caf\\xe9.jsonl#line 1"
    assert article["text"] == "from a Latin-1 name"


def test_path_elements():
    assert path_element("/data/a.jsonl") == "/data/a.jsonl"
    assert path_element("/data/Genève.jsonl") == "/data/Genève.jsonl"  # valid Unicode stays a str
    assert path_element("/data/caf\udce9.jsonl") == b"/data/caf\xe9.jsonl"  # surrogateescape: its bytes
    # a lone surrogate that stands for no byte: replaced, still a str
    assert path_element("/data/x\ud800.jsonl") == "/data/x\ufffd.jsonl"
    assert open_path("/data/a.jsonl") == ("/data/a.jsonl", "/data/a.jsonl")


def test_read_file_counts_files_articles_rejects_and_bytes(tmp_path: Path):
    good = tmp_path / "a.jsonl"
    good.write_bytes(_lines("one", "two") + b"{broken\n" + _lines("three"))
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(_lines("four")))
    fn = ReadFileFn(1 << 20, 1 << 30)
    with counting() as counters:
        articles, dead = split_dead_letters([*fn.process(str(good)), *fn.process(str(packed))])
        _, gone = split_dead_letters(fn.process(str(tmp_path / "gone.jsonl")))
    assert [a["text"] for a in articles] == ["one", "two", "three", "four"]
    assert [d["source"] for d in dead] == [f"{good}#line 3"]
    assert [(d["source"], d["stage"]) for d in gone] == [(str(tmp_path / "gone.jsonl"), "read")]
    assert gone[0]["error"].startswith("cannot open file: FileNotFoundError: ")
    # bytes as read from the file system: the compressed size for a .gz
    assert counters() == {
        (NS, "files"): 3, (NS, "articles"): 4, (NS, "rejected"): 2,
        (NS, "bytes"): good.stat().st_size + packed.stat().st_size,
    }


def test_a_capped_flood_of_bad_lines_counts_every_one_as_rejected(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"{bad\n" * 30 + _lines("fine"))
    with counting() as counters:
        articles, dead = split_dead_letters(ReadFileFn(1 << 20, 1 << 30, max_dead_letters=5).process(str(path)))
    assert len(articles) == 1 and len(dead) == 6  # 5 listed, then one that counts the other 25
    assert counters()[(NS, "rejected")] == 30


def test_settings_reach_the_file_reader(tmp_path: Path):
    from transforms.io.fieldmap import field_map

    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"story_body": "mapped", "text": "plain"}\n' + _lines("x" * 200))
    fields = field_map("auto", {"text": ["story_body", "text"]})
    articles, dead = split_dead_letters(ReadFileFn(100, 1 << 30, fields=fields).process(str(path)))
    assert [a["text"] for a in articles] == ["mapped"]
    assert [d["error"] for d in dead] == ["line 2 is 212 bytes, over the 100 limit"]
    articles, dead = split_dead_letters(ReadFileFn(1 << 20, 100).process(str(path)))
    assert [a["text"] for a in articles] == ["plain"]
    assert len(dead) == 1 and dead[0]["error"].startswith("file is over the 100-byte limit")


def test_a_stream_that_fails_to_close_loses_nothing(tmp_path: Path, monkeypatch):
    from apache_beam.io.filesystems import FileSystems

    path = tmp_path / "a.jsonl"
    path.write_bytes(_lines("one", "two"))
    real_open = FileSystems.open

    class Unclosable:
        def __init__(self, stream):
            self._stream = stream
            self.read = stream.read

        def close(self):
            self._stream.close()
            raise OSError("close failed")

    monkeypatch.setattr(FileSystems, "open", lambda p, **kw: Unclosable(real_open(p, **kw)))
    articles, dead = split_dead_letters(ReadFileFn(1 << 20, 1 << 30).process(str(path)))
    assert [a["text"] for a in articles] == ["one", "two"] and dead == []


def test_expand_pattern_edges(tmp_path: Path):
    # only the first "/**/" is made optional, as a shell's globstar
    assert expand_pattern("a/**/b/**/*.x") == ["a/**/b/**/*.x", "a/b/**/*.x"]
    # a folder named with a trailing slash, or a glob that happens to be a folder's name
    assert expand_pattern(f"{tmp_path}/") == [f"{tmp_path}/**"]
    assert expand_pattern("gs://bucket/INBOX/") == ["gs://bucket/INBOX/**"]  # only the slash is cut
    (tmp_path / "[x]").mkdir()
    assert expand_pattern(f"{tmp_path}/[x]") == [f"{tmp_path}/[x]"]
    assert expand_pattern(f"{tmp_path}/nosuch") == [f"{tmp_path}/nosuch"]


def test_output_inside_inputs_with_relative_paths(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert output_inside_inputs(["**/*.jsonl"], "out") == "**/*.jsonl"
    assert output_inside_inputs([f"{tmp_path}/**/*.jsonl"], "out") == f"{tmp_path}/**/*.jsonl"
    assert output_inside_inputs(["in/*.jsonl"], "out") is None
    assert output_inside_inputs(["**/manifest/*.json"], "st", "state") == "**/manifest/*.json"
    assert output_inside_inputs(["**/manifest/*.json"], "out") is None  # not a file the output holds
    assert output_inside_inputs(["out/"], "out/") == "out/"
    assert output_inside_inputs(["out/articles/*.jsonl"], "out/") == "out/articles/*.jsonl"
    assert output_inside_inputs(["OUTX/articles/*.jsonl"], "OUTX") == "OUTX/articles/*.jsonl"


def test_a_subscription_among_the_inputs_does_not_end_the_search():
    assert output_inside_inputs(["pubsub://projects/p/subscriptions/s", "/data/**"], "/data/out") == "/data/**"


def test_a_read_failing_half_way_logs_its_traceback_at_debug_level(tmp_path: Path, monkeypatch, caplog):
    import logging

    from apache_beam.io.filesystems import FileSystems

    path = tmp_path / "a.jsonl"
    path.write_bytes(_lines("one"))

    class Failing:
        def read(self, size=-1):
            raise OSError("disk gone")

        def close(self):
            pass

    monkeypatch.setattr(FileSystems, "open", lambda p, **kw: Failing())
    with caplog.at_level(logging.DEBUG, logger="transforms.io.read"):
        _, dead = split_dead_letters(ReadFileFn(1 << 20, 1 << 30).process(str(path)))
    assert [d["error"] for d in dead] == ["read failed after 0 articles: OSError: disk gone"]
    [record] = [r for r in caplog.records if r.name == "transforms.io.read"]
    assert record.levelno == logging.DEBUG and record.getMessage() == f"reading {path} failed"
    assert record.exc_info is not None and record.exc_info[0] is OSError


def test_an_object_store_output_folder_with_a_trailing_slash():
    """``gs://`` folders are not made absolute by the OS, so the slash is cut here."""
    assert output_inside_inputs(["gs://b/out/articles/*.jsonl"], "gs://b/out/") == "gs://b/out/articles/*.jsonl"
    assert output_inside_inputs(["gs://b/out/summary.json"], "gs://b/out//") == "gs://b/out/summary.json"
    assert output_inside_inputs(["gs://b/out/articles/*.jsonl"], "gs://b/out2/") is None
    assert output_inside_inputs(["gs://b/OUTX/articles/*.jsonl"], "gs://b/OUTX/") == "gs://b/OUTX/articles/*.jsonl"
