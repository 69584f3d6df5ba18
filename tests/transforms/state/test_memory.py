"""Memory across scheduled runs (``--state``): pure functions, the Beam reader and
writer, and two real runs of ``python -m pipeline`` sharing one state folder (in this process,
``run_main``: their outputs and state are what is tested; the rerun that must repeat them runs in a
child, another process; a damaged state's exit status and one-line error are tested in a child by
``tests/pipeline/test_safety.py``)."""

import base64
import datetime as dt
import gzip
import json
import os
import shutil

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.cli import read_jsonl, run_cli, run_main
from transforms.state import memory
from transforms.dedup.exact import EXACT, NEAR, UNIQUE, Edge, Node, node_of, resolve_duplicates
from transforms.dedup.minhash import Sketcher, signature_of
from transforms.common.records import RejectedInput
from transforms.stories.blocks import Node as StoryNode
from transforms.stories.features import StoryFeatures, story_features
from tests.support.assign_stories import AssignStories
from transforms.stories.grouping import cluster_edges

# ------------------------------------------------------------------ texts (written for these tests)

DAM_EN = (
    "A dam on the Vardelo river in the northern province of Kestria burst early on Tuesday, flooding 14 villages "
    "and forcing 3,200 residents to flee, regional governor Milena Ostrovac said. Rescue teams in boats reached "
    "the town of Brunica, where water rose to the first floors of houses. Two people were reported missing and "
    "the army sent 600 soldiers to reinforce embankments downstream. Ostrovac said engineers had warned in March "
    "that the 48-metre structure needed urgent repairs, and the prosecutor's office opened an investigation into "
    "the maintenance contracts signed since 2019."
)
DAM_ES = (
    "Una presa sobre el río Vardelo, en la provincia septentrional de Kestria, se rompió el martes de madrugada e "
    "inundó 14 aldeas, obligando a huir a 3.200 vecinos, según la gobernadora regional Milena Ostrovac. Equipos "
    "de rescate en lanchas llegaron a Brunica, donde el agua alcanzó los primeros pisos. Dos personas están "
    "desaparecidas y el ejército envió 600 soldados para reforzar los diques. La fiscalía abrió una "
    "investigación sobre los contratos de mantenimiento firmados desde 2019."
)
RATES_EN = (
    "The central bank of Norlandia raised its benchmark interest rate by half a percentage point to 6.75% on "
    "Thursday, its third increase this year, as inflation climbed to 9.4% in October. Governor Aurel Dantis "
    "told reporters that the board was ready to tighten further if food and energy prices kept rising, and "
    "that the krona's slide against the euro had added to import costs. Economists polled before the meeting "
    "had expected a smaller move of a quarter point."
)
FERRY_EN = (
    "A passenger ferry carrying 212 people ran aground off the island of Saltholm on Sunday evening after its "
    "engines failed in a storm, the coast guard said. All passengers were taken off by lifeboats and two "
    "helicopters within four hours, and nine were treated in hospital for hypothermia. The operator, Baltline, "
    "said the 1998-built vessel had passed its annual inspection in August and that investigators from the "
    "maritime authority would board the ship once the weather calms."
)
ORCHARD_EN = (
    "Late frost destroyed most of the apricot blossom in the Pellin valley last weekend, growers' association "
    "chairman Tomas Rivek said on Wednesday, estimating losses at 70 percent of the expected harvest. Night "
    "temperatures fell to minus five degrees for three consecutive nights, and smoke candles and sprinklers saved "
    "only orchards on the upper slopes. The association asked the agriculture ministry for emergency credit lines."
)

RUN1 = [
    {"title": "Dam bursts in Kestria, 14 villages flooded", "text": DAM_EN, "url": "https://north.example/dam",
     "published_at": "2025-05-06T06:00:00Z", "source": "north.example"},
    {"title": "Norlandia central bank raises rate to 6.75%", "text": RATES_EN, "url": "https://money.example/rates",
     "published_at": "2025-05-06T07:00:00Z"},
    {"title": "Ferry runs aground off Saltholm", "text": FERRY_EN, "url": "https://sea.example/ferry",
     "published_at": "2025-05-05T19:00:00Z"},
]
NEAR_RATES = (
    "By Jan Holm\n"
    + RATES_EN.replace("Economists polled", "Analysts surveyed")
    + " Markets reacted calmly, with the krona steady in afternoon trade."
)
RUN2 = [
    # an exact copy from another outlet that even claims an earlier time
    {"title": "Kestria dam failure floods villages", "text": DAM_EN, "url": "https://wire.example/kestria",
     "published_at": "2025-05-06T05:00:00Z"},
    # a near copy: new headline, byline, a sentence added, light rewording
    {"title": "Norlandia hikes again as inflation bites", "text": NEAR_RATES, "url": "https://other.example/r",
     "published_at": "2025-05-06T09:00:00Z"},
    # another language, another outlet: the same event
    {"title": "Se rompe una presa en Kestria: 14 aldeas inundadas", "text": DAM_ES, "url": "https://sur.example/presa",
     "published_at": "2025-05-06T10:00:00Z", "language": "es"},
    # something new
    {"title": "Frost ruins Pellin apricot harvest", "text": ORCHARD_EN, "url": "https://farm.example/frost",
     "published_at": "2025-05-07T08:00:00Z"},
]

NOW = "2025-05-10T12:00:00Z"


def record(id_, first_seen=NOW, status=UNIQUE, duplicate_of=None, story=None, **extra):
    base = {"id": id_, "published_at": "2025-05-06T06:00:00Z", "first_seen": first_seen, "url": None,
            "content_hash": f"h-{id_}", "minhash": None, "status": status, "duplicate_of": duplicate_of,
            "story_id": story or f"s-{id_}", "features": None}
    base.update(extra)
    return base


# ------------------------------------------------------------------ pure functions


def test_retention_counts_from_first_seen():
    now = "2025-05-10T12:00:00Z"
    assert memory.within_retention(record("a", "2025-05-03T12:00:01Z"), now, 7)
    assert not memory.within_retention(record("a", "2025-05-03T12:00:00Z"), now, 7)  # exactly 7 days: gone
    assert not memory.within_retention(record("a", "2025-04-01T00:00:00Z"), now, 7)
    assert memory.within_retention(record("a", "2025-05-11T00:00:00Z"), now, 7)  # clock skew: kept
    assert memory.within_retention(record("a", "2025-05-09T12:00:00Z"), now, 1.5)
    # published long ago does not matter: a backfilled article is remembered from when it was read
    assert memory.within_retention(record("a", now, published_at="2001-01-01T00:00:00Z"), now, 7)


def test_record_round_trip_keeps_everything_the_next_run_needs():
    article = {"id": "x1", "url": "https://a.example/x", "published_at": "2025-05-06T06:00:00Z",
               "title": "Dam bursts in Kestria", "text": DAM_EN, "language": "en", "content_hash": "c1",
               "dedup": {"status": UNIQUE, "duplicate_of": None}, "story_id": "s-root1"}
    sig = Sketcher()(DAM_EN)
    feats = story_features(article)
    rec = memory.memory_record(article, NOW, sig, feats)
    line = memory.encode_record(rec)
    back = memory.decode_record(line)
    assert back == rec
    assert np.array_equal(signature_of(base64.b64decode(back["minhash"])), sig)
    assert memory.prior_story_features(back) == StoryFeatures("x1", "2025-05-06T06:00:00Z", feats.counts, "en")
    assert memory.prior_story_root(back) == ("x1", "root1")
    view = memory.dedup_view(back)
    assert view["id"] == "x1" and view["url"] == "https://a.example/x" and view["content_hash"] == "c1"
    assert np.array_equal(signature_of(view["minhash"]), sig)
    assert "minhash" not in memory.dedup_view(back, with_signature=False)
    assert memory.prior_edge(back) is None


def test_a_remembered_duplicate_keeps_its_link_and_has_no_story_features():
    article = {"id": "d1", "text": DAM_EN, "title": "t", "content_hash": "c", "story_id": "s-o1",
               "dedup": {"status": NEAR, "duplicate_of": "o1"}}
    rec = memory.decode_record(memory.encode_record(memory.memory_record(article, NOW)))
    assert rec["status"] == NEAR and rec["duplicate_of"] == "o1" and rec["minhash"] is None
    edge = memory.prior_edge(rec)
    assert edge.kind == "near" and edge.child.id == "d1" and edge.parent.id == "o1"
    assert memory.prior_story_features(rec) is None and memory.prior_story_root(rec) is None


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({**record("a"), "id": ""}), "no id"),
        (json.dumps({**record("a"), "first_seen": "yesterday"}), "not an ISO time"),
        (json.dumps({**record("a"), "status": "maybe"}), "unknown status"),
        (json.dumps(record("a", status=EXACT)), "without duplicate_of"),
        (json.dumps({**record("a"), "minhash": "***"}), "not base64"),
        (json.dumps({**record("a"), "minhash": base64.b64encode(b"abc").decode()}), "not a uint32"),
        (json.dumps({**record("a"), "features": {"w:x": "many"}}), "features"),
        (json.dumps({**record("a"), "url": 7}), "'url' must be a string"),
    ],
)
def test_damaged_entries_are_rejected_with_a_reason(line, reason):
    with pytest.raises(RejectedInput, match=reason):
        memory.decode_record(line)


def test_prior_keys_sort_before_new_articles_and_originals_before_duplicates():
    new = node_of({"id": "n", "published_at": "2000-01-01T00:00:00Z"})
    old_original = Node(memory.prior_key(record("o", "2025-05-09T00:00:00Z")), "o")
    old_duplicate = Node(memory.prior_key(record("d", "2025-05-01T00:00:00Z", NEAR, "o")), "d")
    undated = Node(memory.prior_key(record("u", published_at=None)), "u")
    assert old_original < old_duplicate < new
    assert undated < new


def test_of_two_entries_for_one_id_the_writer_keeps_the_first_seen():
    later, earlier = record("a", "2025-05-09T00:00:00Z"), record("a", "2025-05-08T00:00:00Z")
    keyed = [memory.keyed_line(later), memory.keyed_line(earlier)]
    assert {key for key, _ in keyed} == {"a"}
    assert min(value for _, value in keyed)[1] == memory.encode_record(earlier)  # what _FirstSeen writes


def test_copies_of_remembered_articles_resolve_to_the_remembered_original():
    orig = record("o", "2025-05-08T00:00:00Z")
    dup = record("d", "2025-05-09T00:00:00Z", NEAR, "o")
    o, d = Node(memory.prior_key(orig), "o"), Node(memory.prior_key(dup), "d")
    n1 = Node("2025-05-01T00:00:00Z", "n1")  # claims an earlier date than the originals
    n2 = Node("2025-05-10T00:00:00Z", "n2")
    edges = [
        memory.prior_edge(dup),  # d -> o (placeholder key)
        Edge(n1, d, "exact"),  # an exact copy of the remembered duplicate
        Edge(n2, o, "exact"),  # an exact copy of the remembered original
    ]
    result = resolve_duplicates(edges)
    assert result["n1"] == (NEAR, "o")  # exact copy of a near copy: near duplicate of the original
    assert result["n2"] == (EXACT, "o")
    assert result["d"] == (NEAR, "o")
    assert "o" not in result


def test_an_article_read_again_is_not_its_own_duplicate():
    rec = record("x", "2025-05-08T00:00:00Z")
    prior = Node(memory.prior_key(rec), "x")
    again = Node("2025-05-06T06:00:00Z", "x")
    copy = Node("2025-05-07T00:00:00Z", "c")
    result = resolve_duplicates([Edge(again, prior, "exact"), Edge(copy, again, "exact")])
    assert result == {"c": (EXACT, "x")}


def test_new_articles_join_a_remembered_story_which_keeps_its_root():
    p1, p2, q = StoryNode("2025-05-06T00:00:00Z", "p1"), StoryNode("2025-05-06T01:00:00Z", "p2"), StoryNode(
        "2025-05-06T02:00:00Z", "q"
    )
    n = StoryNode("2025-05-01T00:00:00Z", "n")  # earlier than the story: it still joins, the root stays
    fixed = {"p1": "root", "p2": "root", "q": "q", "far": "root"}
    roots = cluster_edges([(n, p1, 0.9), (n, p2, 0.8)], 0.2, fixed)
    assert roots["n"] == "root" and roots["p1"] == "root" and roots["far"] == "root"
    assert roots["q"] == "q"
    # average link over all remembered members: 'far' has no edge, it still counts (1.7 / 3 >= 0.5)
    assert cluster_edges([(n, p1, 0.9), (n, p2, 0.8)], 0.5, fixed)["n"] == "root"
    assert "n" not in cluster_edges([(n, p1, 0.9), (n, p2, 0.8)], 0.6, fixed)
    # a new article close to two remembered stories joins one of them; the stories stay apart
    roots = cluster_edges([(n, p1, 0.9), (n, q, 0.95), (p1, q, 0.9)], 0.2, {"p1": "root", "q": "q"})
    assert roots["n"] == "q" and roots["p1"] == "root" and roots["q"] == "q"
    # without remembered articles nothing changes
    assert cluster_edges([(n, p1, 0.9)], 0.2) == {"n": "n", "p1": "n"}


@pytest.mark.slow
def test_assign_stories_joins_new_articles_to_remembered_stories_without_rescoring_old_pairs():
    def art(id_, text, published, lang="en"):
        return {"id": id_, "title": "", "text": text, "published_at": published, "language": lang,
                "dedup": {"status": UNIQUE, "duplicate_of": None}}

    old_en = art("p1", DAM_EN, "2025-05-06T06:00:00Z")
    old_copy = art("p2", DAM_EN.replace("Tuesday", "Tuesday morning"), "2025-05-06T07:00:00Z")
    other = art("p3", FERRY_EN, "2025-05-05T19:00:00Z")
    new_es = art("n1", DAM_ES, "2025-05-06T10:00:00Z", "es")
    prior_features = [story_features(a) for a in (old_en, old_copy, other)]
    prior_roots = [("p1", "p1"), ("p2", "p1"), ("p3", "p3")]
    p = TestPipeline()
    out = p | "New" >> beam.Create([new_es]) | AssignStories(
        prior_features=p | "PriorFeatures" >> beam.Create(prior_features),
        prior_roots=p | "PriorRoots" >> beam.Create(prior_roots),
    )
    assert_that(out | beam.Map(lambda a: (a["id"], a["story_id"])), equal_to([("n1", "s-p1")]))
    result = p.run()
    result.wait_until_finish()
    edges = result.metrics().query(MetricsFilter().with_namespace("newsbeam.stories").with_name("edges"))["counters"]
    # n1 meets p1 and p2; the very similar pair p1-p2 was settled by an earlier run and is not scored again
    assert sum(c.committed for c in edges) == 2


def test_stale_generations_keep_the_current_and_the_previous_only():
    names = ["gen-1", "gen-2", "gen-3", "gen-4", "gen-5"]
    # gen-3 and gen-5: runs that failed (runs sharing a --state hold its lock, so nobody else writes)
    assert memory.stale_generations(names, "gen-4", "gen-2") == ["gen-1", "gen-3", "gen-5"]
    assert memory.stale_generations(names, "gen-1", None) == ["gen-2", "gen-3", "gen-4", "gen-5"]
    assert memory.stale_generations(names, "gen-4", None) == ["gen-1", "gen-2", "gen-3", "gen-5"]


def test_generation_names_sort_by_run_time():
    a = memory.generation_name("2025-05-09T23:59:59Z", "ffffffff")
    b = memory.generation_name("2025-05-10T00:00:00Z", "00000000")
    assert a.startswith(memory.GENERATION_PREFIX) and a < b


# ------------------------------------------------------------------ pointer and commit


def write_generation(state, name, records):
    folder = os.path.join(state, memory.MEMORY_DIR, name)
    os.makedirs(folder, exist_ok=True)
    with gzip.open(os.path.join(folder, "memory-00000-of-00001.jsonl.gz"), "wt", encoding="utf-8") as fh:
        for rec in records:
            fh.write((rec if isinstance(rec, str) else memory.encode_record(rec)) + "\n")
    return folder


def test_commit_switches_the_pointer_and_cleans_old_generations(tmp_path):
    state = str(tmp_path / "state")
    first = memory.plan_run(state, now=dt.datetime(2025, 5, 1, tzinfo=dt.timezone.utc), token="a")
    assert first.previous is None and first.run_time == "2025-05-01T00:00:00Z"
    plans = [first]
    for day in (2, 3, 4):
        write_generation(state, plans[-1].generation, [record(f"a{day}")])
        memory.commit(plans[-1])
        plans.append(memory.plan_run(state, now=dt.datetime(2025, 5, day, tzinfo=dt.timezone.utc), token="b"))
        assert plans[-1].previous == plans[-2].generation
    # gen of day 3 is current, day 2 is kept as the previous one, day 1 is gone
    assert memory.generations(state) == [plans[1].generation, plans[2].generation]
    assert memory.read_pointer(state)["generation"] == plans[2].generation


def test_a_crash_before_the_pointer_leaves_the_previous_generation_in_use(tmp_path):
    state = str(tmp_path / "state")
    good = memory.plan_run(state, now=dt.datetime(2025, 5, 1, tzinfo=dt.timezone.utc), token="good")
    write_generation(state, good.generation, [record("kept")])
    memory.commit(good)
    crashed = memory.plan_run(state, now=dt.datetime(2025, 5, 2, tzinfo=dt.timezone.utc), token="crash")
    write_generation(state, crashed.generation, ['{"half a line'])  # the run died while writing
    after = memory.plan_run(state, now=dt.datetime(2025, 5, 3, tzinfo=dt.timezone.utc), token="next")
    assert after.previous == good.generation


def test_a_damaged_state_is_a_clear_error(tmp_path):
    state = str(tmp_path / "state")
    os.makedirs(os.path.join(state, memory.MEMORY_DIR))
    pointer = os.path.join(state, memory.MEMORY_DIR, memory.POINTER)
    with open(pointer, "w") as fh:
        fh.write("{oops")
    with pytest.raises(memory.StateError, match="damaged"):
        memory.plan_run(state)
    with open(pointer, "w") as fh:
        json.dump({"format": 1, "generation": "gen-20250101T000000Z-gone"}, fh)
    with pytest.raises(memory.StateError, match="no memory files"):
        memory.plan_run(state)


def test_commit_records_checksums_and_damage_is_named(tmp_path):
    state = str(tmp_path / "state")
    plan = memory.plan_run(state, now=dt.datetime(2025, 5, 1, tzinfo=dt.timezone.utc), token="a")
    folder = write_generation(state, plan.generation, [record("a1"), record("a2")])
    pointer = memory.commit(plan)
    shard = os.path.join(folder, "memory-00000-of-00001.jsonl.gz")
    assert pointer["format"] == 2 and pointer["checksum"].startswith("sha256:")
    assert pointer["files"]["memory-00000-of-00001.jsonl.gz"]["size"] == os.path.getsize(shard)
    assert memory.plan_run(state).files == (shard,)

    data = open(shard, "rb").read()
    with open(shard, "wb") as fh:
        fh.write(data[:-10])  # truncated
    with pytest.raises(memory.StateError, match=f"memory file {shard} is damaged"):
        memory.plan_run(state)
    os.remove(shard)
    with pytest.raises(memory.StateError, match="is missing"):
        memory.plan_run(state)
    with open(shard, "wb") as fh:
        fh.write(data)
    assert memory.plan_run(state).previous == plan.generation

    path = memory.pointer_path(state)
    edited = json.loads(open(path).read())
    edited["generation"] = "gen-20250101T000000Z-other"
    with open(path, "w") as fh:
        json.dump(edited, fh)
    with pytest.raises(memory.StateError, match="checksum does not match"):
        memory.plan_run(state)


def test_discard_deletes_the_generation_of_a_failed_run_only(tmp_path):
    state = str(tmp_path / "state")
    good = memory.plan_run(state, token="good")
    write_generation(state, good.generation, [record("kept")])
    memory.commit(good)
    failed = memory.plan_run(state, token="failed")
    write_generation(state, failed.generation, [record("x")])
    memory.discard(failed)
    memory.discard(good)  # the committed generation is never deleted
    assert memory.generations(state) == [good.generation]


def test_other_minhash_settings_disable_remembered_signatures(tmp_path):
    state = str(tmp_path / "state")
    plan = memory.plan_run(state, sketch=memory.sketch_id(128, 1, 5, 20), token="x")
    write_generation(state, plan.generation, [record("a")])
    memory.commit(plan)
    assert memory.plan_run(state, sketch=memory.sketch_id(128, 1, 5, 20)).reuse_signatures
    assert not memory.plan_run(state, sketch=memory.sketch_id(64, 1, 5, 20)).reuse_signatures


# ------------------------------------------------------------------ Beam reader and writer


@pytest.mark.slow
def test_read_memory_drops_expired_entries_and_dead_letters_damaged_lines(tmp_path):
    state = str(tmp_path / "state")
    write_generation(state, "gen-20250501T000000Z-x", [
        record("fresh", "2025-05-09T00:00:00Z"),
        record("old", "2025-05-01T00:00:00Z"),
        "{broken",
    ])
    plan = memory.MemoryPlan(state=state, run_time=NOW, generation="gen-next", previous="gen-20250501T000000Z-x",
                             retention_days=7)
    with TestPipeline() as p:
        records, dead = p | memory.ReadMemory(plan)
        assert_that(records | beam.Map(lambda r: r["id"]), equal_to(["fresh"]), label="Recent")
        assert_that(
            dead | beam.Map(lambda d: (d["stage"], "not JSON" in d["error"], d["source"].endswith(".jsonl.gz"))),
            equal_to([("memory", True, True)]),
            label="Dead",
        )


@pytest.mark.slow
def test_write_memory_keeps_the_first_sighting_of_an_id(tmp_path):
    state = str(tmp_path / "state")
    plan = memory.MemoryPlan(state=state, run_time=NOW, generation="gen-new")
    prior = [record("seen", "2025-05-08T00:00:00Z", story="s-old")]
    articles = [
        {"id": "seen", "title": "again", "text": DAM_EN, "content_hash": "h", "story_id": "s-seen",
         "dedup": {"status": UNIQUE, "duplicate_of": None}},
        {"id": "fresh", "title": "Ferry", "text": FERRY_EN, "content_hash": "f", "story_id": "s-fresh",
         "dedup": {"status": UNIQUE, "duplicate_of": None}},
        # a near copy: remembered with its link and signature, without story features of its own
        {"id": "copy", "title": "Ferry", "text": FERRY_EN + " More soon.", "content_hash": "g", "story_id": "s-fresh",
         "dedup": {"status": NEAR, "duplicate_of": "fresh"}},
    ]
    with TestPipeline() as p:
        _ = (p | "Prior" >> beam.Create(prior), p | "New" >> beam.Create(articles)) | memory.WriteMemory(
            plan, (128, 1, 5, 20)
        )
    lines = []
    for name in sorted(os.listdir(os.path.join(state, "memory", "gen-new"))):
        with gzip.open(os.path.join(state, "memory", "gen-new", name), "rt", encoding="utf-8") as fh:
            lines.extend(memory.decode_record(line) for line in fh)
    by_id = {r["id"]: r for r in lines}
    assert set(by_id) == {"seen", "fresh", "copy"}
    copy = by_id["copy"]
    assert (copy["status"], copy["duplicate_of"], copy["features"], copy["language"]) == (NEAR, "fresh", None, None)
    assert copy["minhash"] and copy["first_seen"] == NOW
    assert by_id["seen"]["first_seen"] == "2025-05-08T00:00:00Z" and by_id["seen"]["story_id"] == "s-old"
    assert by_id["fresh"]["first_seen"] == NOW and by_id["fresh"]["minhash"] and by_id["fresh"]["features"]


# ------------------------------------------------------------------ two real runs


def articles_by_url(output):
    return {a["url"]: a for a in read_jsonl(os.path.join(output, "articles"))}


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    state = str(root / "state")
    run1_in = write_jsonl(root / "in1" / "a.jsonl", RUN1)
    run2_in = write_jsonl(root / "in2" / "b.jsonl", RUN2)
    first = run_main("--input", run1_in, "--output", str(root / "out1"), "--state", state)
    assert first.returncode == 0, first.stderr[-2000:]
    snapshot = str(root / "state-after-run1")
    shutil.copytree(state, snapshot)
    # a run that crashed after writing its generation, before switching the pointer: its
    # memory claims the dam text under another id; it must never be read
    run1_time = dt.datetime.fromisoformat(memory.read_pointer(state)["run_time"].replace("Z", "+00:00"))
    crashed = memory.plan_run(state, now=run1_time + dt.timedelta(seconds=1), token="crashed")
    bogus = record("crashed-id", crashed.run_time, url="https://wire.example/kestria", story="s-crashed")
    write_generation(state, crashed.generation, [bogus])
    second = run_main("--input", run2_in, "--output", str(root / "out2"), "--state", state)
    assert second.returncode == 0, second.stderr[-2000:]
    return {"root": root, "state": state, "snapshot": snapshot, "run2_in": run2_in, "crashed": crashed.generation}


@pytest.mark.slow
def test_second_run_marks_copies_with_the_first_runs_ids_and_stories(two_runs):
    root = two_runs["root"]
    run1 = articles_by_url(str(root / "out1"))
    run2 = articles_by_url(str(root / "out2"))
    assert len(run1) == 3 and len(run2) == 4  # remembered articles are never emitted again
    assert all(a["dedup"]["status"] == UNIQUE for a in run1.values())
    dam, rates = run1["https://north.example/dam"], run1["https://money.example/rates"]

    exact = run2["https://wire.example/kestria"]
    assert exact["dedup"] == {"status": EXACT, "duplicate_of": dam["id"]}
    assert exact["story_id"] == dam["story_id"]

    near = run2["https://other.example/r"]
    assert near["dedup"] == {"status": NEAR, "duplicate_of": rates["id"]}
    assert near["story_id"] == rates["story_id"]

    spanish = run2["https://sur.example/presa"]
    assert spanish["language"] == "es" and spanish["dedup"]["status"] == UNIQUE
    assert spanish["story_id"] == dam["story_id"]

    frost = run2["https://farm.example/frost"]
    assert frost["dedup"]["status"] == UNIQUE
    assert frost["story_id"] not in {a["story_id"] for a in run1.values()}

    stories = {s["story_id"]: s for s in read_jsonl(root / "out2" / "stories")}
    assert set(stories[dam["story_id"]]["article_ids"]) == {exact["id"], spanish["id"]}


@pytest.mark.slow
def test_the_crashed_generation_was_ignored_and_cleaned_up(two_runs):
    run2 = articles_by_url(str(two_runs["root"] / "out2"))
    assert "crashed-id" not in json.dumps(run2)
    pointer = memory.read_pointer(two_runs["state"])
    assert pointer["previous"] == memory.read_pointer(two_runs["snapshot"])["generation"]
    # the new generation remembers both runs: 3 + 4 articles
    folder = os.path.join(two_runs["state"], "memory", pointer["generation"])
    remembered = []
    for name in os.listdir(folder):
        with gzip.open(os.path.join(folder, name), "rt", encoding="utf-8") as fh:
            remembered.extend(memory.decode_record(line) for line in fh)
    assert len(remembered) == 7 and "crashed-id" not in {r["id"] for r in remembered}
    # kept: the current and the previous generation; the crashed one (between them) is gone
    assert memory.generations(two_runs["state"]) == sorted([pointer["previous"], pointer["generation"]])


@pytest.mark.e2e
def test_same_inputs_and_same_state_give_the_same_marks_and_stories(two_runs, tmp_path):
    state = str(tmp_path / "state")
    shutil.copytree(two_runs["snapshot"], state)
    # in a child: another process than the fixture's run (a per-process hash seed must not change an id)
    again = run_cli("--input", two_runs["run2_in"], "--output", str(tmp_path / "out"), "--state", state)
    assert again.returncode == 0, again.stderr[-2000:]
    first = articles_by_url(str(two_runs["root"] / "out2"))
    second = articles_by_url(str(tmp_path / "out"))
    view = lambda arts: {u: (a["id"], a["dedup"], a["story_id"]) for u, a in arts.items()}  # noqa: E731
    assert view(second) == view(first)


# ------------------------------------------------------------------ gs://


@pytest.mark.e2e
def test_generations_and_pointer_on_cloud_storage(gcs_emulator):
    from apache_beam.io.filesystems import FileSystems

    from pipeline.gcs import configure_emulator

    configure_emulator()
    gcs_emulator.bucket("newsbeam-state")
    state = "gs://newsbeam-state/prod"
    plans = []
    for day in (1, 2, 3):
        plan = memory.plan_run(state, now=dt.datetime(2025, 5, day, tzinfo=dt.timezone.utc), token="t")
        assert plan.previous == (plans[-1].generation if plans else None)
        path = FileSystems.join(memory.generation_dir(state, plan.generation), "memory-00000-of-00001.jsonl.gz")
        with FileSystems.create(path) as fh:
            fh.write((memory.encode_record(record(f"a{day}")) + "\n").encode("utf-8"))
        memory.commit(plan)
        plans.append(plan)
    assert memory.read_pointer(state)["generation"] == plans[-1].generation
    assert memory.generations(state) == [plans[1].generation, plans[2].generation]
    with FileSystems.open(memory.generation_pattern(state, plans[-1].generation).replace("*", "00000-of-00001.jsonl.gz")) as fh:
        assert memory.decode_record(fh.read().decode("utf-8"))["id"] == "a3"
