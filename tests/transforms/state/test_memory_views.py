"""Remembered entries as the stages of a run read them (transforms/state/memory.py): the
dedup views and their sort keys, duplicate links, story roots and features, and the
``PriorViews`` composite that hands them to dedup and stories."""

from __future__ import annotations

import base64
import gzip
import os

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.dedup.exact import EXACT, NEAR, UNIQUE, Edge, Node, node_of
from transforms.dedup.minhash import Sketcher, signature_bytes
from transforms.stories.features import StoryFeatures, story_features
from transforms.stories.params import StoryParams
from transforms.state import memory

TEXT = (
    "A passenger ferry carrying 212 people ran aground off the island of Saltholm on Sunday evening after its "
    "engines failed in a storm, the coast guard said. All passengers were taken off by lifeboats."
)
SIGNATURE = Sketcher(min_shingles=5)(TEXT)
MINHASH = base64.b64encode(signature_bytes(SIGNATURE)).decode("ascii")


def entry(id_, status=UNIQUE, duplicate_of=None, **extra):
    base = {"id": id_, "published_at": "2025-05-06T06:00:00Z", "first_seen": "2025-05-08T00:00:00Z",
            "url": f"https://a.example/{id_}", "content_hash": f"h-{id_}", "minhash": None, "status": status,
            "duplicate_of": duplicate_of, "story_id": f"s-{duplicate_of or id_}", "features": None,
            "language": None}
    base.update(extra)
    return base


def test_a_dedup_view_is_read_as_a_node_keyed_by_its_prior_key():
    record = entry("a", minhash=MINHASH)
    view = memory.dedup_view(record)
    assert node_of(view) == Node(memory.prior_key(record), "a")
    assert view["minhash"] == signature_bytes(SIGNATURE)


def test_remembered_originals_first_seen_together_sort_by_publication_then_undated():
    # ids in the other order, so only the publication time can put them in this one
    early = Node(memory.prior_key(entry("z", published_at="2025-05-01T00:00:00Z")), "z")
    late = Node(memory.prior_key(entry("m", published_at="2025-05-05T00:00:00Z")), "m")
    undated = Node(memory.prior_key(entry("a", published_at=None)), "a")
    assert sorted([undated, late, early]) == [early, late, undated]


def test_a_remembered_exact_copy_links_as_exact_and_an_original_never_links():
    edge = memory.prior_edge(entry("d", EXACT, "o"))
    assert edge == Edge(Node(memory.prior_key(entry("d", EXACT, "o")), "d"), edge.parent, "exact")
    assert edge.parent.id == "o"
    assert memory.prior_edge(entry("d", NEAR, "o")).kind == "near"
    # an original that still names a duplicate_of (left from an older run) is an original
    assert memory.prior_edge(entry("o", UNIQUE, "x")) is None


def test_a_story_id_without_the_prefix_is_its_own_root():
    assert memory.story_root(entry("a", story_id="s-root1")) == "root1"
    assert memory.story_root(entry("a", story_id="legacy-root")) == "legacy-root"
    assert memory.story_root(entry("a", story_id=None)) is None


def test_story_features_of_an_original_without_date_or_language_and_none_for_a_duplicate():
    features = {"w:ferry": 2.0, "w:saltholm": 1.0}
    undated = entry("a", published_at=None, features=features)
    assert memory.prior_story_features(undated) == StoryFeatures(
        "a", "", (("w:ferry", 2.0), ("w:saltholm", 1.0)), "")
    assert memory.prior_story_features(entry("d", NEAR, "a", features=features)) is None
    assert memory.prior_story_features(entry("b", features={})) is None


@pytest.mark.slow
@pytest.mark.parametrize("reuse", [True, False, None])
def test_prior_views_hand_each_stage_its_part_of_the_memory(reuse):
    """``reuse`` None: ``PriorViews()`` with its default, which reuses the remembered signatures."""
    features = {"w:ferry": 2.0, "n:saltholm": 1.0}
    original = entry("o", minhash=MINHASH, features=features, language="en", story_id="s-o")
    bare = entry("b", published_at=None)  # an original with no signature and no features
    exact = entry("e", EXACT, "o", minhash=MINHASH)
    near = entry("n", NEAR, "o")
    records = [original, bare, exact, near]
    key = memory.prior_key

    def plain(view):  # bytes compared as a list: assert_that compares elements as values
        return {k: (np.frombuffer(v, "<u4").tolist() if k == "minhash" else v) for k, v in sorted(view.items())}

    def view_of(record, signature):
        view = {"id": record["id"], "published_at": key(record), "url": record["url"],
                "content_hash": record["content_hash"]}
        if signature:
            view["minhash"] = SIGNATURE.tolist()
        return sorted(view.items())

    with TestPipeline() as p:
        views = p | beam.Create(records) | (memory.PriorViews() if reuse is None else memory.PriorViews(reuse))
        reuse = reuse is None or reuse
        assert set(views) == {"dedup", "near", "edges", "story_features", "story_roots"}
        assert_that(views["dedup"] | "PlainDedup" >> beam.Map(lambda v: sorted(plain(v).items())),
                    equal_to([view_of(r, reuse and r["minhash"]) for r in records]), label="Dedup")
        assert_that(views["near"] | "PlainNear" >> beam.Map(lambda v: sorted(plain(v).items())),
                    equal_to([view_of(r, True) for r in (original, exact)] if reuse else []), label="Near")
        assert_that(views["edges"], equal_to([memory.prior_edge(exact), memory.prior_edge(near)]), label="Edges")
        assert_that(views["story_features"],
                    equal_to([StoryFeatures("o", original["published_at"], (("n:saltholm", 1.0), ("w:ferry", 2.0)), "en")]),
                    label="Features")
        assert_that(views["story_roots"], equal_to([("o", "o"), ("b", "b")]), label="Roots")


def test_a_memory_line_as_stored():
    """The memory's JSON lines are kept across runs: keys sorted, compact, UTF-8 as is."""
    record = entry("a1", url="https://a.example/é", features={"w:é": 1.0}, language="fr")
    line = (
        '{"content_hash":"h-a1","duplicate_of":null,"features":{"w:é":1.0},"first_seen":"2025-05-08T00:00:00Z",'
        '"id":"a1","language":"fr","minhash":null,"published_at":"2025-05-06T06:00:00Z","status":"unique",'
        '"story_id":"s-a1","url":"https://a.example/é"}'
    )
    assert memory.encode_record(record) == line
    assert memory.keyed_line(record) == ("a1", ("2025-05-08T00:00:00Z", line))
    assert memory.decode_record(line) == record


@pytest.mark.slow
def test_memory_counters_of_a_read_and_a_write(tmp_path):
    """``newsbeam.memory``: lines in and parsed (out), rejected (unreadable), remembered, expired, written."""
    from apache_beam.metrics.metric import MetricsFilter

    state = str(tmp_path / "state")
    folder = os.path.join(state, memory.MEMORY_DIR, "gen-20250501T000000Z-x")
    os.makedirs(folder)
    with gzip.open(os.path.join(folder, "memory-00000-of-00001.jsonl.gz"), "wt", encoding="utf-8") as fh:
        for line in (memory.encode_record(entry("fresh", first_seen="2025-05-09T00:00:00Z")),
                     memory.encode_record(entry("fresh2", first_seen="2025-05-10T00:00:00Z")),
                     memory.encode_record(entry("old", first_seen="2025-05-01T00:00:00Z")), "{broken"):
            fh.write(line + "\n")
    now = "2025-05-10T12:00:00Z"
    read_plan = memory.MemoryPlan(state=state, run_time=now, generation="gen-next",
                                  previous="gen-20250501T000000Z-x", retention_days=7)
    write_plan = memory.MemoryPlan(state=state, run_time=now, generation="gen-next")
    article = {"id": "new", "title": "Ferry", "text": TEXT, "content_hash": "n", "story_id": "s-new",
               "dedup": {"status": UNIQUE, "duplicate_of": None}}
    p = TestPipeline()
    records, _ = p | memory.ReadMemory(read_plan)
    _ = (records, p | beam.Create([article])) | memory.WriteMemory(write_plan, (128, 1, 5, 20))
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("newsbeam.memory"))["counters"]
    totals: dict[str, int] = {}
    for counter in counters:
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    assert {name: n for name, n in totals.items() if n} == {
        "in": 4, "out": 3, "rejected": 1, "remembered": 2, "expired": 1, "written": 3}


def test_the_memory_steps_keep_their_labels():
    """Stable step labels (house rule): monitoring, counters and a Dataflow job update name
    steps by them. Builds the graph only; nothing runs."""
    plan = memory.MemoryPlan(state="state", run_time="2025-05-10T12:00:00Z", generation="gen-next",
                             previous="gen-prev", retention_days=7)
    p = beam.Pipeline()
    records, _ = p | "ReadMemory" >> memory.ReadMemory(plan)
    _ = records | "PriorViews" >> memory.PriorViews(True)
    _ = (records, p | "New" >> beam.Create([])) | "WriteMemory" >> memory.WriteMemory(plan, (128, 1, 5, 20))
    steps = {t.unique_name for t in p.to_runner_api().components.transforms.values()}
    assert {s for s in steps if s.count("/") == 1 and s.split("/")[0] in ("ReadMemory", "PriorViews", "WriteMemory")} == {
        "ReadMemory/MemoryFiles", "ReadMemory/ReadMemoryLines", "ReadMemory/AsInput", "ReadMemory/ParseMemory",
        "ReadMemory/KeepRecent",
        "PriorViews/DedupViews", "PriorViews/WithSignature", "PriorViews/DuplicateEdges", "PriorViews/StoryFeatures",
        "PriorViews/StoryRoots",
        "WriteMemory/ToMemoryRecords", "WriteMemory/AllRecords", "WriteMemory/KeyById", "WriteMemory/GroupById",
        "WriteMemory/FirstSeen", "WriteMemory/WriteGeneration",
    }


def test_an_original_is_remembered_without_a_duplicate_of():
    article = {"id": "o", "content_hash": "h", "dedup": {"status": UNIQUE, "duplicate_of": "stale"}}
    record = memory.memory_record(article, "2025-05-08T00:00:00Z")
    assert record["status"] == UNIQUE and record["duplicate_of"] is None
    assert memory.memory_record({"id": "n"}, "2025-05-08T00:00:00Z")["status"] == UNIQUE  # no dedup field: an original


# ------------------------------------------------------------------ the run's settings reach the writer

STORY_ARTICLE = {"id": "f", "title": "Ferry aground off Saltholm", "text": TEXT, "content_hash": "h",
                 "published_at": "2025-05-06T06:00:00Z", "language": "en", "story_id": "s-f",
                 "dedup": {"status": UNIQUE, "duplicate_of": None}}
# non-default story and MinHash settings, each changing what is remembered
STORY_PARAMS = StoryParams(title_repeat=5, max_chars=60)
SKETCH_ARGS = (64, 7, 4, 5)


def remembered_by_write_memory(tmp_path, params):
    import gzip
    import os

    state = str(tmp_path / "state")
    plan = memory.MemoryPlan(state=state, run_time="2025-05-10T12:00:00Z", generation="gen-new")
    with TestPipeline() as p:
        _ = (p | "Prior" >> beam.Create([]), p | "New" >> beam.Create([STORY_ARTICLE])) | memory.WriteMemory(
            plan, SKETCH_ARGS, params)
    folder = os.path.join(state, "memory", "gen-new")
    lines = []
    for name in sorted(os.listdir(folder)):
        with gzip.open(os.path.join(folder, name), "rt", encoding="utf-8") as fh:
            lines.extend(memory.decode_record(line) for line in fh)
    assert len(lines) == 1
    return lines[0]


def test_the_memory_record_is_made_with_the_runs_story_and_minhash_settings():
    """``_ToRecord`` (what ``WriteMemory`` runs per article) computes the story features with
    the run's ``StoryParams`` and the signature with the run's MinHash settings, not the defaults."""
    fn = memory._ToRecord("2025-05-10T12:00:00Z", SKETCH_ARGS, STORY_PARAMS)
    fn.setup()
    [record] = list(fn.process(STORY_ARTICLE))
    expected = story_features(STORY_ARTICLE, STORY_PARAMS)
    assert expected.counts != story_features(STORY_ARTICLE).counts  # the settings decide
    assert record["features"] == dict(expected.counts) and record["language"] == "en"
    assert record["minhash"] == base64.b64encode(signature_bytes(Sketcher(*SKETCH_ARGS)(TEXT))).decode("ascii")
    assert len(base64.b64decode(record["minhash"])) == 64 * 4
    assert record["first_seen"] == "2025-05-10T12:00:00Z"


@pytest.mark.slow
def test_write_memory_remembers_features_under_the_runs_story_settings(tmp_path):
    with_params = remembered_by_write_memory(tmp_path / "a", STORY_PARAMS)
    assert with_params["features"] == dict(story_features(STORY_ARTICLE, STORY_PARAMS).counts)
    # without params: the defaults
    default = remembered_by_write_memory(tmp_path / "b", None)
    assert default["features"] == dict(story_features(STORY_ARTICLE, StoryParams()).counts)
    assert default["features"] != with_params["features"]
