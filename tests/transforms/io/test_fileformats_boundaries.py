"""read_file at its limits: a headline's length and ending, the binary sniff's thresholds, the
file cap to the byte, names and extensions, UTF-16/32 JSON, the first line of a ``.json``."""

from __future__ import annotations

import codecs
import io
import json

import pytest

from transforms.common.records import Rejected
from transforms.io.fileformats import CountingStream, read_file, split_extension, split_headline


def read(path: str, data: bytes, **kw) -> tuple[list[dict], list[Rejected]]:
    items = list(read_file(path, io.BytesIO(data), **kw))
    return [i for i in items if not isinstance(i, Rejected)], [i for i in items if isinstance(i, Rejected)]


BODY = "The body of the article is longer than its headline, as a body is. " * 5


@pytest.mark.parametrize(
    ("first", "headline"),
    [
        ("h" * 200, True),  # at the limit
        ("h" * 201, False),  # over it
        *[(f"Headline{end}", False) for end in (".", "!", "?", "…", ":", ";", ",")],
        ("Headline)", True),
    ],
)
def test_a_headline_is_a_short_first_line_not_ending_like_a_sentence(first, headline):
    title, body = split_headline(f"\n  {first}  \n{BODY}\n")
    assert (title, body) == ((first, BODY.strip()) if headline else (None, f"\n  {first}  \n{BODY}\n"))


def test_a_headline_needs_a_longer_body():
    assert split_headline("Headline here\nBody here abc") == (None, "Headline here\nBody here abc")  # equal length
    assert split_headline("Headline here\nBody here abcd") == ("Headline here", "Body here abcd")
    assert split_headline("Headline here\n   \n") == (None, "Headline here\n   \n")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/a.jsonl.gz", (".jsonl", True)),
        ("data/A.JSONL.GZ", (".jsonl", True)),
        ("data/a.gz", ("", True)),
        ("data.gz/a.txt", (".txt", False)),
        ("data/a.txt/", (".txt", False)),
        ("gs://b/x.y/README", ("", False)),
        ("papers/draft.TEX", (".tex", False)),  # a name ending in X keeps it
    ],
)
def test_split_extension(path, expected):
    assert split_extension(path) == expected


def _jsonl(n: int, filler: bytes = b"") -> bytes:
    return filler + b"".join(json.dumps({"text": f"article {i}"}).encode() + b"\n" for i in range(n))


def test_binary_sniff_needs_more_than_four_control_bytes_and_more_than_one_percent():
    good = _jsonl(3)

    def with_nuls(nuls: int, size: int) -> bytes:  # NUL lines, a blank line, 3 articles: size bytes
        return b"\x00\n" * nuls + b" " * (size - 2 * nuls - 1 - len(good)) + b"\n" + good

    # four NULs: each costs its line, the file is read
    articles, dead = read("a.jsonl", with_nuls(4, 200))
    assert len(articles) == 3 and len(dead) == 4
    # five, over 1 % of the bytes sniffed: the whole file is refused
    articles, dead = read("a.jsonl", with_nuls(5, 499))
    assert articles == [] and [d.error for d in dead] == ["binary data: 5 NUL or control bytes in the first 499"]
    # five, exactly 1 %: read, five lines lost
    articles, dead = read("a.jsonl", with_nuls(5, 500))
    assert len(articles) == 3 and len(dead) == 5
    # tabs, new lines, carriage returns and form feeds are text
    articles, dead = read("a.jsonl", b"\t\r\n\x0c\n" * 50 + good)
    assert len(articles) == 3 and dead == []


def test_binary_sniff_reads_only_the_first_8_kb():
    padding = b" " * 8192 + b"\n"
    articles, dead = read("a.jsonl", padding + b"\x00\n" * 10 + _jsonl(3))
    assert len(articles) == 3 and len(dead) == 10


def test_file_cap_to_the_byte():
    data = _jsonl(3)
    articles, dead = read("a.jsonl", data, max_file_bytes=len(data))
    assert len(articles) == 3 and dead == []
    articles, dead = read("a.jsonl", data, max_file_bytes=len(data) - 1)
    assert len(articles) == 2 and [d.error for d in dead] == [
        f"file is over the {len(data) - 1}-byte limit; 2 articles were read, the rest from line 3 on was not"
    ]


def test_counting_stream_counts_and_caps():
    stream = CountingStream(io.BytesIO(b"abcdef"), cap=4)
    buffer = bytearray(10)
    assert stream.readinto(buffer) == 4 and bytes(buffer[:4]) == b"abcd" and stream.count == 4
    with pytest.raises(Exception) as raised:
        stream.readinto(buffer)
    assert type(raised.value).__name__ == "_OverLimit"
    exact = CountingStream(io.BytesIO(b"abcd"), cap=4)
    assert exact.readinto(buffer) == 4 and exact.readinto(buffer) == 0  # at the cap with nothing more: the end


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_json_lines_with_each_utf16_32_byte_order_mark(encoding):
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
           "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}[encoding]
    text = "".join(json.dumps({"text": f"Genève {i} ✓"}, ensure_ascii=False) + "\n" for i in range(3000))
    articles, dead = read("a.jsonl", bom + text.encode(encoding))
    assert dead == [] and [a["text"] for a in articles] == [f"Genève {i} ✓" for i in range(3000)]


def test_a_json_file_whose_first_line_is_a_whole_object_is_json_lines():
    lines = b'{"text": "one"}\n{"text": "two"}\n'
    articles, dead = read("a.json", codecs.BOM_UTF8 + b"  " + lines)
    assert [a["text"] for a in articles] == ["one", "two"] and dead == []
    assert [a["origin"] for a in articles] == ["a.json#line 1", "a.json#line 2"]
    pretty = json.dumps({"text": "pretty"}, indent=2).encode()
    articles, dead = read("b.json", pretty)
    assert [(a["origin"], a["text"]) for a in articles] == [("b.json", "pretty")]
    articles, _ = read("c.json", b'{"text": "one line, no newline"}')
    assert [a["origin"] for a in articles] == ["c.json#line 1"]


def test_a_json_array_after_a_utf8_byte_order_mark():
    articles, dead = read("a.json", codecs.BOM_UTF8 + b' [{"text": "one"}, {"text": "two"}]')
    assert [(a["origin"], a["text"]) for a in articles] == [("a.json#item 0", "one"), ("a.json#item 1", "two")]
    assert dead == []


_NO_SEPARATOR = "after item 0: expected ',' or ']' but found {}; the rest was not read"


@pytest.mark.parametrize(
    ("data", "where", "error"),
    [
        # cut after a comma: the file ends where an item should be
        (b'[{"text": "one"},', "item 1", "item 1: invalid JSON: Expecting value; the rest of the array was not read"),
        (b'[{"text": "one"}', "item 0", _NO_SEPARATOR.format("''")),  # no closing bracket
        (b'[{"text": "one"}  ', "item 0", _NO_SEPARATOR.format("''")),
        (b'[{"text": "one"} X]', "item 0", _NO_SEPARATOR.format("'X'")),  # no separator
    ],
)
def test_a_json_array_that_ends_early_or_lacks_a_separator(data, where, error):
    articles, dead = read("a.json", data)
    assert [a["text"] for a in articles] == ["one"]
    assert [(d.source, d.error) for d in dead] == [(f"a.json#{where}", error)]


def test_a_one_character_headline():
    assert split_headline("A\nThe body is longer than one character.") == ("A", "The body is longer than one character.")


def dead_letters(path: str, data: bytes, **kw) -> list[tuple]:
    return [(d.source, d.stage, d.error, d.excerpt) for d in read(path, data, **kw)[1]]


@pytest.mark.parametrize("name", ["a.txt", "a.html"])
def test_a_single_article_file_at_its_limit(name):
    assert read(name, b"w" * 100, max_article_bytes=100)[1] == []
    assert dead_letters(name, b"w" * 101, max_article_bytes=100) == [
        (name, "read", "file is over the 100-byte article limit", "w" * 101)]
    # the article limit is met before the file cap: the reason names the article limit
    assert dead_letters(name, b"w" * 5000, max_article_bytes=100, max_file_bytes=1000) == [
        (name, "read", "file is over the 100-byte article limit", "w" * 101)]


def test_single_article_files_that_hold_only_white_space():
    assert dead_letters("a.txt", b" \n\t ") == [("a.txt", "read", "empty file", " \n\t ")]
    # no-break and em spaces: not blank as bytes, blank as text
    assert dead_letters("b.txt", "\u00a0\u2003\n".encode()) == [("b.txt", "read", "empty file (only whitespace)", "\u00a0\u2003\n")]
    assert dead_letters("c.html", "\u00a0\n".encode()) == [("c.html", "read", "empty file (only whitespace)", "\u00a0\n")]


def test_a_json_document_over_the_article_limit():
    data = json.dumps({"text": "x" * 300}, indent=1).encode()
    assert dead_letters("a.json", data, max_article_bytes=100) == [
        ("a.json", "read", "JSON document is over the 100-byte article limit", data[:101].decode())]


def test_the_feed_cap_to_the_byte(monkeypatch):
    """Feeds are parsed whole: over the feed cap (lowered here from 20 MB) the file is one
    dead letter with the feed's reason, before the file cap is reached."""
    from transforms.io import fileformats

    rss = b"<rss version='2.0'><channel><item><title>T</title><description>Body</description></item></channel></rss>"
    monkeypatch.setattr(fileformats, "DEFAULT_MAX_FEED_BYTES", len(rss))
    articles, dead = read("a.rss", rss)
    assert [a["title"] for a in articles] == ["T"] and dead == []
    padded = rss + b" " * 5000
    assert dead_letters("a.rss", padded, max_file_bytes=1000) == [
        ("a.rss", "read", f"feed file is over the {len(rss)}-byte limit", (rss + b" ").decode())]
    # the file cap under the feed cap: the file cap's reason
    assert [d[2] for d in dead_letters("a.rss", padded, max_file_bytes=50)] == [
        "file is over the 50-byte limit; 0 articles were read, the rest from the start on was not"]
    assert dead_letters("b.atom", b" \n ") == [("b.atom", "read", "empty file", " \n ")]


def test_utf16_json_lines_are_transcoded_a_chunk_at_a_time():
    """A UTF-16 file is read through a UTF-8 view a chunk at a time, not decoded whole."""
    import tracemalloc

    text = '{"text": "first"}\n' + "\n" * 3_000_000 + '{"text": "last"}\n'
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    tracemalloc.start()
    try:
        articles, dead = read("a.jsonl", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [a["origin"] for a in articles] == ["a.jsonl#line 1", "a.jsonl#line 3000002"] and dead == []
    assert peak < 2_000_000  # the text is 6 MB as UTF-16, 3 MB as UTF-8


def test_a_raw_nul_byte_is_reported_at_its_first_column():
    data = b'\x00{"text": "a"}\n{"text": "b\x00c\x00"}\n{"text": "ok"}\n'
    articles, dead = read("a.jsonl", data)
    assert [a["text"] for a in articles] == ["ok"]
    assert [(d.source, d.error) for d in dead] == [
        ("a.jsonl#line 1", "line 1: raw NUL byte at column 1"), ("a.jsonl#line 2", "line 2: raw NUL byte at column 12")]


def test_more_dead_letters_whole():
    # a lone surrogate in UTF-16 JSON Lines: the strict decoder's reason (a chunk is decoded at a time)
    data = codecs.BOM_UTF16_LE + '{"text": "a"}\n'.encode("utf-16-le") + b"\x00\xd8" + '"}\n'.encode("utf-16-le")
    articles, dead = read("a.jsonl", data)
    assert articles == [] and [(d.source, d.stage, d.error[:28]) for d in dead] == [("a.jsonl", "read", "undecodable text at line 1: ")]
    # an integer over the digit limit on a JSON line
    assert dead_letters("b.jsonl", b'{"n": ' + b"7" * 5000 + b"}\n")[0][:3] == (
        "b.jsonl#line 1", "read", "line 1: invalid JSON: Exceeds the limit (4300 digits) for integer string conversion: "
        "value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit")
    # binary data: every field
    assert dead_letters("c.jsonl", b"\x00\x01" * 10) == [
        ("c.jsonl", "read", "binary data: 20 NUL or control bytes in the first 20", "\\x00\\x01" * 10)]
