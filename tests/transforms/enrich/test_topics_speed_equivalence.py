"""Topic matching: the prefix-trie scan finds exactly what trying every topic's regex at
every word start finds (real taxonomy, labelled texts, every language set), and the
constructs the scan relies on: shared prefixes, overlapping topics, case variants the
regex engine equates, patterns with no listable prefix, leading choices, Unicode digits."""

from __future__ import annotations

import json
import re
import threading

import pytest

from transforms.enrich import topicprefixes
from transforms.enrich.topics import REQUIRED_LANGUAGES, Taxonomy, load_taxonomy, tag_topics
from tests.support import REPO

TAXONOMY_PATH = str(REPO / "configs" / "topics.yaml")
LABELLED = str(REPO / "eval" / "data" / "labelled.jsonl")


@pytest.fixture(autouse=True)
def fresh_prefixes():
    """The per-process memo of the prefix analysis emptied: a scan built in a test is analysed
    there (under ``make mutate``, a memo filled before would hide a changed analysis)."""
    topicprefixes._scan_pieces.cache_clear()


def _taxonomy(topics: dict[str, list], **extra) -> Taxonomy:
    """Topics with the same English patterns in every required language."""
    return Taxonomy.from_dict(
        {
            "version": 1,
            "topics": {
                name: {"description": name, "patterns": {lang: list(pats) for lang in REQUIRED_LANGUAGES}, **extra}
                for name, pats in topics.items()
            },
        }
    )


def _evidence(tagged: list[dict]) -> dict[str, list[str]]:
    return {t["name"]: [e["text"] for e in t["evidence"]] for t in tagged}


# --------------------------------------------------------------------------- the oracle


def _reference_find(taxonomy: Taxonomy, text: str, language: str) -> dict[str, list[tuple[int, int, str]]]:
    """What the matcher must find: every topic's regex tried at every position not
    preceded by a word character, with the same overlap/exclude/requires rules."""
    langs = taxonomy.active_languages(language)
    ctx = (*langs, "any")
    found: dict[str, list[tuple[int, int, str]]] = {}
    bounded = lambda alts: re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", re.IGNORECASE)  # noqa: E731
    compiled = []
    for topic in taxonomy.topics.values():
        pats = [p for lang in langs for p in topic.patterns.get(lang, ())]
        if not pats:
            continue
        excl = [s for lang in ctx for s in topic.exclude.get(lang, ())]
        reqs = [s for lang in ctx for s in topic.requires.get(lang, ())]
        compiled.append(
            (
                topic,
                pats,
                bounded(f"(?P<p{i}>{p.source})" for i, p in enumerate(pats)),
                bounded(excl) if excl else None,
                bounded(reqs) if reqs else None,
            )
        )
    for start in range(len(text)):
        if start and re.match(r"\w", text[start - 1]):
            continue
        for topic, pats, regex, excl, reqs in compiled:
            m = regex.match(text, start)
            if m is None:
                continue
            kept = found.get(topic.name)
            if kept and kept[-1][1] > start:
                continue
            pattern = pats[int(m.lastgroup[1:])]
            w = taxonomy.window if topic.window is None else topic.window
            lo, hi = max(0, start - w), min(len(text), m.end() + w)
            if excl is not None and excl.search(text, lo, hi):
                continue
            if pattern.weak and (reqs is None or not reqs.search(text, lo, hi)):
                continue
            found.setdefault(topic.name, []).append((start, m.end(), pattern.source))
    return found


def _labelled_sample() -> list[dict]:
    with open(LABELLED, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    by_lang: dict[str, list[dict]] = {}
    for row in rows:
        by_lang.setdefault(row["language"], []).append(row)
    return [row for lang in sorted(by_lang) for row in by_lang[lang][:4]]


@pytest.mark.slow
@pytest.mark.parametrize("row", _labelled_sample(), ids=lambda r: r["id"])
def test_scan_finds_what_every_topic_regex_finds_at_every_word_start(taxonomy, row):
    text = row["title"] + "\n" + row["text"]
    for language in (row["language"], "und"):
        got = {
            name: [(s, e, p.source) for s, e, p in matches]
            for name, matches in taxonomy.matcher(language).find(text, taxonomy.window).items()
        }
        assert got == _reference_find(taxonomy, text, language), language


def test_scan_agrees_with_the_oracle_on_hand_written_edge_cases(taxonomy):
    texts = [
        "THE EU IMPOSED NEW SANCTIONS ON RUSSIA; ceasefire-talks and a cease fire.",
        "Sanctions,sanctions;(sanctions) «sanctions» 2.5% of GDP, 25 % tariffs, 3,000 troops.",
        "Выборы прошли. Ceasefire! Waffenstillstand. alto el fuego; cessate il fuoco.",
        "sanctionsx xsanctions sanction sanctioned oligarchs were frozen.",
    ]
    for text in texts:
        for language in ("en", "de", "ru", "und"):
            got = {
                name: [(s, e, p.source) for s, e, p in matches]
                for name, matches in taxonomy.matcher(language).find(text, taxonomy.window).items()
            }
            assert got == _reference_find(taxonomy, text, language), (text, language)


def test_pruning_by_the_mention_floor_changes_no_tag_or_mention(taxonomy):
    """The tagger reads the exclude/requires windows and the context anchors only for
    topics that can still reach ``mention_score``: what it returns is what scoring every
    topic in full (``floor=0``) and keeping those at or above the floor gives."""
    from transforms.enrich.topics import analyse, topics_and_mentions

    with open(LABELLED, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    pruned_some = False
    for row in rows:
        topics, mentions = topics_and_mentions(row["text"], row["language"], taxonomy, title=row["title"])
        full = analyse(row["text"], row["language"], taxonomy, row["title"])
        kept = [t for t in full if t.score >= taxonomy.mention_score]
        assert [(t["name"], t["score"]) for t in topics] == [(t.name, t.score) for t in kept if t.tagged]
        assert [(m["name"], m["score"]) for m in mentions] == [(t.name, t.score) for t in kept if not t.tagged]
        pruned_some |= len(kept) < len(full)
    assert pruned_some  # the floor does leave topics out on real texts


# --------------------------------------------------------------------------- constructs


def test_two_topics_matching_at_one_position_are_both_found():
    tax = _taxonomy({"money": ["oil price"], "energy": ["oil(?: price)?s?"], "other": ["oil spill"]})
    tagged = tag_topics("The oil price rose.", "en", tax)
    assert _evidence(tagged) == {"money": ["oil price"], "energy": ["oil price"]}


def test_a_failed_longer_prefix_falls_back_to_a_shorter_one():
    tax = _taxonomy({"long": ["sanctions package"], "short": [r"sanction\w*"], "tiny": [r"s\w+ regime"]})
    tagged = tag_topics("A sanctions regime was agreed.", "en", tax)
    assert _evidence(tagged) == {"short": ["sanctions"], "tiny": ["sanctions regime"]}


def test_case_variants_the_regex_engine_equates_are_found():
    tax = _taxonomy({"kelvin": ["kilns"], "long_s": ["sanctions"], "cyrillic": ["вибори"]})
    # upper case, the Kelvin sign for k, the long s, Cyrillic upper case
    for text, name in [
        ("KILNS", "kelvin"),
        ("\u212ailns", "kelvin"),
        ("\u017fanctions", "long_s"),
        ("ВИБОРИ", "cyrillic"),
    ]:
        assert _evidence(tag_topics(f"The {text} here.", "en", tax)) == {name: [text]}, text


def test_patterns_without_listable_prefixes_are_tried_at_every_word_start():
    tax = _taxonomy({"isms": [r"\w+ism"], "named": [r"(?-i:[A-Z])\w+ summit"]})
    tagged = tag_topics("Populism grew before the Geneva summit, not the geneva summit.", "en", tax)
    assert _evidence(tagged) == {"isms": ["Populism"], "named": ["Geneva summit"]}


def test_leading_choices_optional_groups_and_odd_characters():
    tax = _taxonomy(
        {
            "choice": [r"(?:new |fresh )?sanctions|embargo(?:es)?"],
            "classes": [r"[|(] ?vote|\(poll\)"],
            "lazy": [r"(?:very )??big deal"],
        }
    )
    text = "Fresh sanctions, sanctions, embargoes; a | vote, (vote, (poll) and a very big deal."
    tagged = tag_topics(text, "en", tax)
    assert _evidence(tagged) == {
        "choice": ["Fresh sanctions", "sanctions", "embargoes"],
        "classes": ["| vote", "(vote", "(poll)"],
        "lazy": ["very big deal"],
    }


def test_digits_of_any_script_match_backslash_d():
    tax = _taxonomy({"troops": [r"\d+ troops"]})
    tagged = tag_topics("Some ٣٠٠ troops and 40 troops and ５ troops.", "en", tax)  # Arabic-Indic, fullwidth
    assert _evidence(tagged) == {"troops": ["٣٠٠ troops", "40 troops", "５ troops"]}


@pytest.mark.slow
def test_concurrent_first_use_gives_the_same_tags(taxonomy):
    fresh = load_taxonomy(TAXONOMY_PATH)
    texts = [r["text"] for r in _labelled_sample()[:12]]
    expected = [tag_topics(t, lang, taxonomy) for t in texts for lang in ("en", "de", "und")]
    results: list[list] = [[] for _ in range(4)]

    def work(slot: int) -> None:
        results[slot] = [tag_topics(t, lang, fresh) for t in texts for lang in ("en", "de", "und")]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r == expected for r in results)
