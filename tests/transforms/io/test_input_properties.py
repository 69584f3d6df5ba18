"""Property-based tests of the input edge (hypothesis): whatever the lines of a JSON Lines
file hold (lone surrogates, NUL bytes, raw bytes, huge and deeply nested values), the real
reader never raises, every line is exactly once an article or a dead letter, everything it
hands on is valid Unicode, and the enrichment functions keep those promises too."""

from __future__ import annotations

import datetime as dt
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.common.records import Rejected, RejectedInput
from transforms.enrich.normalize import canonical_url, date_and_reason, normalize_article, source_domain
from transforms.io.fileformats import read_file

# derandomized: the same examples on every run and machine, no example database on disk
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=30,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NOW = dt.datetime(2025, 3, 20, tzinfo=dt.timezone.utc)
LIMIT = 4000  # max_article_bytes for these tests: "huge" lines stay cheap

ODD = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00", "\x00", "\x1f", "\x7f", "\u2028", "\ufeff",
       "\ufffd", "\u200b", "😀", "é", "中", "\U0010ffff"]
odd_text = st.lists(st.one_of(st.sampled_from(ODD), st.characters(), st.text(max_size=8)), max_size=30).map("".join)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), odd_text,
    st.integers(min_value=LIMIT - 50, max_value=LIMIT + 50).map(lambda n: "x" * n),  # around the line limit
)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(odd_text, inner, max_size=4)), max_leaves=20)
FIELDS = ["text", "content", "body", "maintext", "title", "headline", "url", "link", "published_at", "date", "source",
          "language", "id"]
articles_json = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)


def _encode(obj, how: str) -> bytes:
    if how == "ascii":  # lone surrogates as \\udXXX escapes
        return json.dumps(obj, ensure_ascii=True).encode("ascii")
    # raw: the characters themselves; lone surrogates as their CESU-8 bytes (invalid UTF-8)
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")


json_lines = st.builds(_encode, articles_json, st.sampled_from(["ascii", "raw"]))
raw_lines = st.one_of(
    st.lists(st.integers(0x20, 0xFF), max_size=200).map(bytes),  # undecodable bytes, no control bytes
    st.builds(lambda a, b: b'{"text": "' + a + b"\x00" + b + b'"}', st.binary(max_size=20), st.binary(max_size=20)),
    st.sampled_from([b"", b"   ", b"\t\r", b"[" * 5000, b"{" * 3000, b'{"text": "' + b"a" * (LIMIT + 10) + b'"}',
                     b'{"text": 1e999999}', b'{"text": "x", "id": ' + b"9" * 5000 + b"}"]),
)
files = st.lists(st.one_of(json_lines, json_lines, raw_lines), min_size=1, max_size=12).map(
    lambda lines: [line.replace(b"\n", b" ") for line in lines]
)
FIRST = b'{"text": "a first good line, so no file is taken for binary or UTF-16"}'


def _read(lines: list[bytes], **kw) -> list:
    data = b"\n".join([FIRST, *lines]) + b"\n"
    return list(read_file("in.jsonl", io.BytesIO(data), max_article_bytes=LIMIT, **kw))


def _is_binary_file(items: list, lines: list[bytes]) -> bool:
    """The one outcome where lines are not counted one by one: a head that is not text."""
    if len(items) == 1 and isinstance(items[0], Rejected) and items[0].source == "in.jsonl":
        assert items[0].error.startswith("binary data")
        head = (b"\n".join([FIRST, *lines]) + b"\n")[:8192]
        assert sum(b < 32 and b not in b"\t\n\r\f" for b in head) > max(4, len(head) // 100)
        return True
    return False


def _assert_valid_unicode(value) -> None:
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate


@PROPERTY
@given(files)
def test_every_line_is_exactly_once_an_article_or_a_dead_letter(lines: list[bytes]) -> None:
    items = _read(lines, max_dead_letters=0)
    if _is_binary_file(items, lines):
        return
    origins = [i.source if isinstance(i, Rejected) else i["origin"] for i in items]
    expected = [f"in.jsonl#line {n}" for n, line in enumerate([FIRST, *lines], 1) if line.strip()]
    assert origins == expected
    for item in items:
        _assert_valid_unicode(item.to_record() if isinstance(item, Rejected) else item)
    assert [repr(i) for i in _read(lines, max_dead_letters=0)] == [repr(i) for i in items]  # deterministic


@PROPERTY
@given(files, st.integers(min_value=1, max_value=5))
def test_capped_dead_letters_still_add_up(lines: list[bytes], cap: int) -> None:
    items = _read(lines, max_dead_letters=cap)
    if _is_binary_file(items, lines):
        return
    dead = [i for i in items if isinstance(i, Rejected)]
    assert len(dead) <= cap + 1
    articles = len(items) - len(dead)
    assert articles + sum(d.count for d in dead) == sum(1 for line in [FIRST, *lines] if line.strip())


@PROPERTY
@given(files)
def test_normalize_either_gives_a_valid_article_or_a_reason(lines: list[bytes]) -> None:
    for item in _read(lines, max_dead_letters=0):
        if isinstance(item, Rejected):
            continue
        try:
            article = normalize_article(item, now=NOW, max_text_chars=2000)
        except RejectedInput as exc:
            assert str(exc)
            continue
        _assert_valid_unicode(article)
        assert article["published_at"] is None or article["published_at"].endswith("Z")


@PROPERTY
@given(st.one_of(odd_text, st.text(), st.from_regex(r"\d{1,14}([-./: T+]\d{1,4}){0,6}Z?", fullmatch=True)))
def test_url_and_date_functions_never_raise(value: str) -> None:
    for url in (value, "https://" + value, "https://a.example/" + value, "https://u:p@" + value):
        canonical_url(url)
        source_domain(url, value)
    published, reason = date_and_reason(value, now=NOW)
    assert published is None or reason is None
    if published is None and value.strip() and reason is not None:
        assert reason and len(reason) < 200
