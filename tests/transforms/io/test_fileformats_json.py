"""``.json`` files in detail: an array read in 64 K-character chunks with a chunk ending inside any
token, every dead letter of an array whole (source, stage, reason, excerpt), the item limit to the
character, field maps and the record format through each kind of ``.json``, and how the first line
decides between JSON Lines and one document."""

from __future__ import annotations

import io
import json

import pytest

from transforms.common.records import Rejected
from transforms.io.fieldmap import field_map
from transforms.io.fileformats import read_file

CHUNK = 1 << 16  # characters the array reader decodes at a time


def outcome(name: str, data: bytes | str, **kw) -> list[tuple]:
    """Each item read: ``(origin, format, text)`` for an article, every field of a dead letter."""
    raw = data.encode() if isinstance(data, str) else data
    return [
        (x.source, x.stage, x.error, x.excerpt, x.count) if isinstance(x, Rejected) else (x["origin"], x["format"], x["text"])
        for x in read_file(name, io.BytesIO(raw), **kw)
    ]


def cut_at(item: str, k: int) -> str:
    """An array of a filler item and ``item``, laid out so that the first chunk ends after
    ``item[:k]``."""
    head, sep = '[{"text": "', '"}, '
    filler = "a" * (CHUNK - len(head) - len(sep) - k)
    data = head + filler + sep + item + "]"
    assert data[CHUNK - k:CHUNK] == item[:k]
    return data


ITEM = '{"text": "b \\u00e9 \\ud83d\\ude00", "ok": true, "no": false, "nil": null, "n": -1.5e+3, "m": 1.25E-2, "x": {}}'


@pytest.mark.parametrize(
    "before",
    [
        '{"text": "b \\u0', '{"text": "b \\u00e', '{"text": "b \\u00e9 \\ud83d\\ud', '{"text": "b \\u00e9 \\ud83d\\ude00',
        '"ok": t', '"ok": tru', '"no": fals', '"nil": nu', '"n": -', '"n": -1.', '"n": -1.5e', '"n": -1.5e+',
        '"m": 1.25E-', '"ok": true, ', '"x": ',
    ],
)
def test_an_array_whose_chunk_ends_inside_a_token_loses_no_item(before):
    """json's decoder reports a token cut at the chunk's end (`tr`, `\\u00e`, `1.5e+`) as an
    error a few characters before the end; the reader must read on, not drop the rest."""
    k = ITEM.index(before) + len(before)
    assert outcome("a.json", cut_at(ITEM, k)) == [
        ("a.json#item 0", "jsonl", "a" * (CHUNK - len('[{"text": "') - len('"}, ') - k)),
        ("a.json#item 1", "jsonl", "b é 😀"),
    ]


def test_a_non_ascii_array_written_by_json_dumps_is_read_whole():
    """json.dumps escapes every non-ASCII character (`\\u0437`): most chunk ends of a Russian
    export fall inside an escape. All 150 items come out."""
    text = "Правительство объявило сегодня о новых мерах поддержки экономики. "
    items = [{"title": f"Новость {i}", "text": text * (3 + i % 5), "breaking": i % 2 == 0} for i in range(150)]
    data = json.dumps(items)
    assert len(data) > 4 * CHUNK
    assert [t for _, _, t in outcome("ru.json", data)] == [i["text"] for i in items]


def test_an_invalid_item_is_reported_as_invalid_even_with_a_long_rest_and_a_small_limit():
    """An error that stays where it was once more text is read is the item's own, not the
    chunk's end: the reason says so, whatever the limit."""
    bad = '{"text": "two", "n": 1 2}'
    data = '[{"text": "one"}, ' + bad + ", " + ", ".join('{"text": "more"}' for _ in range(20_000)) + "]"
    assert len(data) > 3 * CHUNK
    assert outcome("a.json", data, max_article_bytes=100) == [
        ("a.json#item 0", "jsonl", "one"),
        ("a.json#item 1", "read", "item 1: invalid JSON: Expecting ',' delimiter; the rest of the array was not read",
         data[18:218] + "…", 1),
    ]


def test_items_across_chunks_are_read_under_a_small_limit():
    """The limit is on the item being decoded, not on the chunk or the position in the file."""
    items = [{"text": f"item {i} " + "y" * 300} for i in range(1000)]
    data = json.dumps(items)
    assert [t for _, _, t in outcome("a.json", data, max_article_bytes=400)] == [i["text"] for i in items]


def test_the_item_limit_to_the_character():
    data = '[{"text": "one"}, {"text": "' + "z" * 50  # the file ends inside item 1's string
    item = data[18:]
    assert len(item) == 60
    unterminated = "item 1: invalid JSON: Unterminated string starting at; the rest of the array was not read"
    assert outcome("a.json", data, max_article_bytes=60)[1] == ("a.json#item 1", "read", unterminated, item, 1)
    over = "item 1 is over the 59-byte limit; the rest of the array was not read"
    assert outcome("a.json", data, max_article_bytes=59)[1] == ("a.json#item 1", "read", over, item, 1)


def test_an_item_over_the_limit_that_is_not_a_string():
    """A long array in an item: the chunk ends inside it, more text is read until the item
    has more characters than the limit."""
    data = '[{"text": "one", "n": [' + ", ".join(["1"] * 100_000) + "]}]"
    over = "item 0 is over the 1000-byte limit; the rest of the array was not read"
    assert outcome("a.json", data, max_article_bytes=1000) == [("a.json#item 0", "read", over, data[1:201] + "…", 1)]
    assert outcome("a.json", data) == [("a.json#item 0", "jsonl", "one")]



def test_a_whole_item_over_the_limit_is_its_own_dead_letter_and_the_array_goes_on():
    """An item decoded whole is still held to the limit a JSON Lines line is held to, in UTF-8
    bytes (not characters); the items after it are read."""
    big = '{"text": "' + "é" * 20 + '"}'  # 32 characters, 52 bytes
    data = '[{"text": "one"}, ' + big + ', {"text": "two"}]'
    over = ("a.json#item 1", "read", "item 1 is 52 bytes, over the 51 limit", big, 1)
    assert outcome("a.json", data, max_article_bytes=51) == [ONE, over, ("a.json#item 2", "jsonl", "two")]
    assert outcome("a.json", data, max_article_bytes=52)[1] == ("a.json#item 1", "jsonl", "é" * 20)

NESTED = "[" * 100_000 + "]" * 100_000
ONE = ("a.json#item 0", "jsonl", "one")
THREE = ("a.json#item 2", "jsonl", "three")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("[ ]", [("a.json", "read", "empty file (an empty JSON array)", "", 1)]),
        ('[{"text": "one"}, {"text": ]}]',
         [ONE, ("a.json#item 1", "read", "item 1: invalid JSON: Expecting value; the rest of the array was not read",
                '{"text": ]}]', 1)]),
        (f'[{{"text": "one"}}, {NESTED}]',
         [ONE, ("a.json#item 1", "read", "item 1: invalid JSON: nested too deeply; the rest of the array was not read",
                "[" * 200 + "…", 1)]),
        # a short deep item at the end of the buffer (its excerpt is cut from the item's start)
        ('[{"text": "one"}, ' + "[" * 1100,
         [ONE, ("a.json#item 1", "read", "item 1: invalid JSON: nested too deeply; the rest of the array was not read",
                "[" * 200 + "…", 1)]),
        ('[{"text": "one"}, 5, {"text": "three"}]', [ONE, ("a.json#item 1", "read", "item 1: JSON is a number, not an object", "5", 1), THREE]),
        ('[{"text": "one"}, {"title": "t", "text": ""}, {"text": "three"}]',
         [ONE, ("a.json#item 1", "read", "item 1: 'text' is empty", '{"title": "t", "text": ""}', 1), THREE]),
        ('[{"text": "one"}, {"n": ' + "7" * 5000 + "}]",  # over Python's str->int digit limit: was raised out of read_file
         [ONE, ("a.json#item 1", "read", "item 1: invalid JSON: Exceeds the limit (4300 digits) for integer string conversion: "
                "value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit; the rest of the array was not "
                "read", '{"n": ' + "7" * 194 + "…", 1)]),
        ('[{"text": "one"} ; {"text": "two"}]',
         [ONE, ("a.json#item 0", "read", "after item 0: expected ',' or ']' but found ';'; the rest was not read",
                '; {"text": "two"}]', 1)]),
    ],
)
def test_every_dead_letter_of_an_array_whole(data, expected):
    assert outcome("a.json", data) == expected


JSON_FILES = [
    ("array.json", json.dumps([{"story": "First body.", "headline": "First"}, {"story": "Second body."}])),
    ("lines.json", '{"story": "First body.", "headline": "First"}\n{"story": "Second body."}\n'),
    ("lines.jsonl", '{"story": "First body.", "headline": "First"}\n{"story": "Second body."}\n'),
]


@pytest.mark.parametrize(("name", "data"), JSON_FILES)
def test_a_field_map_reaches_every_kind_of_json_file(name, data):
    fields = field_map("newsbeam", {"text": ["story"], "title": ["headline"]})
    items = list(read_file(name, io.BytesIO(data.encode()), fields=fields))
    assert [(a["format"], a["title"], a["text"]) for a in items] == [("jsonl", "First", "First body."), ("jsonl", None, "Second body.")]
    without = list(read_file(name, io.BytesIO(data.encode())))
    assert len(without) == 2 and all(isinstance(x, Rejected) and " no text " in x.error for x in without)


def test_a_field_map_reaches_a_single_json_document():
    data = json.dumps({"story": "The body.", "headline": "The title", "when": "2026-01-02"}, indent=2).encode()
    fields = field_map("newsbeam", {"text": ["story"], "title": ["headline"], "published_at": ["when"]})
    [article] = read_file("one.json", io.BytesIO(data), fields=fields)
    assert (article["origin"], article["format"], article["title"], article["text"], article["published"]) == (
        "one.json", "jsonl", "The title", "The body.", "2026-01-02")


@pytest.mark.parametrize(
    ("data", "origins"),
    [
        # Windows line ends and trailing blanks after the first object: still JSON Lines
        ('{"text": "one"}\r\n{"text": "two"}\r\n', ["a.json#line 1", "a.json#line 2"]),
        ('{"text": "one"}   \n{"text": "two"}\n', ["a.json#line 1", "a.json#line 2"]),
        # a pretty-printed object saved with a final new line (as editors do): one document
        ('{\n  "text": "one",\n  "n": {}\n}\n', ["a.json"]),
        ('{\n  "text": "one"\n}\n\n', ["a.json"]),
    ],
)
def test_the_first_line_decides_json_lines_or_one_document(data, origins):
    assert outcome("a.json", data) == [(o, "jsonl", t) for o, t in zip(origins, ["one", "two"])]


def test_an_array_over_the_file_cap_says_how_many_items_were_read():
    data = json.dumps([{"text": c * 30_000} for c in "abc"])
    cap = data.index("c") + 10_000  # inside item 2, past the first chunk
    assert outcome("a.json", data, max_file_bytes=cap)[2:] == [
        ("a.json", "read", f"file is over the {cap}-byte limit; 2 articles were read, the rest from item 2 on was not", "", 1)]


def test_an_invalid_item_stops_the_reading_of_a_big_array():
    """The rest of the array after an invalid item is not read (nor held): a few chunks, not 5 MB."""
    data = ('[{"text": "one"}, {"text": tru}, ' + '{"text": "more"}, ' * 300_000 + '{"text": "last"}]').encode()
    stream = io.BytesIO(data)
    out = [getattr(x, "error", "ok") for x in read_file("a.json", stream)]
    assert out == ["ok", "item 1: invalid JSON: Expecting value; the rest of the array was not read"]
    assert len(data) > 5_000_000 and stream.tell() < 300_000


def test_the_excerpt_of_an_item_over_the_digit_limit_after_a_long_item():
    """The excerpt is cut from the item's start, also past the buffer's first 1,000 characters."""
    first = {"text": "a" * 1200}
    data = "[" + json.dumps(first) + ', {"n": ' + "7" * 5000 + "}]"
    [article, dead] = read_file("a.json", io.BytesIO(data.encode()))
    assert article["text"] == "a" * 1200
    assert (dead.source, dead.excerpt) == ("a.json#item 1", '{"n": ' + "7" * 194 + "…")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_document_whose_first_line_is_longer_than_8_kb_is_one_document(encoding):
    """The first line is judged on the 64 KB the reader looks ahead (16,384 characters of UTF-16),
    not on a default 8 KB buffer: a long first field on the line of the opening brace."""
    text = "x" * 12_000
    data = ('{"text": "' + text + '",\n  "title": "T"\n}\n').encode(encoding)
    assert [(a["origin"], a["title"], a["text"]) for a in read_file("a.json", io.BytesIO(data))] == [("a.json", "T", text)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_document_whose_first_line_is_longer_than_the_look_ahead_is_one_document(encoding):
    """A first line longer than the 64 KB looked ahead (16,384 characters of UTF-16) is read to
    its end to see whether it is a whole object: here it is not, so the file is one document
    (it was taken for JSON Lines: three dead letters). Blank lines before it change nothing."""
    text = "x" * 70_000
    for data in ('{"text": "' + text + '",\n  "title": "T"\n}\n', '\n \r\n{"text": "' + text + '", "title": "T"\n}'):
        items = list(read_file("a.json", io.BytesIO(data.encode(encoding))))
        assert [(a["origin"], a["title"], a["text"]) for a in items] == [("a.json", "T", text)]


def test_json_lines_whose_first_line_is_longer_than_the_look_ahead():
    """A whole object on a long first line: JSON Lines, line numbers from the first line on,
    also after blank lines; a long first line that is not JSON and runs to the end of the file
    stays one bad line."""
    long = json.dumps({"text": "y" * 70_000})
    data = "\n\n" + long + "\n" + '{"text": "two"}\n'
    assert outcome("a.json", data) == [("a.json#line 3", "jsonl", "y" * 70_000), ("a.json#line 4", "jsonl", "two")]
    assert outcome("b.json", long[:-1], max_article_bytes=100_000) == [
        ("b.json#line 1", "read", "line 1: invalid JSON: Expecting ',' delimiter (column 70012)", long[:200] + "…", 1)]
    assert outcome("c.json", long + "\n" + long, max_article_bytes=50_000)[0][2] == (
        f"line 1 is {len(long)} bytes, over the 50000 limit")


def test_a_document_that_is_not_an_article_is_the_files_dead_letter():
    assert outcome("a.json", b'{\n  "text": tru\n}\n') == [("a.json", "read", "invalid JSON: Expecting value (column 11)", "", 1)]
    assert outcome("d.json", b'"just a string"\n') == [("d.json", "read", "JSON is a string, not an object", "", 1)]


def test_anything_after_a_lines_object_but_blanks_makes_it_a_dead_letter():
    """Only spaces, tabs and the line end may follow the object: a vertical tab, a form feed or a
    letter is invalid JSON (not whitespace there)."""
    data = b'{"text": "a"}\x0b\n{"text": "b"}\x0c\n{"text": "c"}X\r\n{"text": "d"} \t\r\n'
    assert outcome("e.jsonl", data) == [
        ("e.jsonl#line 1", "read", "line 1: invalid JSON: Extra data (column 14)", '{"text": "a"}\\x0b\n', 1),
        ("e.jsonl#line 2", "read", "line 2: invalid JSON: Extra data (column 14)", '{"text": "b"}\\x0c\n', 1),
        ("e.jsonl#line 3", "read", "line 3: invalid JSON: Extra data (column 14)", '{"text": "c"}X\\x0d\n', 1),
        ("e.jsonl#line 4", "jsonl", "d"),
    ]


@pytest.mark.parametrize("before", ["", "\n"])
def test_the_long_first_line_is_read_at_most_to_the_article_limit(before):
    """Deciding reads a line of at most ``max_article_bytes``: a first line of exactly the limit ends
    within it (a document, over the limit as a whole); one byte more cannot be seen to its end, so the
    file is JSON Lines with that line over the limit."""
    limit, n = 70_000, 1 if before else 0

    def data(size: int) -> bytes:
        first = '{"text": "' + "x" * (size - 12) + '",'
        assert len(first) == size
        return (before + first + '\n "title": "T"\n}\n').encode()

    assert [(x[0], x[2]) for x in outcome("a.json", data(limit), max_article_bytes=limit)] == [
        ("a.json", f"JSON document is over the {limit}-byte article limit")]
    assert [(x[0], x[2]) for x in outcome("a.json", data(limit + 1), max_article_bytes=limit)] == [
        (f"a.json#line {1 + n}", f"line {1 + n} is {limit + 1} bytes, over the {limit} limit"),
        (f"a.json#line {2 + n}", f"line {2 + n}: invalid JSON: Extra data (column 9)"),
        (f"a.json#line {3 + n}", f"line {3 + n}: invalid JSON: Expecting value (column 1)"),
    ]


def test_a_first_line_within_the_look_ahead_decides_without_reading_ahead():
    """A document whose first line is in view but over a small article limit is a document over
    the limit (the line is not read ahead); a document that is not an object, without a final new
    line, is the file's dead letter, not a line's."""
    data = b'{"text": "' + b"x" * 100 + b'",\n "title": "T"\n}'
    assert outcome("a.json", data, max_article_bytes=50) == [
        ("a.json", "read", "JSON document is over the 50-byte article limit", data[:51].decode(), 1)]
    assert outcome("d.json", b'"just a string"') == [("d.json", "read", "JSON is a string, not an object", "", 1)]
