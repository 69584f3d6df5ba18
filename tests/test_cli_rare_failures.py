"""End to end: the failure paths that need an input crafted against a library's internals, through
``python -m pipeline``. Each bad file is one dead letter with its exact source, stage and reason, each
good part one article, and the run conserves its inputs (inputs = articles + dead letters). A linked
page that is not HTML or is empty is no dead letter: the entry keeps its summary (counted as
``full_text.failed``). An OPML file whose DOCTYPE only the XML parser sees (UTF-7) stops the start
(status 2, in a child). docs/testing.md maps every reason to its test."""

import json
import os

import pytest
import yaml

from pipeline import exitcodes
from tests.support.cli import read_jsonl, run_cli, run_main
from tests.support.feeds import rss
from tests.support.httpserver import LocalHTTPServer, serve_bytes, serve_feed
from tests.support.samples import TEXT_EN


ITEM_PAD = "p" * 2000  # an ignored field: makes the array long enough to be decoded in several chunks


def item(i: int) -> str:
    return json.dumps({"title": f"Row {i}", "text": f"{TEXT_EN} Number {i}.", "pad": ITEM_PAD})


# 100 items of ~2.3 KB; item 90 holds a byte that is not UTF-8, in the third 64 KB chunk: the items
# decoded before it are articles, the rest of the file is one dead letter
UNDECODABLE = ("[" + ",".join(item(i) for i in range(90))).encode() + b', {"title": "bad \xff"}' + (
    "," + ",".join(item(i) for i in range(91, 100)) + "]").encode()
RSS_ITEM = "<item><title>{t}</title><description>Some text of the entry here.</description></item>"

FILES = {
    "good.jsonl": (json.dumps({"title": "Good", "text": TEXT_EN}) + "\n").encode(),
    # few control bytes (no byte under 0x20) but, once decoded, mostly C1 control characters
    "garbled.txt": ("A headline\n\nSome words " + "\u0085" * 40).encode(),
    "comment.html": b"<!-- only a comment, no element -->",
    "formfeed.json": b"\x0c[" + json.dumps({"title": "Never read", "text": TEXT_EN}).encode() + b"]",
    "undecodable.json": UNDECODABLE,
    "charref.rss": ('<rss version="2.0"><channel>' + RSS_ITEM.format(t="Ref &#1114112;") + "</channel></rss>").encode(),
    "width.rss": ('<rss version="2.0"><channel><image></width></image>' + RSS_ITEM.format(t="T")
                  + "</channel></rss>").encode(),
}

EXPECTED_DEAD = {
    ("garbled.txt", "read", "binary or garbled data (decoded as utf-8: mostly control characters)"),
    ("comment.html", "normalize", "no main text in HTML (unparseable)"),
    ("formfeed.json", "read", "not a JSON array"),
    ("charref.rss", "read", "feed parser failed: ValueError: chr() arg not in range(0x110000)"),
    ("width.rss", "read", "feed parser failed: TypeError: int() argument must be a string, a bytes-like object "
                          "or a real number, not 'NoneType'"),
}

SUMMARY = "A summary of the entry, long enough to be kept on its own: {i} of three."
PAGE = (b"<html><head><title>Full story</title></head><body><article><h1>Full story</h1>"
        + b"<p>The whole article text of the linked page is here, longer than the summary.</p>" * 20
        + b"</article></body></html>")


@pytest.mark.slow
def test_rare_failure_paths_are_exact_dead_letters_and_the_run_conserves(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in FILES.items():
        (src / name).write_bytes(data)
    with LocalHTTPServer() as server:
        server.route("/story/0", serve_bytes(b"%PDF-1.4 not a web page", "application/pdf"))
        server.route("/story/1", serve_bytes(b"  \n ", "text/html; charset=utf-8"))
        server.route("/story/2", serve_bytes(PAGE, "text/html; charset=utf-8"))
        feed = rss(3, summary=SUMMARY, link=server.url("/story/{i}")).replace(b"<title>Item ", b"<title>Entry ")
        feed_url = server.route("/feed.xml", serve_feed(feed))
        (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({
            "version": 1, "fetch_full_text": True, "full_text_min_chars": 500, "allowed_networks": ["127.0.0.1/32"],
            "min_delay_seconds": 0.0}))
        (tmp_path / "job.yaml").write_text(yaml.safe_dump({"version": 1, "feeds": "feeds.yaml"}))
        out = tmp_path / "out"
        # in this process (run_main): the outputs and the log lines are asserted, not the process
        result = run_main("--input", str(src), "--feed", feed_url, "--output", str(out),
                         "--config", str(tmp_path / "job.yaml"), "--log-level", "debug")
        assert result.returncode == 0, result.stderr[-3000:]
        assert [server.hits(f"/story/{i}") for i in range(3)] == [1, 1, 1]

    articles = read_jsonl(out / "articles")
    dead = read_jsonl(out / "dead_letter")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    got = {(os.path.basename(d["source"]), d["stage"], d["error"]) for d in dead if "undecodable" not in d["source"]}
    assert got == EXPECTED_DEAD
    [undecodable] = [d for d in dead if "undecodable" in d["source"]]
    assert (undecodable["stage"], undecodable["error"]) == ("read", "undecodable text at item 84: invalid start byte")
    assert len(dead) == len(EXPECTED_DEAD) + 1 and all(d.get("count", 1) == 1 for d in dead)

    rows = sorted(int(a["title"].split()[1]) for a in articles if a["title"].startswith("Row "))
    assert rows == list(range(84))  # the items decoded before the chunk that failed, each once
    others = {a["title"]: a for a in articles if not a["title"].startswith("Row ")}
    assert sorted(others) == ["Entry 0", "Entry 1", "Entry 2", "Good"]
    for i, reason in ((0, "linked page is application/pdf, not HTML"), (1, "linked page is empty")):
        assert others[f"Entry {i}"]["text"] == SUMMARY.format(i=i)  # the page failed: the summary stays
        assert f"full text of {server.url(f'/story/{i}')} not fetched: {reason}" in result.stderr
    assert others["Entry 2"]["text"].startswith("Full story\nThe whole article text of the linked page")
    assert summary["inputs"] == summary["articles"] + summary["dead_letters"] == len(articles) + len(dead)
    assert summary["articles"] == 84 + 4 and summary["dead_letters"] == 6


@pytest.mark.e2e
def test_an_opml_doctype_only_the_xml_parser_sees_stops_the_start(tmp_path):
    """UTF-7 hides ``<!DOCTYPE`` from the byte scan of every other encoding; lxml decodes it and the
    second check refuses the document: the configuration is refused before anything runs."""
    opml = ('<?xml version="1.0" encoding="UTF-7"?>+ADwAIQ-DOCTYPE opml>'
            '<opml version="2.0"><body><outline xmlUrl="https://a.example/feed.xml"/></body></opml>')
    (tmp_path / "feeds.opml").write_bytes(opml.encode("ascii"))
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"version": 1, "opml": "feeds.opml"}))
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({"version": 1, "feeds": "feeds.yaml"}))
    out = tmp_path / "out"
    result = run_cli("--input", str(tmp_path / "*.jsonl"), "--output", str(out), "--config", str(tmp_path / "job.yaml"))
    assert result.returncode == exitcodes.USAGE, result.stderr
    assert "opml feeds.opml: OPML document has a DOCTYPE; refused" in result.stderr
    assert not out.exists()
