"""Field mapping of JSON inputs: presets, the config's own lists, real-looking exports."""

from __future__ import annotations

import io

import pytest

from tests.support import REPO
from transforms.common.records import Rejected
from transforms.enrich.normalize import normalize_article
from transforms.io.fieldmap import ARTICLE_FIELDS, field_map, pick, presets
from transforms.io.fileformats import article_from_object, read_file

DATA = REPO / "tests" / "data" / "inputs"


def read_sample(name: str, fields=None) -> tuple[list[dict], list[Rejected]]:
    items = list(read_file(name, io.BytesIO((DATA / name).read_bytes()), fields=fields))
    return [i for i in items if not isinstance(i, Rejected)], [i for i in items if isinstance(i, Rejected)]


def test_every_preset_names_only_known_fields_and_has_text() -> None:
    table = presets()
    assert {"auto", "newsbeam", "news-please", "mediacloud", "gdelt"} <= set(table)
    for name, fields in table.items():
        assert set(fields) <= set(ARTICLE_FIELDS), name
        assert fields["text"], name


def test_config_lists_replace_the_presets_own() -> None:
    fmap = field_map("newsbeam", {"text": "story_body", "title": ["hed", "title"]})
    assert fmap["text"] == ("story_body",) and fmap["title"] == ("hed", "title") and fmap["url"] == ("url",)
    article = article_from_object({"story_body": "Body text here", "hed": "Headline"}, "o", fields=fmap)
    assert (article["text"], article["title"]) == ("Body text here", "Headline")


@pytest.mark.parametrize(
    ("preset", "fields", "message"),
    [
        ("nope", None, "unknown input preset 'nope'"),
        ("auto", {"txt": "a"}, "unknown article field(s) txt"),
        ("auto", {"text": []}, "input.fields.text: expected a field name or a list of field names"),
        ("auto", {"title": [1]}, "input.fields.title: expected a field name"),
    ],
)
def test_bad_mappings_are_refused_with_a_reason(preset, fields, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        field_map(preset, fields)


def test_pick_skips_nulls_blanks_and_containers_and_reads_dotted_names() -> None:
    obj = {"a": None, "b": "  ", "c": {"name": "Wire"}, "d": 42}
    assert pick(obj, ("a", "b", "c", "d")) == ("d", 42)
    assert pick(obj, ("c.name",)) == ("c.name", "Wire")
    assert pick(obj, ("x", "c.nothing")) == (None, None)


def test_headline_link_and_date_are_recognised_by_default() -> None:
    article = article_from_object(
        {"headline": "Talks resume", "link": "https://a.example/t", "date": "2025-03-10", "text": "Talks resumed today."}, "o"
    )
    assert (article["title"], article["url"], article["published"]) == ("Talks resume", "https://a.example/t", "2025-03-10")


def test_newbeam_names_win_over_synonyms() -> None:
    article = article_from_object({"text": "ours", "maintext": "theirs", "title": "T", "headline": "H"}, "o")
    assert (article["text"], article["title"]) == ("ours", "T")


def _normalized(articles: list[dict]) -> list[dict]:
    import datetime as dt

    now = dt.datetime(2025, 3, 20, tzinfo=dt.timezone.utc)
    return [normalize_article(a, now=now) for a in articles]


def test_news_please_files_come_out_with_title_url_source_and_date() -> None:
    articles, rejected = read_sample("newsplease.json")
    assert not rejected
    [art] = _normalized(articles)
    assert art["title"] == "Ceasefire extended by 30 days"
    assert art["url"] == "https://example-times.com/world/2025/03/15/ceasefire-extended"
    assert art["source"] == "example-times.com" and art["published_at"] == "2025-03-15T14:30:00Z"
    assert art["text"].startswith("Negotiators meeting in Geneva") and art["language"] == "en"

    articles, rejected = read_sample("newsplease.jsonl")
    assert not rejected
    pl, storm = _normalized(articles)
    assert (pl["title"], pl["source"], pl["published_at"], pl["language"]) == (
        "Rząd przedstawił projekt budżetu", "wiadomosci.example.pl", "2025-03-14T07:45:00Z", "pl"
    )
    assert storm["text"].startswith("Storms closed two airports")  # no maintext: the description
    assert storm["published_at"] is None and "warnings" not in storm


def test_media_cloud_exports_come_out_with_title_url_source_and_date() -> None:
    articles, rejected = read_sample("mediacloud.jsonl")
    assert not rejected
    en, fr = _normalized(articles)
    assert (en["title"], en["url"], en["source"], en["published_at"], en["external_id"]) == (
        "Central bank holds rates steady",
        "https://example-times.com/business/2025/03/12/rates",
        "example-times.com",
        "2025-03-12T16:05:00Z",
        "f3b1c2d4e5a6",
    )
    assert (fr["source"], fr["published_at"], fr["language"]) == ("lequotidien.example.fr", "2025-03-12T18:20:00Z", "fr")


def test_gdelt_records_map_their_fields_and_one_without_text_is_a_dead_letter() -> None:
    articles, rejected = read_sample("gdelt.jsonl", field_map("gdelt"))
    [art] = _normalized(articles)
    assert (art["title"], art["source"], art["published_at"]) == (
        "Port strike ends after nine days", "harbour-herald.example", "2025-03-11T09:30:00Z"
    )
    [dead] = rejected
    assert dead.source == "gdelt.jsonl#line 2" and dead.error.startswith("line 2: no text (fields text, content")
    # the same file under the default preset gives the same article
    assert read_sample("gdelt.jsonl")[0][0]["published"] == "20250311T093000Z"


def test_newsbeam_preset_keeps_the_documented_message() -> None:
    with pytest.raises(ValueError, match=r"no text \(fields text, content or body\)"):
        article_from_object({"title": "x"}, "o", fields=field_map("newsbeam"))
