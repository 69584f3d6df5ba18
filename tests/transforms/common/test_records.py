"""raw_article, Rejected.to_record, cap_dead_letters: what readers hand on is safe to write."""

from __future__ import annotations

import json

from transforms.common.records import Rejected, cap_dead_letters, raw_article, reject


def test_raw_article_makes_every_string_valid_and_says_so() -> None:
    bad = json.loads('"Half an emoji \\ud83d here"')
    record = raw_article("a.jsonl#line 1", "jsonl", title=bad, text="fine text", source="x\udcff")
    assert record["title"] == "Half an emoji \ufffd here"
    assert record["source"] == "x\ufffd"
    assert record["warnings"] == [
        "title: 1 invalid character(s) (lone surrogates) replaced by U+FFFD",
        "source: 1 invalid character(s) (lone surrogates) replaced by U+FFFD",
    ]
    json.dumps(record, ensure_ascii=False).encode("utf-8")


def test_raw_article_without_repairs_has_no_warnings_key() -> None:
    assert "warnings" not in raw_article("o", "jsonl", text="plain")


def test_dead_letter_record_is_valid_unicode_and_redacted() -> None:
    record = reject(
        "https://me:pw@feeds.example/rss?token=abc#entry 3", "fetch", "bad \ud800 https://me:pw@feeds.example/", "ex\ud800"
    ).to_record()
    assert record == {
        "source": "https://***@feeds.example/rss?token=***#entry 3",
        "stage": "fetch",
        "error": "bad \ufffd https://***@feeds.example/",
        "excerpt": "ex\\ud800",
    }
    json.dumps(record, ensure_ascii=False).encode("utf-8")


def _items(n_good: int, n_bad: int) -> list:
    items: list = [{"origin": f"f#line {i}"} for i in range(n_good)]
    items += [reject(f"f#line {n_good + i}", "read", f"line {n_good + i}: invalid JSON") for i in range(n_bad)]
    return items


def test_cap_passes_everything_under_the_limit() -> None:
    items = _items(3, 5)
    assert list(cap_dead_letters(items, "f", "read", 5)) == items


def test_cap_counts_the_rest_in_one_record() -> None:
    out = list(cap_dead_letters(_items(2, 20_000), "f", "read", 1000))
    dead = [i for i in out if isinstance(i, Rejected)]
    assert len(out) == 2 + 1001 and len(dead) == 1001
    summary = dead[-1]
    assert summary.source == "f" and summary.count == 19_000
    assert summary.error.startswith("19000 more rejected part(s) of this input not listed one by one")
    assert "the first: f#line 1002: line 1002: invalid JSON" in summary.error
    assert summary.to_record()["count"] == 19_000
    assert sum(d.count for d in dead) == 20_000  # conservation by count
    assert "count" not in dead[0].to_record()


def test_cap_zero_means_no_limit() -> None:
    assert len(list(cap_dead_letters(_items(0, 3000), "f", "read", 0))) == 3000
