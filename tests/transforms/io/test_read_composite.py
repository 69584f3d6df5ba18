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
def test_patterns_in_folders_whose_names_are_not_utf8(tmp_path: Path):
    """A pattern from the command line naming a Latin-1 folder arrives as a str with
    surrogate escapes, which no Beam coder takes: it travels as bytes and the folder is read.
    A pattern given as bytes is taken as it is."""
    root = os.fsencode(tmp_path)
    for folder, text in ((b"d\xe9p\xeaches", "from a Latin-1 folder"), (b"b\xe9", "from a bytes pattern")):
        os.mkdir(os.path.join(root, folder))
        with open(os.path.join(root, folder, b"a.jsonl"), "wb") as fh:
            fh.write(json.dumps({"text": text}).encode() + b'\n{"oops"\n')
    pattern = os.fsdecode(os.path.join(root, b"d\xe9p\xeaches")) + "/*.jsonl"
    assert "\udce9" in pattern
    shown = {"d": f"{tmp_path}/d\\xe9p\\xeaches/a.jsonl", "b": f"{tmp_path}/b\\xe9/a.jsonl"}
    with TestPipeline() as p:
        articles, dead = p | ReadArticles([pattern, os.path.join(root, b"b\xe9", b"*.jsonl")])
        assert_that(articles | "Texts" >> beam.Map(lambda a: (a["origin"], a["text"])),
                    equal_to([(shown["d"] + "#line 1", "from a Latin-1 folder"), (shown["b"] + "#line 1", "from a bytes pattern")]),
                    label="Articles")
        assert_that(dead | "Sources" >> beam.Map(lambda d: d["source"]),
                    equal_to([shown["d"] + "#line 2", shown["b"] + "#line 2"]), label="DeadLetters")
