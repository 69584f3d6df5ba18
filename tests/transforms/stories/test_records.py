import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.stories.records import BuildStories, build_story, story_member


def art(id_, published, title, lang="en", status="unique", topics=(), source="a.example"):
    return {
        "id": id_, "published_at": published, "title": title, "language": lang, "source": source,
        "dedup": {"status": status, "duplicate_of": None}, "topics": [{"name": n, "score": s} for n, s in topics],
    }


def test_story_record_fields():
    members = [
        art("b", "2025-03-15T12:00:00Z", "Copy headline", status="exact_duplicate", topics=[("sanctions", 0.4)]),
        art("a", "2025-03-15T10:00:00Z", "Original headline", topics=[("sanctions", 0.9), ("ceasefire", 0.5)]),
        art("c", None, "Titre", lang="fr", source="b.example"),
    ]
    story = build_story("s-a", members)
    assert story["headline"] == "Original headline"
    assert story["article_ids"] == ["a", "b", "c"]
    assert story["first_published_at"] == "2025-03-15T10:00:00Z"
    assert story["last_published_at"] == "2025-03-15T12:00:00Z"
    assert story["languages"] == ["en", "fr"]
    assert story["sources"] == ["a.example", "b.example"]
    assert story["topics"] == [{"name": "sanctions", "score": 0.9}, {"name": "ceasefire", "score": 0.5}]


def test_story_member_keeps_what_the_story_record_reads():
    evidence = [{"text": "sanctions", "start": 4, "end": 13}]
    members = [
        dict(art("b", "2025-03-15T12:00:00Z", "Copy", status="exact_duplicate"), text="x" * 500,
             topics=[{"name": "sanctions", "score": 0.4, "evidence": evidence}]),
        dict(art("a", "2025-03-15T10:00:00Z", "Original", topics=[("ceasefire", 0.5)]), dedup=None, url="u"),
        {"id": "c", "title": "", "source": "c.example"},  # fields missing
    ]
    slim = [story_member(m) for m in members]
    assert build_story("s-a", slim) == build_story("s-a", members)
    assert slim[0]["topics"] == [{"name": "sanctions", "score": 0.4}] and "text" not in slim[0]
    assert slim[1]["dedup"] == {"status": "unique"} and slim[2]["topics"] == []


def test_a_story_lists_the_places_most_of_its_articles_name():
    def place(geonameid, name, mentions=1):
        return {"geonameid": geonameid, "name": name, "country": "UA", "kind": "city", "mentions": mentions,
                "evidence": [{"field": "text", "text": name, "start": 0, "end": len(name)}]}

    members = [
        dict(art("a", "2025-03-15T10:00:00Z", "Strike on Odesa"), places=[place(698740, "Odesa", 3), place(703448, "Kyiv")]),
        dict(art("b", "2025-03-15T11:00:00Z", "Удар по Одесі", lang="uk"), places=[place(698740, "Odesa")]),
        dict(art("c", "2025-03-15T12:00:00Z", "Odessa"), places=[place(698740, "Odesa"), place(706483, "Kharkiv", 4)]),
    ]
    story = build_story("s-a", members)
    assert [(p["name"], p["articles"]) for p in story["places"]] == [("Odesa", 3), ("Kharkiv", 1), ("Kyiv", 1)]
    assert story["places"][0] == {"geonameid": 698740, "name": "Odesa", "country": "UA", "kind": "city", "articles": 3}
    assert build_story("s-a", [story_member(m) for m in members]) == story
    assert build_story("s-x", [art("x", None, "No places")])["places"] == []


def test_headline_falls_back_to_any_titled_member():
    story = build_story("s-x", [art("x", None, "", status="unique"), art("y", None, "Only title", status="near_duplicate")])
    assert story["headline"] == "Only title"


@pytest.mark.slow
def test_build_stories_composite_one_record_per_story():
    rows = [dict(art(i, f"2025-01-0{n}T00:00:00Z", f"T{i}"), story_id=s) for n, (i, s) in
            enumerate([("a", "s1"), ("b", "s1"), ("c", "s2")], start=1)]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | BuildStories() | beam.Map(lambda s: (s["story_id"], s["article_ids"]))
        assert_that(out, equal_to([("s1", ["a", "b"]), ("s2", ["c"])]))
