"""ResolveArticles = MarkDuplicates then AssignStories, in one pass."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.mark_duplicates import MarkDuplicates
from transforms.dedup.near import FindNearDuplicates
from transforms.dedup.resolve import ResolveArticles
from tests.support.assign_stories import AssignStories
from transforms.stories.params import StoryParams

QUAKE = (
    "A magnitude 7.1 earthquake struck the Arequipa region of southern Peru on Saturday, killing three people and "
    "injuring 45, the Geophysical Institute of Peru said. The epicentre was 38 kilometres from Chala. The navy "
    "ruled out a tsunami threat. Adobe houses collapsed in Caraveli and roads to Chala were cut by landslides."
)
FLOOD = (
    "The Licungo river burst its banks in Quelimane on Tuesday; 412 families were moved to schools in Zambezia "
    "province, the disaster agency INGD said. Rain is expected to continue until Friday, and the port is closed."
)


def _article(id_, title, text, published, url=None, language="en"):
    return {
        "id": id_, "title": title, "text": text, "published_at": published, "language": language,
        "url": url or f"https://news.example/{id_}", "content_hash": f"h-{hash(text) & 0xFFFFFFFF:x}",
        "topics": [],
    }


ARTICLES = [
    _article("q1", "Magnitude 7.1 quake hits southern Peru", QUAKE, "2025-04-26T16:05:00Z"),
    _article("q2", "Peru earthquake: three dead in Arequipa", QUAKE.replace("Saturday", "Saturday evening")
             + " Rescue teams from Lima arrived overnight.", "2025-04-26T18:00:00Z"),  # near copy
    _article("q3", "Magnitude 7.1 quake hits southern Peru", QUAKE, "2025-04-26T17:00:00Z",
             url="https://news.example/q1"),  # exact copy by URL
    _article("q4", "Quake in Peru: Chala cut off, 45 injured",
             "Landslides cut the roads to Chala after Saturday's magnitude 7.1 earthquake in Arequipa, southern Peru. "
             "Three people were killed and 45 injured; adobe houses collapsed in Caraveli, the institute said.",
             "2025-04-27T08:00:00Z"),  # another write-up of the same story
    _article("f1", "Quelimane floods: 412 families moved", FLOOD, "2025-03-04T10:00:00Z"),
    _article("f2", "Licungo floods Quelimane", "Floods in Quelimane: the Licungo river burst its banks on Tuesday "
             "and 412 families were moved to schools in Zambezia, INGD said; the port is closed.",
             "2025-03-04T12:00:00Z"),
]


@pytest.mark.slow
def test_resolve_articles_gives_the_records_of_mark_then_assign():
    params = StoryParams()

    def two_steps(articles, near):
        marked = articles | MarkDuplicates(extra_edges=near)
        return marked | AssignStories(params)

    def one_pass(articles, near):
        return articles | ResolveArticles(params=params, extra_edges=near)

    with TestPipeline() as p:
        articles = p | beam.Create(ARTICLES)
        near = articles | "Near" >> FindNearDuplicates(threshold=0.5, num_perm=128, min_shingles=5)
        view = lambda a: (a["id"], a["dedup"]["status"], a["dedup"]["duplicate_of"], a["story_id"])  # noqa: E731
        expected = two_steps(articles, near) | "ViewTwoSteps" >> beam.Map(view)
        got = one_pass(articles, near) | "ViewOnePass" >> beam.Map(view)
        keyed_expected = expected | "KeyExpected" >> beam.Map(lambda r: (r[0], r))
        keyed_got = got | "KeyGot" >> beam.Map(lambda r: (r[0], r))
        compared = (
            {"expected": keyed_expected, "got": keyed_got}
            | beam.CoGroupByKey()
            | beam.Map(lambda kv: (kv[0], list(kv[1]["expected"]) == list(kv[1]["got"]) and len(kv[1]["got"]) == 1))
        )
        assert_that(compared, equal_to([(a["id"], True) for a in ARTICLES]), label="SameRecords")

        statuses = got | "Statuses" >> beam.Map(lambda r: (r[0], r[1], r[2]))
        assert_that(statuses, equal_to([
            ("q1", "unique", None), ("q2", "near_duplicate", "q1"), ("q3", "exact_duplicate", "q1"),
            ("q4", "unique", None), ("f1", "unique", None), ("f2", "unique", None),
        ]), label="Statuses")
        stories = (
            got
            | "ByStory" >> beam.Map(lambda r: (r[3], r[0]))
            | beam.GroupByKey()
            | beam.Map(lambda kv: tuple(sorted(kv[1])))
        )
        assert_that(stories, equal_to([("q1", "q2", "q3", "q4"), ("f1", "f2")]), label="Stories")


def test_articles_wait_packed_in_runs_of_one_timestamp_and_window():
    from apache_beam.transforms.window import GlobalWindow, IntervalWindow

    from transforms.common.packed import Unpacker
    from transforms.dedup.resolve import _PackRuns

    pack = _PackRuns(run=4)
    pack.setup()
    pack.start_bundle()
    glob, other = GlobalWindow(), IntervalWindow(0, 10)
    arrivals = [({"id": f"a{i}"}, 5, glob) for i in range(6)] + [({"id": "b"}, 7, glob), ({"id": "c"}, 7, other)]
    out = [v for article, ts, win in arrivals for v in pack.process(article, ts, win)]
    out += list(pack.finish_bundle())
    unpack = Unpacker().unpack
    assert [([a["id"] for a in unpack(v.value)], v.timestamp.micros, v.windows) for v in out] == [
        (["a0", "a1", "a2", "a3"], 5_000_000, (glob,)),
        (["a4", "a5"], 5_000_000, (glob,)),  # cut where the timestamp changes
        (["b"], 7_000_000, (glob,)),  # ...or the window
        (["c"], 7_000_000, (other,)),
    ]
    pack.start_bundle()
    assert list(pack.finish_bundle()) == []  # an empty bundle packs nothing
