"""Checks on the data files themselves: the labelled evaluation set
(eval/data/labelled.jsonl) and the sample inputs used by ``make run``
(data/sample/). These guard the data, not the pipeline: a broken gold label or
a sample file that silently lost a feature would make every later measurement
meaningless."""

from __future__ import annotations

import collections
import gzip
import hashlib
import json
import re
from pathlib import Path

import feedparser
import lxml.html
import py3langid
import pytest

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "eval" / "data" / "labelled.jsonl"
SAMPLE = ROOT / "data" / "sample"

# The 18 topic names of the public contract (/work/shared/CONTRACT.md).
TOPICS = (
    "sanctions", "troop_deployment", "ceasefire", "peace_talks", "military_aid",
    "frozen_assets", "security_guarantees", "defense_spending", "armed_attack",
    "elections", "energy", "trade_tariffs", "cyberattack", "protest",
    "humanitarian_crisis", "natural_disaster", "terrorism", "monetary_policy",
)
LANGUAGES = ("en", "fr", "de", "es", "it", "pl", "uk", "ru", "nl")
KINDS = {"topical", "trap", "neutral", "short"}
REQUIRED = {"id": str, "split": str, "language": str, "title": str, "text": str, "topics": list}
OPTIONAL = {"kind": str, "trap_for": list}


# --------------------------------------------------------------------------- labelled set


@pytest.fixture(scope="module")
def labelled() -> list[dict]:
    with LABELLED.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def expected_split(record_id: str) -> str:
    return "dev" if int(hashlib.sha1(record_id.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "test"


def test_every_record_has_the_schema(labelled):
    for rec in labelled:
        for key, typ in REQUIRED.items():
            assert isinstance(rec.get(key), typ), (rec.get("id"), key)
        for key, typ in OPTIONAL.items():
            if key in rec:
                assert isinstance(rec[key], typ), (rec["id"], key)
        assert set(rec) <= set(REQUIRED) | set(OPTIONAL), rec["id"]
        assert rec["text"].strip(), rec["id"]


def test_ids_are_unique_and_name_the_language(labelled):
    ids = [rec["id"] for rec in labelled]
    assert len(ids) == len(set(ids))
    for rec in labelled:
        assert re.fullmatch(r"[a-z]{2,3}-\d{3}", rec["id"]), rec["id"]
        assert rec["id"].split("-")[0] == rec["language"], rec["id"]


def test_split_follows_the_id_hash_rule_and_both_splits_are_used(labelled):
    for rec in labelled:
        assert rec["split"] == expected_split(rec["id"]), rec["id"]
    splits = collections.Counter(rec["split"] for rec in labelled)
    assert set(splits) == {"dev", "test"}
    assert min(splits.values()) >= 0.4 * len(labelled)


def test_language_codes_are_valid_and_each_language_has_twenty(labelled):
    counts = collections.Counter(rec["language"] for rec in labelled)
    assert set(counts) == set(LANGUAGES) | {"und"}
    for lang in LANGUAGES:
        assert counts[lang] >= 20, lang
    assert counts["und"] >= 3


def test_topic_names_are_valid_sorted_and_unique(labelled):
    for rec in labelled:
        assert all(t in TOPICS for t in rec["topics"]), rec["id"]
        assert len(rec["topics"]) == len(set(rec["topics"])), rec["id"]
        assert rec["topics"] == sorted(rec["topics"], key=TOPICS.index), rec["id"]


def test_each_topic_has_four_positives_per_split_in_several_languages(labelled):
    per_split = collections.Counter((t, rec["split"]) for rec in labelled for t in rec["topics"])
    for topic in TOPICS:
        for split in ("dev", "test"):
            assert per_split[(topic, split)] >= 4, (topic, split)
        langs = {rec["language"] for rec in labelled if topic in rec["topics"]}
        assert len(langs) >= 5, topic


def test_article_lengths(labelled):
    for rec in labelled:
        if rec["language"] == "und":
            assert len(rec["text"]) <= 20 and rec["topics"] == [], rec["id"]
        else:
            assert 200 <= len(rec["text"]) <= 900, (rec["id"], len(rec["text"]))


def test_kinds_and_traps_are_consistent(labelled):
    for rec in labelled:
        kind, trap_for = rec["kind"], rec["trap_for"]
        assert kind in KINDS, rec["id"]
        assert all(t in TOPICS for t in trap_for), rec["id"]
        assert not set(trap_for) & set(rec["topics"]), rec["id"]
        assert (kind == "trap") == bool(trap_for), rec["id"]
        if kind == "neutral":
            assert rec["topics"] == [], rec["id"]
        assert (kind == "short") == (rec["language"] == "und"), rec["id"]
    trapped = collections.Counter(t for rec in labelled for t in rec["trap_for"])
    # the traps named in the brief: sports sanctions, troupes, game ceasefires, energy
    # drinks, club elections, film cyberattacks, school peace talks, "monetary",
    # metaphorical earthquakes, frozen food
    for topic in ("sanctions", "troop_deployment", "ceasefire", "energy", "elections",
                  "cyberattack", "peace_talks", "monetary_policy", "natural_disaster",
                  "frozen_assets"):
        assert trapped[topic] >= 2, topic
    assert sum(rec["kind"] == "neutral" for rec in labelled) >= 9


def test_gold_language_agrees_with_an_off_the_shelf_identifier(labelled):
    # A mislabelled language in gold would poison the language metrics; the
    # articles are long enough for py3langid to be reliable on them.
    wrong = [rec["id"] for rec in labelled
             if rec["language"] != "und" and py3langid.classify(rec["text"])[0] != rec["language"]]
    assert wrong == []


# --------------------------------------------------------------------------- sample folder


def read_jsonl_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line.strip()]


def text_of(rec: dict) -> str:
    return rec.get("text") or rec.get("content") or rec.get("body") or ""


def html_text(markup: str) -> str:
    return lxml.html.fromstring(f"<div>{markup}</div>").text_content()


@pytest.fixture(scope="module")
def jsonl_records() -> dict[str, list]:
    """Per file, each line parsed, or the exception for a line that does not parse."""
    out = {}
    for name in ("articles.jsonl", "more.jsonl.gz"):
        parsed = []
        for line in read_jsonl_lines(SAMPLE / name):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError as exc:
                parsed.append(exc)
        out[name] = parsed
    return out


@pytest.fixture(scope="module")
def feeds():
    return {name: feedparser.parse(str(SAMPLE / name)) for name in ("feed.rss", "feed.atom")}


def test_sample_has_every_input_format():
    names = {p.name for p in SAMPLE.iterdir()}
    assert {"articles.jsonl", "more.jsonl.gz", "feed.rss", "feed.atom", "empty.txt", "README.md"} <= names
    assert len([n for n in names if n.endswith(".txt") and n != "empty.txt"]) == 2
    assert len([n for n in names if n.endswith(".html")]) == 2
    with (SAMPLE / "more.jsonl.gz").open("rb") as f:
        assert f.read(2) == b"\x1f\x8b"


def test_jsonl_files_parse_except_the_one_intentionally_broken_line(jsonl_records):
    broken = [(name, i) for name, recs in jsonl_records.items()
              for i, rec in enumerate(recs, 1) if isinstance(rec, Exception)]
    assert broken == [("articles.jsonl", 5)]
    with pytest.raises(json.JSONDecodeError):
        json.loads(read_jsonl_lines(SAMPLE / "articles.jsonl")[4])


def test_jsonl_uses_all_text_fields_and_has_one_record_without_text(jsonl_records):
    recs = [r for recs in jsonl_records.values() for r in recs if isinstance(r, dict)]
    assert sum("content" in r for r in recs) == 1
    assert sum("body" in r for r in recs) == 1
    assert [r["title"] for r in recs if not text_of(r).strip()] == ["Photo gallery: spring in the city park"]
    for r in recs:
        if text_of(r).strip():
            assert {"title", "url", "published_at", "source"} <= set(r)
            assert 600 <= len(text_of(r)) <= 2500, r["title"]


def test_empty_txt_is_empty_and_the_others_are_articles():
    assert (SAMPLE / "empty.txt").read_bytes() == b""
    for p in SAMPLE.glob("*.txt"):
        if p.name != "empty.txt":
            assert 600 <= len(p.read_text(encoding="utf-8")) <= 2500, p.name


def test_one_html_page_is_windows_1252_declared_in_a_meta_tag():
    raw = (SAMPLE / "manifestations-greve.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert re.search(rb'<meta[^>]+charset=windows-1252', raw, re.I)
    page = raw.decode("cp1252")
    for ch in "éèàçœ€«»":
        assert ch in page, ch
    utf8 = (SAMPLE / "darfur-convoys.html").read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in utf8


def test_html_pages_carry_boilerplate_around_the_article():
    for name, charset in (("darfur-convoys.html", "utf-8"), ("manifestations-greve.html", "cp1252")):
        tree = lxml.html.fromstring((SAMPLE / name).read_bytes().decode(charset))
        for xpath in ("//nav", "//footer", "//*[@id='cookie-banner']", "//aside[@class='related']//a"):
            assert tree.xpath(xpath), (name, xpath)
        body = tree.xpath("//article")[0].text_content()
        assert 600 <= len(" ".join(body.split())) <= 2500, name


def test_rss_feed_has_html_descriptions_and_rfc822_dates(feeds):
    rss = feeds["feed.rss"]
    assert not rss.bozo and rss.version == "rss20"
    assert 3 <= len(rss.entries) <= 4
    raw = (SAMPLE / "feed.rss").read_text(encoding="utf-8")
    dates = re.findall(r"<pubDate>([^<]+)</pubDate>", raw)
    assert len(dates) == len(rss.entries)
    for d in dates:
        assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}", d), d
    for entry in rss.entries:
        assert entry.published_parsed is not None
        assert "<p>" in entry.summary
        assert 600 <= len(html_text(entry.summary)) <= 2500, entry.title


def test_atom_feed_parses_with_html_content(feeds):
    atom = feeds["feed.atom"]
    assert not atom.bozo and atom.version == "atom10"
    assert len(atom.entries) >= 2
    for entry in atom.entries:
        assert entry.updated_parsed is not None
        assert 600 <= len(html_text(entry.content[0].value)) <= 2500, entry.title


def test_wire_story_has_an_exact_copy_a_near_copy_and_a_rewrite(jsonl_records):
    recs = [r for recs in jsonl_records.values() for r in recs if isinstance(r, dict)]
    original = jsonl_records["articles.jsonl"][0]
    exact = [r for r in recs if r is not original and text_of(r) == text_of(original)]
    assert len(exact) == 1
    assert exact[0]["url"] != original["url"] and "utm_source=" in exact[0]["url"]

    def sentences(text):
        return {s.strip() for s in re.split(r"(?<=[.!?\"])\s+", text) if s.strip()}

    orig_s = sentences(text_of(original))
    near = [r for r in recs if r is not original and r not in exact
            and len(sentences(text_of(r)) & orig_s) >= 0.8 * len(orig_s)]
    assert len(near) == 1
    near_s = sentences(text_of(near[0]))
    assert near[0]["title"] != original["title"]
    assert len(orig_s - near_s) == 1  # one sentence cut
    assert any(s.startswith("Reporting by") for s in near_s - orig_s)

    rewrite = [r for r in recs if py3langid.classify(text_of(r))[0] == "de"
               and "74" in text_of(r) and "Sanktion" in text_of(r)]
    assert len(rewrite) == 1
    assert not sentences(text_of(rewrite[0])) & orig_s


def parse_expected() -> dict[str, str]:
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Expected counts", 1)[1].split("```", 2)[1]
    return dict(line.split(": ", 1) for line in block.strip().splitlines())


def test_readme_counts_match_the_files(jsonl_records, feeds):
    """Recount articles, dead letters, exact duplicates and languages from the
    files and compare with the numbers the README promises."""
    texts, dead = [], 0
    for recs in jsonl_records.values():
        for rec in recs:
            if isinstance(rec, Exception) or not text_of(rec).strip():
                dead += 1
            else:
                texts.append(text_of(rec))
    for p in sorted(SAMPLE.glob("*.txt")):
        content = p.read_text(encoding="utf-8")
        if content.strip():
            texts.append(content)
        else:
            dead += 1
    for name, charset in (("darfur-convoys.html", "utf-8"), ("manifestations-greve.html", "cp1252")):
        tree = lxml.html.fromstring((SAMPLE / name).read_bytes().decode(charset))
        texts.append(tree.xpath("//article")[0].text_content())
    texts += [html_text(e.summary) for e in feeds["feed.rss"].entries]
    texts += [html_text(e.content[0].value) for e in feeds["feed.atom"].entries]

    expected = parse_expected()
    assert int(expected["articles"]) == len(texts)
    assert int(expected["dead_letters"]) == dead
    assert int(expected["exact_duplicates"]) == len(texts) - len(set(texts))
    languages = collections.Counter(py3langid.classify(t)[0] for t in texts)
    promised = dict(pair.split("=") for pair in expected["languages"].split())
    assert {k: int(v) for k, v in promised.items()} == dict(languages)
    assert len(languages) >= 6
