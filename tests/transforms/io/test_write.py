import glob
import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.io.write import SummaryFn, WriteOutputs, reason_class, to_json_line


def test_json_line_orders_known_fields_first_and_keeps_unicode():
    line = to_json_line({"z": 1, "title": "Київ", "id": "x"}, ("id", "title", "missing"))
    assert line == '{"id":"x","title":"Київ","missing":null,"z":1}'


def test_json_line_is_what_json_writes_and_json_takes_what_orjson_refuses():
    record = {
        "id": "a1", "title": "Zelensky: «peace» — talks\u2028resume", "text": "tab\tnl\nctl\x01 quote\" back\\ ✓ 🇺🇦",
        "language_confidence": 0.9999, "score": 0.632, "count": 12, "flag": True, "none": None,
        "topics": [{"name": "ceasefire", "evidence": [{"text": "truce", "start": 0, "end": 5}]}],
        "tuple": (1, "two"),
    }
    assert to_json_line(record) == json.dumps(
        {k: record[k] for k in sorted(record)}, ensure_ascii=False, separators=(",", ":")
    )
    huge = {"id": "b", "n": 2**70}  # over 64 bits: orjson refuses it
    assert json.loads(to_json_line(huge)) == huge


def test_reason_class_folds_particulars():
    assert reason_class("line 7 is 20971520 bytes, over the 2000000 limit") == "line N is N bytes, over the N limit"
    assert reason_class("unsupported format '.pdf'") == "unsupported format '…'"


def test_summary_counts():
    fn = SummaryFn()
    acc = fn.create_accumulator()
    for item in [
        ("article", {"dedup": {"status": "unique"}, "language": "en", "topics": ["sanctions"]}),
        ("article", {"dedup": {"status": "exact_duplicate"}, "language": "en", "topics": ["sanctions", "energy"]}),
        ("story", {"article_ids": ["a", "b"]}),
        ("dead_letter", {"stage": "read", "error": "line 3: invalid JSON"}),
    ]:
        acc = fn.add_input(acc, item)
    out = fn.extract_output(fn.merge_accumulators([acc, fn.create_accumulator()]))
    assert out["inputs"] == 3 and out["articles"] == 2 and out["dead_letters"] == 1
    assert out["dedup"] == {"exact_duplicate": 1, "unique": 1}
    assert out["topics"] == {"sanctions": 2, "energy": 1}
    assert out["dead_letter_reasons"] == {"read: line N: invalid JSON": 1}
    assert out["multi_article_stories"] == 1
    assert out["dead_letter_examples"] == {"read: line N: invalid JSON": {"source": "", "error": "line 3: invalid JSON"}}


def test_summary_keeps_one_real_example_per_reason_whatever_the_merge_order():
    fn = SummaryFn()
    letters = [
        {"stage": "read", "source": "b.jsonl#line 9", "error": "line 9: invalid JSON\nmore detail"},
        {"stage": "read", "source": "a.jsonl#line 2", "error": "line 2: invalid JSON"},
        {"stage": "fetch", "source": "http://x.example/rss", "error": "HTTP 404 from 'http://x.example/rss'"},
    ]
    accs = [fn.add_input(fn.create_accumulator(), ("dead_letter", record)) for record in letters]
    forward = fn.extract_output(fn.merge_accumulators(accs))
    assert forward == fn.extract_output(fn.merge_accumulators(accs[::-1]))
    assert forward["dead_letter_reasons"] == {"read: line N: invalid JSON": 2, "fetch: HTTP N from '…'": 1}
    assert forward["dead_letter_examples"] == {
        "read: line N: invalid JSON": {"source": "a.jsonl#line 2", "error": "line 2: invalid JSON"},
        "fetch: HTTP N from '…'": {"source": "http://x.example/rss", "error": "HTTP 404 from 'http://x.example/rss'"},
    }


def test_summary_json_adds_what_ran():
    from transforms.io.write import summary_json

    assert json.loads(summary_json({"articles": 1}, {})) == {"articles": 1}
    out = json.loads(summary_json({"articles": 1}, {"runner": "FnApiRunner", "started_at": "2026-12-07T05:00:00Z"}))
    assert out["articles"] == 1 and out["run"]["runner"] == "FnApiRunner"
    assert out["run"]["started_at"] <= out["run"]["finished_at"] and out["run"]["finished_at"].endswith("Z")


@pytest.mark.slow
def test_write_outputs_layout(tmp_path):
    article = {"id": "a1", "title": "T", "text": "x", "dedup": {"status": "unique", "duplicate_of": None},
               "language": "en", "topics": [{"name": "energy", "score": 0.5, "evidence": []}], "story_id": "s-a1"}
    with TestPipeline() as p:
        outputs = {
            "articles": p | "A" >> beam.Create([article]),
            "stories": p | "S" >> beam.Create([{"story_id": "s-a1", "article_ids": ["a1"]}]),
            "dead_letter": p | "D" >> beam.Create([{"source": "f#line 2", "stage": "read", "error": "bad", "excerpt": ""}]),
        }
        outputs | WriteOutputs(str(tmp_path), compress=True)
    for name in ("articles", "stories", "dead_letter"):
        files = glob.glob(str(tmp_path / name / f"{name}-*-of-*.jsonl.gz"))
        assert files, name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["articles"] == 1 and summary["dead_letters"] == 1 and summary["topics"] == {"energy": 1}


def test_window_file_names_have_no_colon_and_name_the_job():
    from transforms.io.write import window_file_name, window_stamp

    start = 1796621400.0  # 2026-12-07T05:30:00Z
    assert window_stamp(start) == "2026-12-07T05-30-00Z"
    name = window_file_name("articles", start, start + 60, "3f9a12c0", 0, 1)
    assert name == "articles-2026-12-07T05-30-00Z-2026-12-07T05-31-00Z-3f9a12c0-00000-of-00001.jsonl"
    assert ":" not in name
    # two jobs writing the same window get two files (a restart never overwrites an earlier job's window)
    assert name != window_file_name("articles", start, start + 60, "0badc0de", 0, 1)
