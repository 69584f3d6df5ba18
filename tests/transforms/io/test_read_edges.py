"""The input edge under hostile input: NUL bytes, surrogates, blank-line bombs, floods of
bad lines, file names that are not UTF-8."""

from __future__ import annotations

import gzip
import io
import json
import os
import time

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.common.records import Rejected
from transforms.io.fileformats import read_file
from transforms.io.read import ReadArticles


def read(path: str, data: bytes, **kw) -> tuple[list[dict], list[Rejected]]:
    items = list(read_file(path, io.BytesIO(data), **kw))
    return [i for i in items if not isinstance(i, Rejected)], [i for i in items if isinstance(i, Rejected)]


def lines(n: int, bad: dict[int, bytes] | None = None) -> bytes:
    out = []
    for i in range(1, n + 1):
        out.append((bad or {}).get(i, json.dumps({"text": f"article {i}"}).encode()))
    return b"\n".join(out) + b"\n"


def test_a_raw_nul_byte_costs_its_line_not_its_file() -> None:
    articles, rejected = read("a.jsonl", lines(100, {3: b'{"text": "bro\x00ken"}'}))
    assert len(articles) == 99
    [dead] = rejected
    assert (dead.source, dead.error) == ("a.jsonl#line 3", "line 3: raw NUL byte at column 14")
    assert "\\x00" in dead.excerpt


def test_a_file_that_is_mostly_nul_or_control_bytes_is_still_one_dead_letter() -> None:
    articles, rejected = read("a.jsonl", "\n".join(['{"text": "x"}'] * 50).encode("utf-16-le"))
    assert not articles and len(rejected) == 1 and rejected[0].error.startswith("binary data")


def test_json_surrogate_escapes_become_replacement_characters_with_a_warning() -> None:
    data = b'{"text": "Half an emoji \\ud83d in the text", "title": "\\udfff", "id": "\\ud800"}\n'
    [article], rejected = read("a.jsonl", data)
    assert not rejected
    assert article["text"] == "Half an emoji \ufffd in the text" and article["title"] == "\ufffd"
    assert article["external_id"] == "\ufffd"
    assert len(article["warnings"]) == 3
    json.dumps(article, ensure_ascii=False).encode("utf-8")


def test_a_flood_of_bad_lines_is_capped_and_counted() -> None:
    data = gzip.compress(b"1\n" * 20_000)
    assert len(data) < 200
    articles, rejected = read("flood.jsonl.gz", data, max_dead_letters=1000)
    assert not articles and len(rejected) == 1001
    assert rejected[-1].count == 19_000 and rejected[-1].source == "flood.jsonl.gz"
    assert sum(r.count for r in rejected) == 20_000


def test_a_gzip_of_blank_lines_is_cheap() -> None:
    data = gzip.compress(b"\n" * 50_000_000, 9)  # ~50 KB of gzip, 50 million blank lines
    started = time.process_time()
    articles, rejected = read("blank.jsonl.gz", data)
    seconds = time.process_time() - started
    assert not articles and [r.error for r in rejected] == ["empty file (only blank lines)"]
    assert seconds < 5, f"{seconds:.1f} s of CPU for blank lines"  # a readline each: ~12 s


def test_blank_lines_keep_line_numbers_right() -> None:
    data = b"\n\r\n  \n" + b'{"text": "one"}\n' + b"\n" * 70_000 + b'  {"text": "two"}\n\n'
    articles, rejected = read("a.jsonl", data)
    assert [a["origin"] for a in articles] == ["a.jsonl#line 4", "a.jsonl#line 70005"] and not rejected


@pytest.mark.slow
def test_file_names_that_are_not_utf8_are_read_under_an_escaped_name(tmp_path) -> None:
    folder = os.fsencode(tmp_path)
    with open(os.path.join(folder, b"caf\xe9-\xff.jsonl"), "wb") as fh:
        fh.write(b'{"text": "read from a Latin-1 file name"}\n{"oops"\n')
    with open(os.path.join(folder, b"ok.jsonl"), "wb") as fh:
        fh.write(b'{"text": "plain name"}\n')
    with TestPipeline() as p:
        raw, dead = p | ReadArticles([f"{tmp_path}/*.jsonl"])
        assert_that(
            raw | beam.Map(lambda a: (os.path.basename(a["origin"]), a["text"])),
            equal_to([("caf\\xe9-\\xff.jsonl#line 1", "read from a Latin-1 file name"), ("ok.jsonl#line 1", "plain name")]),
            label="Articles",
        )
        assert_that(
            dead | beam.Map(lambda d: os.path.basename(d["source"])),
            equal_to(["caf\\xe9-\\xff.jsonl#line 2"]),
            label="DeadLetters",
        )


def test_feed_entries_with_surrogate_character_references_come_out_valid() -> None:
    rss = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>W</title>"
        "<item><title>Half &#xD83D; an emoji</title><link>https://w.example/1</link>"
        "<description>Text with &#xDFFF; a lone low surrogate and more words.</description></item>"
        "</channel></rss>"
    ).encode()
    articles, rejected = read("w.xml", rss)
    assert len(articles) + len(rejected) == 1
    for item in articles:
        json.dumps(item, ensure_ascii=False).encode("utf-8")
    for item in rejected:
        json.dumps(item.to_record(), ensure_ascii=False).encode("utf-8")
