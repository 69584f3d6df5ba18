"""The word index (issue 17's speed work): it finds exactly the candidates the prefix-trie
scan regex finds, on real texts in every language set and on texts built to trip it
(punctuation glued to words, hyphens, newlines inside chunks, runs of spaces, case
variants the regex engine equates); a taxonomy it cannot file falls back to the scan; its
table starting over changes nothing; and the possessive gap word of the frames matches
what the plain one did."""

from __future__ import annotations

import json
import re

import pytest

from tests.support import REPO
from transforms.enrich import topicwords
from transforms.enrich.topicforms import phrase_regex
from transforms.enrich.topics import REQUIRED_LANGUAGES, Taxonomy, topics_and_mentions
from transforms.enrich.topicscan import Matcher

LABELLED = REPO / "eval" / "data" / "labelled.jsonl"

TRICKY = [
    "THE EU IMPOSED NEW SANCTIONS ON RUSSIA; ceasefire-talks and a cease fire.",
    "Sanctions,sanctions;(sanctions) «sanctions» 2.5% of GDP, 25 % tariffs, 3,000 troops.",
    "  leading spaces,  two  spaces\tand a tab\nthe troops were\ndeployed.\n\nSanctions  ",
    "EU-Sanktionen und US-Sanktionen; Waffenstillstand\u00a0vereinbart; Zölle und -zölle.",
    "Перемир'я та перемир’я; санкції,санкцій; ﬁre (a ligature) and ſanctions (long s).",
    "sanctionsx xsanctions sanction sanctioned oligarchs were frozen. Cease-fire!",
    "",
    " ",
]


def _texts() -> list[str]:
    with open(LABELLED, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [row["title"] + "\n" + row["text"] for row in rows[::6]] + TRICKY


def _both(taxonomy: Taxonomy, language: str) -> tuple[Matcher, Matcher]:
    keys = taxonomy.active_languages(language)
    indexed, scanned = Matcher(taxonomy.topics.values(), keys), Matcher(taxonomy.topics.values(), keys)
    scanned._index = None  # what the matcher does for a taxonomy the index cannot file
    return indexed, scanned


def _plain(found: dict) -> dict:
    return {name: [(s, e, p.source) for s, e, p, _ in cands] for name, cands in found.items()}


@pytest.mark.parametrize("language", ["en", "de", "uk", "ru", "fr", "und"])
def test_the_word_index_finds_the_candidates_the_scan_regex_finds(taxonomy, language):
    indexed, scanned = _both(taxonomy, language)
    seen = 0
    for text in _texts():
        got = _plain(indexed.candidates(text))
        assert got == _plain(scanned.candidates(text)), (language, text[:60])
        seen += sum(map(len, got.values()))
    assert indexed._index is not None and seen > 20


def test_a_table_that_starts_over_finds_the_same(taxonomy, monkeypatch):
    indexed, scanned = _both(taxonomy, "en")
    monkeypatch.setattr(topicwords, "_MAX_CHUNKS", 5)
    for text in _texts()[:20]:
        assert _plain(indexed.candidates(text)) == _plain(scanned.candidates(text))
    assert len(indexed._index._chunks) < 400  # started over along the way


def test_a_taxonomy_the_index_cannot_file_uses_the_scan_regex():
    """A pattern whose matches may start with whitespace has no prefix the index can file
    under a chunk: that language set is matched by the scan regex, with the same results."""
    tax = Taxonomy.from_dict(
        {
            "version": 1,
            "topics": {
                "odd": {"description": "odd", "patterns": {lang: [r"\s*quux\w*", "zebra"] for lang in REQUIRED_LANGUAGES}},
                "plain": {"description": "plain", "patterns": {lang: ["sanctions?"] for lang in REQUIRED_LANGUAGES}},
            },
        }
    )
    matcher = tax.matcher("en")
    found = matcher.find("New sanctions; quuxes and a zebra.", tax.window)
    assert matcher._index is None
    assert {name: [(s, e) for s, e, _ in hits] for name, hits in found.items()} == {
        "odd": [(14, 21), (28, 33)],  # the first starts at the space before "quuxes"
        "plain": [(4, 13)],
    }


def test_the_index_tries_few_patterns_where_the_scan_tried_whole_topics(taxonomy):
    """The point of it: at a word start only the patterns whose prefix begins the word are
    tried (a regex of a few of the topic's patterns), not the topic's whole alternation."""
    indexed, _ = _both(taxonomy, "en")
    indexed.candidates("Sanctions were imposed.")
    starts = indexed._index.starts("Sanctions were imposed.")
    assert starts[0][0] == 0 and {start for start, _ in starts} <= {0, 10, 15}  # word starts
    tried = [(topic, regex) for _, tries in starts for topic, regex in tries]
    whole = sum(len(indexed._topic(topic).regex.pattern) for topic, _ in tried)
    assert tried and sum(len(regex.pattern) for _, regex in tried) < whole / 3


@pytest.mark.parametrize("gap", [1, 3, 5])
def test_the_possessive_gap_word_matches_what_the_plain_one_matched(gap):
    possessive = phrase_regex(f"send|deploy ...{gap} troops|forces", "en", {}, "test").replace(" ", r"\s+")
    plain = possessive.replace("++", "+")
    assert possessive != plain
    texts = [
        "They will send 300 more troops.",
        "They will deploy, the U.S. said, more troops.",
        "They sent them there. Troops arrived.",
        "to send the long-awaited, well-trained forces",
        "send a.b.c. forces",
        "deploy x. forces and send  troops",
        "sending them,\nat last, troops",
    ]
    for text in texts:
        for start in range(len(text)):
            a = re.compile(possessive, re.IGNORECASE).match(text, start)
            b = re.compile(plain, re.IGNORECASE).match(text, start)
            assert (a and a.span()) == (b and b.span()), (text, start)


def test_tagging_with_the_index_gives_what_the_scan_gives(taxonomy):
    indexed = taxonomy.matcher("en")
    text = _texts()[0]
    tagged = topics_and_mentions(text, "en", taxonomy)
    keep = indexed._index
    try:
        indexed._index = None
        assert topics_and_mentions(text, "en", taxonomy) == tagged
    finally:
        indexed._index = keep


def test_long_chunks_are_matched_but_not_kept(taxonomy):
    indexed, scanned = _both(taxonomy, "en")
    text = "x" * 100 + "-sanctions-ceasefire " + "y/" * 200 + "troops " + "Sanctions" * 3 + " sanctions"
    assert _plain(indexed.candidates(text)) == _plain(scanned.candidates(text))
    assert "sanctions" in _plain(indexed.candidates(text))
    assert max(map(len, indexed._index._chunks)) <= topicwords._MAX_REMEMBERED


def test_chunks_that_begin_alike_share_a_window_and_find_what_the_scan_finds(taxonomy):
    """A new chunk's word starts are looked up by their first folded characters: chunks that
    differ only in case, punctuation or a word's end past them share one entry, and a chunk of
    word characters only (no word start inside) gets the same candidates as the scan."""
    indexed, scanned = _both(taxonomy, "en")
    text = "Sanctions sanctions, SANCTIONS. (sanctions) sanctioning Санкції санкцій x_sanctions sanctions_x"
    assert _plain(indexed.candidates(text)) == _plain(scanned.candidates(text))
    windows = indexed._index._windows
    assert "sanction" in windows and windows["sanction"]  # Sanctions, sanctions, and sanctioning's first 8
    assert [w for w in windows if w.startswith("sanction")] == ["sanction"]
    assert [start for start, _, _ in _plain(indexed.candidates(text))["sanctions"]] == [0, 10, 21, 33]
