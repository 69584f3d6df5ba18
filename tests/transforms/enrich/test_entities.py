"""Entity tagging stage (transforms/enrich/entities.py)."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.enrich.entities import TagEntities, tag_entities


def test_tag_entities_sets_both_fields_and_keeps_the_rest():
    article = {"id": "a", "title": "Summit in Brussels", "text": "NATO leaders met in Brussels.", "language": "en",
               "topics": []}
    out = tag_entities(article)
    assert [p["name"] for p in out["places"]] == ["Brussels"]
    assert [o["id"] for o in out["organisations"]] == ["nato"]
    assert {k: v for k, v in out.items() if k not in ("places", "organisations")} == article
    assert "places" not in article  # a copy


@pytest.mark.slow
def test_tag_entities_composite():
    articles = [
        {"id": "a", "title": "Drones over Kyiv", "text": "Air defence worked over Kyiv all night.", "language": "en"},
        {"id": "b", "title": None, "text": "Nothing named here.", "language": "en"},
        {"id": "c", "title": "no text"},
        ["not", "an", "article"],
    ]
    pipeline = TestPipeline()
    tagged, dead = pipeline | beam.Create(articles, reshuffle=False) | TagEntities()
    summary = tagged | "Summarise" >> beam.Map(
        lambda a: (a["id"], tuple(p["name"] for p in a["places"]), tuple(o["id"] for o in a["organisations"]))
    )
    assert_that(summary, equal_to([("a", ("Kyiv",), ()), ("b", (), ())]))
    assert_that(
        dead | "Reasons" >> beam.Map(lambda d: (d["stage"], d["error"].split(" (")[0])),
        equal_to([("entities", "article has no text string"), ("entities", "expected an article dict, got list")]),
        label="DeadLetters",
    )
    pipeline.run().wait_until_finish()
