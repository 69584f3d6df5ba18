"""read_file's stream and line handling to the field: gzip failures and where they happened,
lines over the limit (size, excerpt, the lines after), blank runs and line numbers, the first
line's byte-order mark, bytes that are not UTF-8, names without a format."""

from __future__ import annotations

import codecs
import gzip
import io
import json

from transforms.common.records import Rejected, make_excerpt
from transforms.io.fileformats import CountingStream, read_file


def read(path: str, data: bytes, **kw) -> list[tuple]:
    """Each item as a tuple: ``("ok", origin, text)`` or ``(source, stage, error, excerpt)``."""
    return [
        (i.source, i.stage, i.error, i.excerpt) if isinstance(i, Rejected) else ("ok", i["origin"], i.get("text"))
        for i in read_file(path, io.BytesIO(data), **kw)
    ]


def _lines(n: int) -> bytes:
    return b"".join(json.dumps({"text": f"article {i}"}).encode() + b"\n" for i in range(n))


def test_a_truncated_gzip_keeps_the_articles_before_and_says_where():
    data = gzip.compress(_lines(50))
    items = read("a.jsonl.gz", data[:-30])
    assert items[:-1] == [("ok", f"a.jsonl.gz#line {i + 1}", f"article {i}") for i in range(39)]
    assert items[-1] == ("a.jsonl.gz", "read", "corrupt or truncated gzip data at line 40 (39 articles read before): "
                         "Compressed file ended before the end-of-stream marker was reached", "")


def test_gzip_names_without_gzip_data():
    assert read("a.jsonl.gz", b"") == [("a.jsonl.gz", "read", "empty file", "")]
    assert read("a.jsonl.gz", b"x" + b"y" * 9000) == [
        ("a.jsonl.gz", "read", "named .gz but not gzip data", make_excerpt(b"x" + b"y" * 8191))]
    assert read("a.jsonl.gz", b"\x1f") == [("a.jsonl.gz", "read", "named .gz but not gzip data", "\\x1f")]


def test_names_without_a_readable_format():
    assert read("a.csv", b"x") == [("a.csv", "read", "unsupported format '.csv'", "")]
    assert read("data/README", b"x") == [("data/README", "read", "unsupported format (no extension)", "")]
    assert read("a.gz", gzip.compress(b"x")) == [("a.gz", "read", "unsupported format (no extension)", "")]
    assert read("A.JSONL", b'{"text": "upper"}\n') == [("ok", "A.JSONL#line 1", "upper")]


def test_a_line_over_the_limit_its_size_excerpt_and_the_lines_after():
    long_line = b'{"text": "' + b"x" * 200_000 + b'"}'  # several reads of the buffer deep
    data = b'{"text": "a"}\n' + long_line + b"\n" + b'{"text": "b"}\n' + b"y" * 31
    assert read("a.jsonl", data, max_article_bytes=30) == [
        ("ok", "a.jsonl#line 1", "a"),
        ("a.jsonl#line 2", "read", f"line 2 is {len(long_line)} bytes, over the 30 limit", make_excerpt(long_line[:31])),  # the first read
        ("ok", "a.jsonl#line 3", "b"),
        ("a.jsonl#line 4", "read", "line 4 is 31 bytes, over the 30 limit", "y" * 31),  # the last, no new line
    ]
    # a long last line without a new line, longer than a buffer
    assert read("b.jsonl", b"z" * 100_000, max_article_bytes=30) == [
        ("b.jsonl#line 1", "read", "line 1 is 100000 bytes, over the 30 limit", "z" * 31)]


def test_a_line_at_the_limit_is_read():
    line = json.dumps({"text": "t" * 20}).encode()
    limit = len(line)
    assert read("a.jsonl", line + b"\n" + line, max_article_bytes=limit) == [
        ("ok", "a.jsonl#line 1", "t" * 20), ("ok", "a.jsonl#line 2", "t" * 20)]
    assert read("a.jsonl", line + b"\n" + line, max_article_bytes=limit - 1) == [
        ("a.jsonl#line 1", "read", f"line 1 is {limit} bytes, over the {limit - 1} limit", make_excerpt(line)),
        ("a.jsonl#line 2", "read", f"line 2 is {limit} bytes, over the {limit - 1} limit", make_excerpt(line))]


def test_blank_runs_keep_the_line_numbers():
    data = b"\n\r\n  \n" + b'{"text": "a"}\n\n\n{"text": "b"}\n' + b"\n" * 70_000 + b' \t{"text": "c"}'
    assert read("a.jsonl", data) == [
        ("ok", "a.jsonl#line 4", "a"), ("ok", "a.jsonl#line 7", "b"), ("ok", "a.jsonl#line 70008", "c")]
    # a run of blank lines longer than a buffer, then a bad line: its number too
    assert read("b.jsonl", b"\n" * 200_001 + b"{") == [
        ("b.jsonl#line 200002", "read", "line 200002: invalid JSON: Expecting property name enclosed in double quotes "
         "(column 2)", "{")]


def test_empty_files_and_files_of_blank_lines():
    assert read("a.jsonl", b"") == [("a.jsonl", "read", "empty file", "")]
    assert read("a.json", b"") == [("a.json", "read", "empty file", "")]
    assert read("a.jsonl", b"\n \n\r\n") == [("a.jsonl", "read", "empty file (only blank lines)", "")]
    assert read("a.jsonl", b" ") == [("a.jsonl", "read", "empty file (only blank lines)", "")]


def test_bytes_that_are_not_utf8():
    data = b'\xef\xbb\xbf{"text": "bom"}\n{"text": "caf\xe9 au lait"}\n \xe9\n \t{"text": "\xe9t\xe9"}\n'
    assert read("a.jsonl", data) == [
        ("ok", "a.jsonl#line 1", "bom"),
        ("ok", "a.jsonl#line 2", "café au lait"),  # a legacy encoding: decoded, not refused
        ("a.jsonl#line 3", "read", "line 3: not UTF-8 (byte 2) and not a JSON object", " \\xe9\n"),
        ("ok", "a.jsonl#line 4", "été"),  # an object after blanks
    ]
    # a byte-order mark at the start of any line is dropped (concatenated exports)
    assert read("b.jsonl", b'{"text": "a"}\n\xef\xbb\xbf{"text": "b"}\n') == [
        ("ok", "b.jsonl#line 1", "a"), ("ok", "b.jsonl#line 2", "b")]


def test_a_short_binary_file_is_truncated_utf16_when_it_starts_like_one():
    assert read("a.jsonl", b"\xff\xfe\x00") == [("a.jsonl", "read", "undecodable text at line 1: truncated data", "")]


def test_counting_stream_prefers_read1_and_counts_everything():
    class Chunks:
        """read1 hands over one chunk at a time; read would fail."""

        def __init__(self, chunks):
            self.chunks = list(chunks)

        def read1(self, n):
            return self.chunks.pop(0)[:n] if self.chunks else b""

        def read(self, n):
            raise AssertionError("read called")

    stream = CountingStream(Chunks([b"ab", b"cde"]))
    assert stream.readable()
    buffer = bytearray(10)
    assert stream.readinto(buffer) == 2 and stream.readinto(buffer) == 3 and stream.readinto(buffer) == 0
    assert stream.count == 5
    assert io.BufferedReader(CountingStream(io.BytesIO(b"xyz"))).read() == b"xyz"


def test_a_stream_with_read_only_is_read_too():
    """A file object of another library may have no ``read1``."""

    class ReadOnly:
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def read(self, n):
            return self.data.read(n)

    data = b'{"text": "a"}\n{"text": "b"}\n'
    items = list(read_file("a.jsonl", ReadOnly(data)))
    assert [i["text"] for i in items] == ["a", "b"]
    stream = CountingStream(ReadOnly(b"abc"), cap=2)
    buffer = bytearray(10)
    assert stream.readinto(buffer) == 2 and stream.count == 2


def test_a_file_of_only_a_utf16_or_32_byte_order_mark_is_empty():
    """Not "only blank lines": there is no line at all once the mark is read."""
    assert read("a.jsonl", codecs.BOM_UTF16_LE) == [("a.jsonl", "read", "empty file", "")]
    assert read("b.jsonl", codecs.BOM_UTF32_BE) == [("b.jsonl", "read", "empty file", "")]


def test_the_dead_letter_counting_the_rest_over_the_cap_is_whole():
    data = b"x\n" * 5 + b'{"text": "ok"}\n'
    assert read("c.jsonl", data, max_dead_letters=2) == [
        ("c.jsonl#line 1", "read", "line 1: invalid JSON: Expecting value (column 1)", "x\n"),
        ("c.jsonl#line 2", "read", "line 2: invalid JSON: Expecting value (column 1)", "x\n"),
        ("ok", "c.jsonl#line 6", "ok"),
        ("c.jsonl", "read", "3 more rejected part(s) of this input not listed one by one (over the limit of 2 dead "
         "letters per input); the first: c.jsonl#line 3: line 3: invalid JSON: Expecting value (column 1)", "x\n"),
    ]
