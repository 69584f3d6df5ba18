"""End to end: non-default settings from a ``--config`` file change what ``python -m pipeline`` does.
A near-duplicate threshold just below and just above a pair's similarity, a retention so short that
the second ``--state`` run has forgotten the first, and a topic ``window`` wider than the taxonomy's
(its own small taxonomy file: configs/topics.yaml is not what is tested here).
The runs are in this process (``run_main``): only their outputs are asserted."""

import json
import time

import pytest
import yaml

from tests.support.cli import read_jsonl, run_main
from tests.support.samples import LANGS, SMALL_TAXONOMY
from transforms.dedup.minhash import Sketcher, verify

pytestmark = pytest.mark.slow

WORDS = ("the council approved a new budget for schools roads and parks after a long debate on taxes "
         "while residents asked for more buses cleaner streets safer crossings and longer library hours "
         "and the mayor promised a review of every contract signed during the last three years by the city").split()
NEAR_A = " ".join(WORDS) + "."
NEAR_B = " ".join(w if i != 40 else "zebra40" for i, w in enumerate(WORDS)) + "."


def write_config(tmp_path, taxonomy: dict, name: str = "job.yaml", **sections) -> str:
    (tmp_path / "topics.yaml").write_text(yaml.safe_dump(taxonomy), encoding="utf-8")
    config = {"version": 1, "topics": "topics.yaml", **sections}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def write_articles(folder, *articles) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "in.jsonl").write_text("\n".join(json.dumps(a) for a in articles) + "\n", encoding="utf-8")
    return str(folder / "in.jsonl")


def run(tmp_path, name, src, config, *extra):
    out = tmp_path / name
    result = run_main("--input", src, "--output", str(out), "--config", config, *extra)
    assert result.returncode == 0, result.stderr
    return {a["title"]: a for a in read_jsonl(out / "articles")}


@pytest.mark.parametrize("threshold, near", [(0.74, True), (0.77, False)])
def test_near_duplicate_threshold_just_below_and_above_the_pair(tmp_path, threshold, near):
    sketch = Sketcher(128, k=5, min_shingles=20)  # num_perm, shingle_k, min_shingles of configs/local.yaml
    assert verify(sketch(NEAR_A), sketch(NEAR_B)) == 0.7578125  # the pair sits between the two thresholds
    config = write_config(tmp_path, SMALL_TAXONOMY, dedup={"near": {"threshold": threshold}})
    src = write_articles(tmp_path / "in", {"title": "Budget A", "text": NEAR_A, "url": "https://a.example/a",
                                           "published_at": "2026-01-01T08:00:00Z"},
                         {"title": "Budget B", "text": NEAR_B, "url": "https://b.example/b",
                          "published_at": "2026-01-01T09:00:00Z"})
    articles = run(tmp_path, "out", src, config)
    statuses = sorted(a["dedup"]["status"] for a in articles.values())
    if near:
        assert statuses == ["near_duplicate", "unique"]
        [dup] = [a for a in articles.values() if a["dedup"]["status"] == "near_duplicate"]
        [orig] = [a for a in articles.values() if a is not dup]
        assert dup["dedup"]["duplicate_of"] == orig["id"]
    else:
        assert statuses == ["unique", "unique"]


def test_short_retention_forgets_the_first_run(tmp_path):
    short = write_config(tmp_path, SMALL_TAXONOMY, "short.yaml", dedup={"retention_days": 3 / 86400})  # 3 s
    day = write_config(tmp_path, SMALL_TAXONOMY, "day.yaml", dedup={"retention_days": 1})
    article = {"title": "Budget", "text": NEAR_A, "url": "https://a.example/a"}
    state = str(tmp_path / "state")
    first = run(tmp_path, "out1", write_articles(tmp_path / "in1", article), short, "--state", state)
    assert first["Budget"]["dedup"]["status"] == "unique"
    # control: with a day of retention the copy is remembered (the state does hold the first run)
    copy = dict(article, url="https://a.example/a?again=1")
    # the third run must start over 3 s after the second (the copy is remembered from then on; the first
    # run's article from earlier), 1.5 s more for times kept to the second
    forgotten_from = time.time() + 3 + 1.5
    second = run(tmp_path, "out2", write_articles(tmp_path / "in2", copy), day, "--state", state)
    assert second["Budget"]["dedup"] == {"status": "exact_duplicate", "duplicate_of": first["Budget"]["id"]}
    time.sleep(max(0.0, forgotten_from - time.time()))  # what the second run's own time left of it
    third = run(tmp_path, "out3", write_articles(tmp_path / "in3", dict(copy, url="https://a.example/a?third=1")),
                short, "--state", state)
    assert third["Budget"]["dedup"] == {"status": "unique", "duplicate_of": None}


def _cyber(window=None) -> dict:
    topic = {"description": "attacks", "patterns": {lang: ["cyber attack"] for lang in LANGS}, "exclude": {"en": ["film"]}}
    return {**topic, "window": window} if window else topic


def test_a_topic_window_between_the_global_and_its_own(tmp_path):
    # "film" is 104 characters after the phrase: outside the global window (40), inside cyber_own's (160)
    taxonomy = {"version": 1, "min_score": 0.5, "window": 40, "max_evidence": 5,
                "topics": {"cyber_own": _cyber(160), "cyber_global": _cyber()}}
    text = ("Engineers said a cyber attack disabled the water utility's billing system on Monday morning, "
            "and the repairs continued all week; the film crew that happened to be there recorded it. "
            "Officials asked residents to pay their bills later and promised that no data had been lost.")
    assert text.index("film") - text.index("cyber attack") - len("cyber attack") == 104
    config = write_config(tmp_path, taxonomy)
    articles = run(tmp_path, "out", write_articles(tmp_path / "in", {"title": "Utility", "text": text}), config)
    assert articles["Utility"]["language"] == "en"
    assert [t["name"] for t in articles["Utility"]["topics"]] == ["cyber_global"]
