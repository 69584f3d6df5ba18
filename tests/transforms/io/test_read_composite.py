"""ReadArticles as a composite: its settings reach every file it reads, a single pattern may
be given as a string, and its step labels stay the same (a streaming job on Dataflow is
updated in place only when the labels of its steps do not change)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.io.fieldmap import field_map
from transforms.io.read import ReadArticles


def test_step_labels_are_stable():
    p = beam.Pipeline()
    _ = p | "Read" >> ReadArticles(["in/*.jsonl"])
    names = {t.unique_name for t in p.to_runner_api().components.transforms.values()}
    assert {
        "Read/Patterns", "Read/MatchPatterns", "Read/DistinctPaths", "Read/Reshuffle", "Read/ReadFiles",
        "Read/MergeDeadLetters",
    } <= names


@pytest.mark.slow
def test_settings_reach_every_file_read(tmp_path: Path):
    lines = [{"body_x": "mapped text", "text": "plain"}, {"text": "y" * 300}]
    data = "".join(json.dumps(o) + "\n" for o in lines) + "{bad\n" * 4
    (tmp_path / "a.jsonl").write_text(data, encoding="utf-8")
    (tmp_path / "big.txt").write_text("word " * 100, encoding="utf-8")
    fields = field_map("auto", {"text": ["body_x", "text"]})
    with TestPipeline() as p:
        articles, dead = p | ReadArticles(
            str(tmp_path), max_article_bytes=200, max_file_bytes=10_000, max_dead_letters=2, fields=fields
        )
        assert_that(articles | "Texts" >> beam.Map(lambda a: a["text"]), equal_to(["mapped text"]), label="Articles")
        assert_that(
            dead | "Errors" >> beam.Map(lambda d: (d["source"].rsplit("/", 1)[-1], d["error"])),
            equal_to([
                ("a.jsonl#line 2", "line 2 is 312 bytes, over the 200 limit"),
                ("a.jsonl#line 3", "line 3: invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
                ("a.jsonl", "3 more rejected part(s) of this input not listed one by one (over the limit of 2 dead "
                 f"letters per input); the first: {tmp_path}/a.jsonl#line 4: line 4: invalid JSON: Expecting "
                 "property name enclosed in double quotes (column 2)"),
                ("big.txt", "file is over the 200-byte article limit"),
            ]),
            label="DeadLetters",
        )


def test_a_label_given_to_the_composite_names_its_steps():
    """``p | ReadArticles(..., label=...)`` (no ``>>``) names the steps after that label."""
    p = beam.Pipeline()
    _ = p | ReadArticles(["in/*.jsonl"], label="ReadNews")
    names = {t.unique_name for t in p.to_runner_api().components.transforms.values()}
    assert {"ReadNews/Patterns", "ReadNews/ReadFiles"} <= names
    assert not any(n.startswith("ReadArticles") for n in names)


@pytest.mark.slow
def test_a_pattern_in_a_folder_whose_name_is_not_utf8(tmp_path: Path):
    """A pattern from the command line naming a Latin-1 folder arrives as a str with
    surrogate escapes, which no Beam coder takes: it travels as bytes and the folder is read."""
    folder = os.path.join(os.fsencode(tmp_path), b"d\xe9p\xeaches")
    os.mkdir(folder)
    with open(os.path.join(folder, b"a.jsonl"), "wb") as fh:
        fh.write(b'{"text": "from a Latin-1 folder"}\n{"oops"\n')
    pattern = os.fsdecode(folder) + "/*.jsonl"
    assert "\udce9" in pattern
    with TestPipeline() as p:
        articles, dead = p | ReadArticles(pattern)
        assert_that(articles | "Texts" >> beam.Map(lambda a: (a["origin"], a["text"])),
                    equal_to([(f"{tmp_path}/d\\xe9p\\xeaches/a.jsonl#line 1", "from a Latin-1 folder")]), label="Articles")
        assert_that(dead | "Sources" >> beam.Map(lambda d: d["source"]),
                    equal_to([f"{tmp_path}/d\\xe9p\\xeaches/a.jsonl#line 2"]), label="DeadLetters")
