"""Every dead-letter reason the pure functions emit, triggered on purpose, with its exact text (the
reason is what an operator reads in dead_letter/). The table in docs/testing.md maps each
``reject(...)`` / ``RejectedInput(...)`` call site to the test that triggers it; the CLI run over a
folder of such inputs (conservation end to end) is tests/test_cli_dead_letters.py."""

import io
import json

import pytest

from pipeline.streaming import article_from_message
from transforms.common.records import Rejected, RejectedInput
from transforms.dedup.exact import EXACT, UNIQUE
from transforms.enrich.normalize import normalize_article
from transforms.enrich.text import decode_bytes, html_to_text
from transforms.io.fileformats import read_file
from transforms.io.opml import read_opml
from transforms.state.memory import decode_record

ARTICLE = '{"title": "t", "text": "Enough words here to be an article body."}'


def refusal(fn, *args, **kwargs) -> str:
    with pytest.raises(RejectedInput) as info:
        fn(*args, **kwargs)
    return str(info.value)


def outcome(name: str, data: bytes) -> list[str]:
    """What the reader makes of one file: ``ok`` per article, the reason per dead letter."""
    return [x.error if isinstance(x, Rejected) else "ok" for x in read_file(name, io.BytesIO(data))]


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("a.json", b"[]", ["empty file (an empty JSON array)"]),
        ("a.json", f'[{ARTICLE}, {{"a": ]'.encode(),
         ["ok", "item 1: invalid JSON: Expecting value; the rest of the array was not read"]),
        ("a.json", f"[{ARTICLE}, {'[' * 100_000}{']' * 100_000}]".encode(),
         ["ok", "item 1: invalid JSON: nested too deeply; the rest of the array was not read"]),
        ("a.json", f"[{ARTICLE} x".encode(), ["ok", "after item 0: expected ',' or ']' but found 'x'; the rest was not read"]),
        ("a.json", f"[{ARTICLE}, 5]".encode(), ["ok", "item 1: JSON is a number, not an object"]),
        ("a.jsonl", b"\x00\x01\x02\x03\x04\x05" * 20, ["binary data: 120 NUL or control bytes in the first 120"]),
        ("a.jsonl", f'{ARTICLE}\n{{"a":\n'.encode(), ["ok", "line 2: invalid JSON: Expecting value (column 6)"]),
        ("a.jsonl", f"{ARTICLE}\n".encode() + b"\xff\xfe{bad\n", ["ok", "line 2: not UTF-8 (byte 1) and not a JSON object"]),
        ("a.jsonl", f'{ARTICLE}\n"just a string"\n'.encode(), ["ok", "line 2: JSON is a string, not an object"]),
        ("a.jsonl", b'{"version": "https://jsonfeed.org/version/1.1", "items": []}\n',
         ["line 1: a JSON Feed (jsonfeed.org) document; JSON Feed is not a supported input format"]),
        ("a.jsonl", b'{"title": "x"}\n',
         ["line 1: no text (fields text, content, body, maintext, text_content, article_text or description)"]),
        ("a.txt", b"   \n\n  ", ["empty file"]),
        ("a.rss", b"", ["empty file"]),
    ],
)
def test_reader_reasons(name, data, expected):
    assert outcome(name, data) == expected


BASE = {"id": "a", "first_seen": "2026-01-01T00:00:00Z", "status": UNIQUE}


def entry(**changes) -> str:
    record = {**BASE, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not None})


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{", "memory entry is not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        ("[1]", "memory entry is not a JSON object"),
        (entry(url=5), "memory entry: 'url' must be a string or null, got int"),
        (entry(id=None), "memory entry has no id"),
        (entry(first_seen=None), "memory entry has no first_seen"),
        (entry(first_seen="yesterday"), "memory entry: first_seen 'yesterday' is not an ISO time"),
        (entry(status="odd"), "memory entry: unknown status 'odd'"),
        (entry(status=EXACT), "memory entry: a duplicate without duplicate_of"),
        (entry(minhash="!!"), "memory entry: minhash is not base64"),
        (entry(minhash="AAA="), "memory entry: minhash of 2 bytes is not a uint32 signature"),
        (entry(features={"a": "b"}), "memory entry: features must map feature names to numbers"),
    ],
)
def test_memory_entry_reasons(line, reason):
    assert refusal(decode_record, line) == reason


@pytest.mark.parametrize(
    "data, max_bytes, reason",
    [
        (b"x" * 10, 5, "OPML document is 10 bytes, over the 5-byte limit"),
        (b"  ", 10**6, "empty OPML document"),
        (b"<!DOCTYPE opml><opml/>", 10**6, "OPML document has a DOCTYPE or entity declaration; refused"),
        (b'<?xml version="1.0"?>', 10**6, "OPML document is not well-formed XML: Start tag expected, '<' not found, "
                                          "line 1, column 22 (<string>, line 1)"),
        (b"<rss/>", 10**6, "not an OPML document (root element 'rss')"),
    ],
)
def test_opml_reasons(data, max_bytes, reason):
    assert refusal(read_opml, data, max_bytes=max_bytes) == reason


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"  \n", "empty message"),
        (b"\xff{", "message is not UTF-8 (byte 0)"),
        (b'{"a": ]', "message is not JSON: Expecting value at line 1 column 7"),
    ],
)
def test_pubsub_message_reasons(data, reason):
    assert refusal(article_from_message, data, "sub#1") == reason


@pytest.mark.parametrize(
    "raw, reason",
    [
        ([1], "not a RawArticle record (list)"),
        ({"text": "   "}, "empty text after normalisation"),
        ({"text": "Hi there"}, "text too short: 7 letters, at least 20 needed"),
        ({"html": "<html></html>"}, "no main text in HTML"),
    ],
)
def test_normalize_reasons(raw, reason):
    assert refusal(normalize_article, raw) == reason


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x00" * 50 + b"abc", "binary data: 50 NUL bytes"),
        (b"\x01\x02\x03abc\x04\x05\x06" * 10, "binary data: 60 of 90 bytes are control characters"),
        (b"\xef\xbb\xbf\xff\xfe\xfd", "undecodable: utf-8 byte-order mark but invalid utf-8 (invalid start byte)"),
    ],
)
def test_decode_reasons(data, reason):
    assert refusal(decode_bytes, data) == reason


@pytest.mark.parametrize(
    "html, reason",
    [
        ("", "no main text in HTML (empty)"),
        ("<html><body><script>x</script></body></html>", "no main text in HTML"),
    ],
)
def test_html_reasons(html, reason):
    assert refusal(html_to_text, html) == reason


def test_more_reasons():
    from tests.support.samples import SMALL_TAXONOMY
    from transforms.enrich.taxonomy import Taxonomy
    from transforms.enrich.topics import make_article_tagger

    tag = make_article_tagger(Taxonomy.from_dict(SMALL_TAXONOMY))
    assert refusal(tag, {"text": None}) == "article has no text string (text is NoneType)"
    nav = "<html><body>" + "".join(f'<p><a href="/{i}">Section number {i} of the site</a></p>' for i in range(20))
    assert refusal(html_to_text, nav + "</body></html>") == "no main text in HTML (only navigation links)"
    assert refusal(decode_bytes, bytes(range(128, 256)) * 3) == "undecodable: not UTF-8 and no character encoding fits"
    assert [x.error for x in read_file("a.rss", io.BytesIO(b"<rss>" + b"x" * 100), max_file_bytes=50)] == [
        "file is over the 50-byte limit; 0 articles were read, the rest from the start on was not"]


@pytest.mark.parametrize(
    "name, data, expected",
    [
        # bytes.lstrip() takes a form feed for whitespace, JSON does not: the array reader refuses it
        ("a.json", b"\x0c[" + ARTICLE.encode() + b"]", ["not a JSON array"]),
        # a byte that is not UTF-8 in a later 64 KB chunk: the items decoded before it are read
        ("a.json", ("[" + ",".join([ARTICLE.replace('"t"', f'"t{i}", "pad": "{"p" * 2000}"') for i in range(60)])).encode()
         + b', {"title": "\xff"}]', ["ok"] * 31 + ["undecodable text at item 31: invalid start byte"]),
        ("a.txt", ("Headline\n\nSome words " + "\u0085" * 40).encode(),
         ["binary or garbled data (decoded as utf-8: mostly control characters)"]),
        ("a.rss", b'<rss version="2.0"><channel><item><title>&#1114112;</title></item></channel></rss>',
         ["feed parser failed: ValueError: chr() arg not in range(0x110000)"]),
    ],
)
def test_reader_reasons_against_library_internals(name, data, expected):
    assert outcome(name, data) == expected


def test_reasons_behind_a_first_check():
    """The second line of defence: an HTML document lxml cannot build, an OPML DOCTYPE hidden from
    the byte scan by UTF-7 (tests/test_cli_rare_failures.py runs both through the CLI)."""
    assert refusal(html_to_text, "<!-- only a comment -->") == "no main text in HTML (unparseable)"
    utf7 = b'<?xml version="1.0" encoding="UTF-7"?>+ADwAIQ-DOCTYPE opml><opml version="2.0"><body/></opml>'
    assert refusal(read_opml, utf7) == "OPML document has a DOCTYPE; refused"
