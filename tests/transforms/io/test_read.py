"""read_file (pure) and ReadArticles (Beam): every format, every bad input."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.io.fileformats import html_metadata, read_file, split_extension
from transforms.io.read import ReadArticles, expand_pattern
from transforms.common.records import Rejected

RAW_KEYS = {"origin", "format", "title", "text", "html", "url", "published", "source", "language", "external_id"}

FR = "Le président a dit : « c’est une trêve fragile » – à Genève, les négociations reprendront lundi."
FR_LATIN1 = "Le président a déclaré à Genève que la trêve restait fragile ; les négociations reprendront lundi."
DE = (
    "Die Regierung kündigte am Montag neue Maßnahmen an. „Wir müssen jetzt handeln“, sagte die Ministerin – "
    "und die Bürger werden es spüren. Die Opposition kritisierte die Pläne scharf."
)
RU = (
    "Правительство объявило сегодня о новых мерах поддержки экономики. Министр финансов заявил, что бюджет "
    "будет пересмотрен в ближайшие недели, а налоги для малого бизнеса снижены."
)
RSS = (
    "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Wire</title>"
    "<link>https://wire.example.net/</link>"
    "<item><title>Ceasefire holds</title><link>https://wire.example.net/1</link><description>Quiet night.</description></item>"
    "<item><title>Talks in Geneva</title><link>https://wire.example.net/2</link></item>"
    "</channel></rss>"
)


def read(path: str, data: bytes, **kw) -> list:
    return list(read_file(path, io.BytesIO(data), **kw))


def split(items: list) -> tuple[list[dict], list[Rejected]]:
    articles = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    for a in articles:
        assert set(a) == RAW_KEYS
    for r in rejected:
        assert r.stage == "read" and r.error
    return articles, rejected


def jsonl(*objs) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs).encode("utf-8")


# --------------------------------------------------------------------------- formats


def test_jsonl_maps_the_documented_fields() -> None:
    data = jsonl(
        {
            "id": 17,
            "title": "Summit",
            "text": "Leaders met.",
            "url": "https://example.org/a",
            "published_at": "2025-03-15T10:00:00Z",
            "source": "example.org",
            "language": "en",
            "unknown": [1, 2],
        },
        {"content": "Second body", "published": "15 March 2025"},
        {"body": "Third body"},
    )
    articles, rejected = split(read("in/a.jsonl", data))
    assert not rejected
    assert articles[0] == {
        "origin": "in/a.jsonl#line 1",
        "format": "jsonl",
        "title": "Summit",
        "text": "Leaders met.",
        "html": None,
        "url": "https://example.org/a",
        "published": "2025-03-15T10:00:00Z",
        "source": "example.org",
        "language": "en",
        "external_id": "17",
    }
    assert [(a["origin"], a["text"], a["published"]) for a in articles[1:]] == [
        ("in/a.jsonl#line 2", "Second body", "15 March 2025"),
        ("in/a.jsonl#line 3", "Third body", None),
    ]


def test_json_lines_array_and_single_object() -> None:
    lines, _ = split(read("a.json", jsonl({"text": "one"}, {"text": "two"})))
    assert [(a["origin"], a["text"]) for a in lines] == [("a.json#line 1", "one"), ("a.json#line 2", "two")]

    array = json.dumps([{"text": "x"}, {"title": "no text"}, {"content": "y"}], indent=2).encode()
    articles, rejected = split(read("b.json", array))
    assert [(a["origin"], a["text"]) for a in articles] == [("b.json#item 0", "x"), ("b.json#item 2", "y")]
    assert [(r.source, r.error) for r in rejected] == [("b.json#item 1", "item 1: no text (fields text, content, body, maintext, text_content, article_text or description)")]

    one = json.dumps({"title": "T", "text": "pretty\nprinted"}, indent=2).encode()
    [a] = read("c.json", one)
    assert (a["origin"], a["title"], a["text"]) == ("c.json", "T", "pretty\nprinted")


def test_json_array_streams_items_across_buffer_boundaries() -> None:
    items = [{"text": f"article {i} " + "x" * (i * 37 % 5000)} for i in range(300)]
    data = json.dumps(items).encode()
    assert len(data) > 3 * 65536
    articles, rejected = split(read("big.json", data))
    assert not rejected and [a["text"] for a in articles] == [i["text"] for i in items]


def test_json_array_with_broken_item_keeps_what_came_before() -> None:
    data = b'[{"text": "good"}, {"text": oops}, {"text": "unreachable"}]'
    articles, rejected = split(read("b.json", data))
    assert [a["text"] for a in articles] == ["good"]
    assert len(rejected) == 1 and rejected[0].source == "b.json#item 1" and "invalid JSON" in rejected[0].error


def test_txt_is_one_article() -> None:
    [a] = read("notes/story.txt", "First line.\nSecond line.\n".encode())
    assert a == {**dict.fromkeys(RAW_KEYS), "origin": "notes/story.txt", "format": "txt", "text": "First line.\nSecond line.\n"}


def test_html_page_and_its_head_metadata() -> None:
    page = (
        "<!doctype html><html lang='de'><head><meta charset='utf-8'><title>Fallback | Site</title>"
        "<meta property='og:title' content='Gipfel in London &amp; Paris'>"
        "<meta property='og:site_name' content='Beispiel'>"
        "<meta content='2025-03-15T09:00:00+01:00' property='article:published_time'>"
        "<link href='https://beispiel.example/gipfel' rel='canonical'></head>"
        f"<body><article><p>{DE}</p></article></body></html>"
    )
    [a] = read("p/page.HTM", page.encode())
    assert a["format"] == "html" and a["html"] == page and a["text"] is None
    assert (a["url"], a["title"], a["published"], a["source"], a["language"]) == (
        "https://beispiel.example/gipfel",
        "Gipfel in London & Paris",
        "2025-03-15T09:00:00+01:00",
        "Beispiel",
        "de",
    )
    assert html_metadata("<title> A\n  page </title><meta property='og:url' content='https://x.example/1'>")["url"] == "https://x.example/1"
    assert html_metadata("<p>nothing</p>") == dict.fromkeys(["url", "title", "published", "source", "language"])


@pytest.mark.parametrize("name", ["f.xml", "f.rss", "f.atom", "f.RSS.gz"])
def test_feed_files(name: str) -> None:
    data = RSS.encode()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    articles, rejected = split(read(f"feeds/{name}", data))
    assert not rejected
    assert [(a["origin"], a["title"], a["url"], a["source"]) for a in articles] == [
        (f"feeds/{name}#entry 0", "Ceasefire holds", "https://wire.example.net/1", "wire.example.net"),
        (f"feeds/{name}#entry 1", "Talks in Geneva", "https://wire.example.net/2", "wire.example.net"),
    ]


@pytest.mark.parametrize(
    "name,data",
    [
        ("a.jsonl", jsonl({"text": "gz one"}, {"text": "gz two"})),
        ("a.json", json.dumps([{"text": "gz one"}, {"text": "gz two"}]).encode()),
        ("a.txt", b"gz one"),
        ("a.html", b"<html><body><p>gz one</p></body></html>"),
    ],
)
def test_gzipped_files_read_like_plain_ones(name: str, data: bytes) -> None:
    plain = read(f"d/{name}", data)
    zipped = read(f"d/{name}.gz", gzip.compress(data))
    assert zipped == [{**a, "origin": a["origin"].replace(name, name + ".gz")} for a in plain]
    assert plain and not split(plain)[1]


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    "text,encoding",
    [(FR, "cp1252"), (DE, "cp1252"), (FR_LATIN1, "latin-1"), (RU, "koi8-r"), (RU, "utf-8-sig"), (DE, "utf-16")],
)
def test_txt_legacy_encodings_are_decoded(text: str, encoding: str) -> None:
    [a] = read("enc.txt", text.encode(encoding))
    assert a["text"] == text


@pytest.mark.parametrize("encoding", ["cp1252", "koi8-r", "utf-8-sig"])
def test_jsonl_lines_in_a_legacy_encoding(encoding: str) -> None:
    text = RU if encoding == "koi8-r" else DE
    data = (json.dumps({"text": text}, ensure_ascii=False) + "\n").encode(encoding)
    [a] = read("legacy.jsonl", data)
    assert a["text"] == text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_jsonl_in_utf16_or_32_with_bom(encoding: str) -> None:
    data = jsonl({"text": RU}, {"text": "two"}).decode().encode(encoding)
    articles, rejected = split(read("win.jsonl", data))
    assert not rejected and [a["text"] for a in articles] == [RU, "two"]


def test_invalid_utf8_in_a_jsonl_line_is_decoded_not_dropped() -> None:
    data = b'{"text": "caf\xe9 cr\xe8me, d\xe9j\xe0 vu et na\xefvet\xe9 \xe0 la fran\xe7aise"}\n'
    [a] = read("bad-utf8.jsonl", data)
    assert a["text"] == "café crème, déjà vu et naïveté à la française"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", ["e.jsonl", "e.json", "e.txt", "e.html", "e.xml", "e.jsonl.gz", "e.txt.gz"])
@pytest.mark.parametrize("content", [b"", b"  \n\n \t\r\n"], ids=["empty", "blank"])
def test_empty_and_blank_files_are_one_dead_letter(name: str, content: bytes) -> None:
    data = gzip.compress(content) if name.endswith(".gz") and content else content
    items = read(name, data)
    assert len(items) == 1 and isinstance(items[0], Rejected)
    assert items[0].source == name and items[0].error.startswith("empty file")


@pytest.mark.parametrize("name", ["bin.jsonl", "bin.json", "bin.txt", "bin.html", "bin.txt.gz"])
def test_binary_garbage_is_rejected(name: str) -> None:
    data = bytes(range(256)) * 40
    if name.endswith(".gz"):
        data = gzip.compress(data)
    items = read(name, data)
    assert len(items) == 1 and isinstance(items[0], Rejected)
    assert "binary" in items[0].error and items[0].source == name


def test_bad_lines_among_good_ones() -> None:
    lines = [
        b'{"text": "good 1"}',
        b"",
        b'{"text": "broken',
        b"[1, 2]",
        b'"just a string"',
        b'{"title": "title alone is not an article"}',
        b'{"text": 42}',
        b'{"content": {"nested": true}}',
        b'{"text": "   "}',
        b"   ",
        b'{"text": "good 2"}',
        b"[" * 100_000,
        b'{"text": "good 3"}',
    ]
    articles, rejected = split(read("mixed.jsonl", b"\r\n".join(lines)))
    assert [(a["origin"], a["text"]) for a in articles] == [
        ("mixed.jsonl#line 1", "good 1"),
        ("mixed.jsonl#line 11", "good 2"),
        ("mixed.jsonl#line 13", "good 3"),
    ]
    assert [(r.source, r.error) for r in rejected] == [
        ("mixed.jsonl#line 3", "line 3: invalid JSON: Unterminated string starting at (column 10)"),
        ("mixed.jsonl#line 4", "line 4: JSON is an array, not an object"),
        ("mixed.jsonl#line 5", "line 5: JSON is a string, not an object"),
        ("mixed.jsonl#line 6", "line 6: no text (fields text, content, body, maintext, text_content, article_text or description)"),
        ("mixed.jsonl#line 7", "line 7: 'text' is a number, not a string"),
        ("mixed.jsonl#line 8", "line 8: 'content' is an object, not a string"),
        ("mixed.jsonl#line 9", "line 9: 'text' is empty"),
        ("mixed.jsonl#line 12", "line 12: invalid JSON: nested too deeply"),
    ]
    assert rejected[0].excerpt.startswith('{"text": "broken')


def test_unsupported_format() -> None:
    [r] = read("docs/report.pdf", b"%PDF-1.7")
    assert (r.source, r.error) == ("docs/report.pdf", "unsupported format '.pdf'")
    [r] = read("docs/README", b"text")
    assert r.error == "unsupported format (no extension)"
    assert split_extension("gs://b/x/Y.JSONL.GZ") == (".jsonl", True)


def test_gz_name_without_gzip_data() -> None:
    [r] = read("x.jsonl.gz", jsonl({"text": "plain"}))
    assert r.error == "named .gz but not gzip data" and r.excerpt.startswith('{"text"')


def test_truncated_gzip_keeps_the_lines_before_and_reports_the_rest() -> None:
    data = gzip.compress(jsonl(*[{"text": f"t{i}"} for i in range(5000)]))
    articles, rejected = split(read("cut.jsonl.gz", data[: len(data) // 2]))
    assert 0 < len(articles) < 5000
    assert len(rejected) == 1 and "corrupt or truncated gzip" in rejected[0].error
    assert f"{len(articles)} articles read before" in rejected[0].error


def test_gzip_bomb_stops_at_the_decompressed_cap() -> None:
    line = json.dumps({"text": "y" * 1000}).encode() + b"\n"
    data = gzip.compress(line * 20_000)  # ~20 MB that compresses ~1000:1
    assert len(data) < 200_000
    articles, rejected = split(read("bomb.jsonl.gz", data, max_file_bytes=1_000_000))
    assert len(articles) == 1_000_000 // len(line)
    assert len(rejected) == 1
    assert "over the 1000000-byte limit after decompression" in rejected[0].error
    assert f"{len(articles)} articles were read" in rejected[0].error

    [r] = read("bomb.txt.gz", gzip.compress(b"z" * 10_000_000), max_article_bytes=100_000)
    assert r.error == "file is over the 100000-byte article limit"


def test_20mb_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    size = 20 * 1024 * 1024
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.write(b'{"text": "before"}\n')
        f.write(b'{"text": "')
        chunk = b"a" * (1 << 20)
        for _ in range(20):
            f.write(chunk)
        f.seek(-len(b'{"text": "') - 2, io.SEEK_CUR)  # make the line exactly 20 MiB
        f.write(b'"}\n{"text": "after"}\n')
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            items = list(read_file(str(path), stream))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    articles, rejected = split(items)
    assert [a["text"] for a in articles] == ["before", "after"]
    assert [(r.source, r.error) for r in rejected] == [
        (f"{path}#line 2", f"line 2 is {size} bytes, over the 2000000 limit")
    ]
    assert peak < 6_000_000  # about 2 x the 2 MB line limit, far under the 20 MiB line


def test_json_feed_documents_are_refused_with_a_reason() -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "f", "items": [{"id": "1", "content_text": "x"}]}
    for data in (json.dumps(doc).encode(), json.dumps(doc, indent=2).encode()):
        [r] = read("feed.json", data)
        assert "JSON Feed" in r.error


def test_oversized_txt_and_pretty_json() -> None:
    [r] = read("big.txt", b"word " * 1000, max_article_bytes=1000)
    assert r.error == "file is over the 1000-byte article limit"
    [r] = read("big.json", json.dumps({"text": "w " * 1000}, indent=1).encode(), max_article_bytes=1000)
    assert r.error == "JSON document is over the 1000-byte article limit"


def test_expand_pattern(tmp_path: Path) -> None:
    assert expand_pattern("data/**/*.jsonl") == ["data/**/*.jsonl", "data/*.jsonl"]
    assert expand_pattern(str(tmp_path)) == [f"{tmp_path}/**"]
    assert expand_pattern("gs://bucket/in/") == ["gs://bucket/in/**"]
    assert expand_pattern("a/*.txt") == ["a/*.txt"]


# --------------------------------------------------------------------------- Beam


def _write_tree(root: Path) -> dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
    """Write good and bad files; return per file (articles as (origin, text|title),
    dead letters as (source, error start))."""
    (root / "sub" / "deeper").mkdir(parents=True)
    files = {
        "a.jsonl": jsonl({"text": "alpha"}, {"text": "beta"}) + b"{broken\n",
        "sub/b.jsonl.gz": gzip.compress(jsonl({"text": "gamma"})),
        "sub/deeper/c.txt": "Rätsel – delta".encode("cp1252"),
        "sub/d.html": b"<html><head><title>Epsilon</title></head><body><p>epsilon body</p></body></html>",
        "sub/e.xml": RSS.encode(),
        "empty.jsonl": b"",
        "blank.txt": b" \n ",
        "binary.txt": bytes(range(256)) * 10,
        "report.pdf": b"%PDF-1.4",
        "fake.jsonl.gz": b"not gzip",
        "sub/bomb.xml": ("<!DOCTYPE r [<!ENTITY a 'b'>]><rss><channel><item><title>&a;</title></item></channel></rss>").encode(),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return {
        "a.jsonl": ([("a.jsonl#line 1", "alpha"), ("a.jsonl#line 2", "beta")], [("a.jsonl#line 3", "line 3: invalid JSON")]),
        "sub/b.jsonl.gz": ([("sub/b.jsonl.gz#line 1", "gamma")], []),
        "sub/deeper/c.txt": ([("sub/deeper/c.txt", "Rätsel – delta")], []),
        "sub/d.html": ([("sub/d.html", "Epsilon")], []),
        "sub/e.xml": ([("sub/e.xml#entry 0", "Ceasefire holds"), ("sub/e.xml#entry 1", "Talks in Geneva")], []),
        "empty.jsonl": ([], [("empty.jsonl", "empty file")]),
        "blank.txt": ([], [("blank.txt", "empty file")]),
        "binary.txt": ([], [("binary.txt", "binary")]),
        "report.pdf": ([], [("report.pdf", "unsupported format '.pdf'")]),
        "fake.jsonl.gz": ([], [("fake.jsonl.gz", "named .gz but not gzip data")]),
        "sub/bomb.xml": ([], [("sub/bomb.xml", "feed declares XML entities")]),
    }


def _key(a: dict) -> tuple[str, str]:
    return a["origin"], a["text"] or a["title"]


@pytest.mark.slow
def test_read_articles_conserves_every_input(tmp_path: Path) -> None:
    expected = _write_tree(tmp_path)
    root = str(tmp_path)
    patterns = [
        f"{root}/**",  # every file
        f"{root}/**/*.jsonl",  # overlaps: a.jsonl and empty.jsonl are read once
        f"{root}/sub/e.xml",
        f"{root}/nothing/*.jsonl",
    ]
    want_articles = sorted((f"{root}/{o}", t) for arts, _ in expected.values() for o, t in arts)
    want_dead = sorted(
        [(f"{root}/{s}", "read", e) for _, dead in expected.values() for s, e in dead]
        + [(f"{root}/nothing/*.jsonl", "read", f"no file matches '{root}/nothing/*.jsonl'")]
    )

    def dead_key(d: dict) -> tuple[str, str, str]:
        want = next((w for w in want_dead if w[0] == d["source"] and d["error"].startswith(w[2])), None)
        return (d["source"], d["stage"], want[2] if want else d["error"])

    with TestPipeline() as p:
        articles, dead = p | "Read" >> ReadArticles(patterns)
        assert_that(articles | "ArticleKeys" >> beam.Map(_key), equal_to(want_articles), label="AllGoodArticlesOnce")
        assert_that(dead | "DeadKeys" >> beam.Map(dead_key), equal_to(want_dead), label="EveryBadInputDeadLettered")
        assert_that(
            dead | "HasExcerptField" >> beam.Map(lambda d: sorted(d)),
            equal_to([["error", "excerpt", "source", "stage"]] * len(want_dead)),
            label="DeadLetterShape",
        )


@pytest.mark.slow
def test_read_articles_matches_the_plain_function_and_counts(tmp_path: Path) -> None:
    _write_tree(tmp_path)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    plain = [item for f in files for item in read_file(str(f), f.open("rb"))]
    plain_articles = [i for i in plain if not isinstance(i, Rejected)]
    plain_dead = [i.to_record() for i in plain if isinstance(i, Rejected)]

    p = TestPipeline()
    articles, dead = p | "Read" >> ReadArticles([str(tmp_path)])
    assert_that(articles | "Json" >> beam.Map(json.dumps, sort_keys=True), equal_to([json.dumps(a, sort_keys=True) for a in plain_articles]), label="SameArticles")
    assert_that(dead | "DeadJson" >> beam.Map(json.dumps, sort_keys=True), equal_to([json.dumps(d, sort_keys=True) for d in plain_dead]), label="SameDead")
    result = p.run()
    result.wait_until_finish()
    counters = {
        r.key.metric.name: r.committed
        for r in result.metrics().query(beam.metrics.MetricsFilter().with_namespace("newsbeam.read"))["counters"]
    }
    assert counters["files"] == len(files)
    assert counters["articles"] == len(plain_articles)
    assert counters["rejected"] == len(plain_dead)
    # bytes actually read: an unsupported file is never opened for reading
    assert counters["bytes"] == sum(f.stat().st_size for f in files if f.suffix != ".pdf")


@pytest.mark.parametrize(
    "text, title",
    [
        ("Gas storage refill lags behind plan\n\nEurope's gas storage sites are filling more slowly than planned.", "Gas storage refill lags behind plan"),
        ("A first line that is a sentence.\nAnd a second line with more words in it than the first.", None),
        ("Only one line of text here", None),
        ("Short headline\nshort", None),
        ("x" * 250 + "\n" + "y" * 500, None),
    ],
)
def test_plain_text_headline_is_the_first_short_line(text, title):
    from transforms.io.fileformats import split_headline

    got_title, body = split_headline(text)
    assert got_title == title
    if title:
        assert not body.startswith(title) and body in text
    else:
        assert body == text


def test_output_inside_an_input_pattern_is_found():
    from transforms.io.read import output_inside_inputs

    assert output_inside_inputs(["/data/**/*.jsonl"], "/data/out") == "/data/**/*.jsonl"
    assert output_inside_inputs(["/data/*.jsonl"], "/data/out") is None  # * stays in its folder
    assert output_inside_inputs(["/data/out/articles/*.jsonl"], "/data/out") == "/data/out/articles/*.jsonl"
    assert output_inside_inputs(["/data/**/*.json"], "/data/out") == "/data/**/*.json"  # summary.json
    assert output_inside_inputs(["/data/**/*.txt", "/other/**"], "/data/out") is None
    assert output_inside_inputs(["gs://b/in/**"], "gs://b/in/out") == "gs://b/in/**"
    assert output_inside_inputs(["gs://b/in/**"], "gs://b/out") is None
    assert output_inside_inputs(["/data/**/*.jsonl.gz"], "/data/state", "state") == "/data/**/*.jsonl.gz"
    assert output_inside_inputs(["pubsub://projects/p/subscriptions/s"], "/data/out") is None
