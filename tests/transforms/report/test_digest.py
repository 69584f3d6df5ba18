"""The digest's data: period, ranking, new vs continuing, volumes, coverage."""

import datetime as dt

import pytest

from transforms.report.digest import CONTINUING, NEW, build_digest, default_until, period, title_from_text

UNTIL = dt.date(2026, 3, 15)
UTC = dt.timezone.utc


def art(i, story, day, language="en", source="a.example", title=None, hour=9):
    published = None if day is None else dt.datetime.combine(day, dt.time(hour), tzinfo=UTC)
    return {"id": f"a{i}", "story_id": f"s-{story}", "title": title or f"t{i}", "url": f"https://{source}/{i}",
            "source": source, "language": language, "published_at": published, "dedup_status": "unique"}


def day(n):
    return UNTIL - dt.timedelta(days=n)


def test_period_and_default_until():
    assert period(UNTIL, 3) == (day(2), day(1), UNTIL)
    arts = [art(1, 1, day(3)), art(2, 1, UNTIL + dt.timedelta(days=5)), art(3, 1, None)]
    assert default_until(arts, today=UNTIL) == day(3)  # dates after today are not "now"
    assert default_until([], today=UNTIL) == UNTIL
    with pytest.raises(ValueError):
        build_digest([], {}, until=UNTIL, days=0)


def test_ranking_by_outlets_then_languages_then_articles():
    arts = [
        # story 1: 3 articles, 1 outlet, 1 language
        art(1, 1, UNTIL), art(2, 1, UNTIL), art(3, 1, UNTIL),
        # story 2: 2 articles, 2 outlets, 1 language
        art(4, 2, UNTIL, source="b.example"), art(5, 2, UNTIL, source="c.example"),
        # story 3: 2 articles, 2 outlets, 2 languages
        art(6, 3, UNTIL, source="b.example", language="ru"), art(7, 3, UNTIL, source="c.example", language="uk"),
    ]
    topics = {a["id"]: ["sanctions"] for a in arts}
    digest = build_digest(arts, topics, until=UNTIL, days=7)
    (topic, stories), = digest.top
    assert topic == "sanctions" and [s.story_id for s in stories] == ["s-3", "s-2", "s-1"]
    assert stories[0].languages == ("ru", "uk") and stories[0].outlets == ("b.example", "c.example")
    assert stories[0].links[0].url == "https://b.example/6"
    assert build_digest(arts, topics, until=UNTIL, days=7, top_n=1).top[0][1][0].story_id == "s-3"


def test_new_and_continuing_from_outputs_and_from_state():
    arts = [
        art(1, 1, day(10)), art(2, 1, UNTIL),  # story 1 began before the period
        art(3, 2, UNTIL),  # story 2 is new ...
        art(4, 3, day(1)),  # ... story 3 too, unless the memory saw it earlier
    ]
    topics = {a["id"]: ["energy"] for a in arts}
    digest = build_digest(arts, topics, until=UNTIL, days=7)
    status = {s.story_id: s.status for s in digest.top[0][1]}
    assert status == {"s-1": CONTINUING, "s-2": NEW, "s-3": NEW}
    assert digest.stories == 3 and digest.new_stories == 2 and not digest.with_state
    first = {s.story_id: s.first_seen for s in digest.top[0][1]}
    assert first["s-1"].date() == day(10)
    remembered = {"s-3": dt.datetime(2026, 3, 1, tzinfo=UTC)}
    with_state = build_digest(arts, topics, until=UNTIL, days=7, remembered=remembered)
    status = {s.story_id: s.status for s in with_state.top[0][1]}
    assert status["s-3"] == CONTINUING and with_state.with_state
    # the story's figures count the period's articles only
    assert {s.story_id: s.articles for s in digest.top[0][1]}["s-1"] == 1


def test_volume_per_day_and_change_against_the_previous_period():
    arts = [art(i, i, UNTIL) for i in range(4)] + [art(10 + i, 10 + i, day(8)) for i in range(2)]
    arts += [art(20, 20, day(2)), art(21, 21, None), art(30, 30, day(30))]
    topics = {a["id"]: ["sanctions"] for a in arts}
    topics["a20"] = ["sanctions", "ceasefire"]
    digest = build_digest(arts, topics, until=UNTIL, days=7)
    volumes = {v.topic: v for v in digest.volumes}
    sanctions = volumes["sanctions"]
    assert sanctions.per_day == (0, 0, 0, 0, 1, 0, 4) and sanctions.undated == 1 and sanctions.total == 6
    assert sanctions.previous == 2 and sanctions.change == pytest.approx(1.5)
    assert volumes["ceasefire"].previous == 0 and volumes["ceasefire"].change is None
    assert [v.topic for v in digest.volumes] == ["sanctions", "ceasefire"]
    assert digest.all_per_day[-1] == 4 and digest.all_previous == 2 and digest.articles == 6 and digest.undated == 1


def test_undated_articles_count_in_the_period():
    arts = [art(1, 1, None, title="Seed story"), art(2, 1, None)]
    digest = build_digest(arts, {"a1": ["sanctions"]}, until=UNTIL, days=7)
    (topic, (story,)), = digest.top
    assert story.headline == "Seed story" and story.first_seen is None and story.status == NEW


def test_coverage_and_dead_letters():
    arts = [art(1, 1, UNTIL, language="ru", source="x"), art(2, 2, UNTIL, language="ru", source="y"),
            art(3, 3, UNTIL, language="en", source="y")]
    dead = [("read", "bad JSON", 3), ("fetch", "timeout", 1), ("read", "bad JSON", 2)]
    digest = build_digest(arts, {}, dead, until=UNTIL, days=7, max_sources=1)
    assert digest.languages == (("ru", 2), ("en", 1))
    assert digest.sources == (("y", 2),) and digest.source_total == 2
    assert digest.dead_letters == (("read", "bad JSON", 5), ("fetch", "timeout", 1))
    assert digest.top == ()


def test_the_same_article_twice_counts_once():
    arts = [art(1, 1, UNTIL), art(1, 1, UNTIL)]
    assert build_digest(arts, {"a1": ["energy"]}, until=UNTIL, days=7).articles == 1


def test_title_from_text():
    assert title_from_text("Leaders agreed. Then more.") == "Leaders agreed."
    assert title_from_text("word " * 50).endswith("word…") and len(title_from_text("word " * 50)) <= 121
    assert title_from_text(None) == ""
