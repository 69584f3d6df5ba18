"""The graph-building caches of transforms/runtime/beamgraph.py answer as Beam does."""

import functools

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import (
    DebugOptions,
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)
from apache_beam.transforms import core, userstate

from pipeline.options import NewsbeamOptions
from transforms.runtime import beamgraph

ORIGINAL_ARGS = core.get_function_args_defaults
ORIGINAL_VIEW = PipelineOptions.view_as


def plain(a, b=2, *rest, c=3, **kw):
    return a


class Stateful(beam.DoFn):
    COUNT = userstate.CombiningValueStateSpec("count", sum)

    def process(self, element, count=beam.DoFn.StateParam(COUNT), ts=beam.DoFn.TimestampParam):
        yield element


class Plain(beam.DoFn):
    def process(self, element, side=None):
        yield element


def _callables():
    return [
        plain,
        lambda x, y=1: x,
        Stateful().process,
        Plain().process,
        Plain().setup,
        functools.partial(plain, 1),  # not a plain function: asked every time
        len,
        core.CallableWrapperDoFn(lambda e, k=4: e).process,
    ]


def test_cached_signatures_are_beams_answers_and_lists_of_their_own():
    cached = beamgraph._cached_args_defaults(ORIGINAL_ARGS)
    for f in _callables():
        first = cached(f)
        assert first == ORIGINAL_ARGS(f)
        first[0].append("mutated")
        assert cached(f) == ORIGINAL_ARGS(f)  # a caller mutating its lists changes nothing later


def test_a_function_whose_defaults_change_is_asked_again():
    def f(a, b=1):
        return a

    cached = beamgraph._cached_args_defaults(ORIGINAL_ARGS)
    assert cached(f) == (["a", "b"], [1])
    f.__defaults__ = (5,)
    assert cached(f) == (["a", "b"], [5])


def test_state_specs_are_found_with_the_cache(monkeypatch):
    monkeypatch.setattr(core, "get_function_args_defaults", core.get_function_args_defaults)
    assert beamgraph.cache_signatures() and beamgraph.cache_signatures()  # idempotent
    assert getattr(core.get_function_args_defaults, beamgraph._PATCHED_MARK)
    for _ in range(2):
        assert userstate.is_stateful_dofn(Stateful())
        assert not userstate.is_stateful_dofn(Plain())
        assert {s.name for s in userstate.get_dofn_specs(Stateful())[0]} == {"count"}


ARGV = ["--input", "a/*.jsonl", "--input", "b/*.jsonl", "--output", "out", "--experiments=x", "--runner=DirectRunner"]


def _values(options, classes):
    return {cls.__name__: options.view_as(cls).get_all_options(drop_default=False) for cls in classes}


def test_cached_views_hold_what_beams_views_hold():
    classes = (StandardOptions, NewsbeamOptions, DebugOptions, TypeOptions)
    expected = _values(PipelineOptions(ARGV), classes)
    view_as = beamgraph._cached_view_as(ORIGINAL_VIEW, PipelineOptions)
    for _ in range(3):
        options = PipelineOptions(ARGV)
        got = {cls.__name__: view_as(options, cls) for cls in classes}
        assert {name: v.get_all_options(drop_default=False) for name, v in got.items()} == expected
        assert got["NewsbeamOptions"].input == ["a/*.jsonl", "b/*.jsonl"]
        assert isinstance(got["StandardOptions"], StandardOptions)


def test_cached_views_share_values_within_one_options_object_only():
    view_as = beamgraph._cached_view_as(ORIGINAL_VIEW, PipelineOptions)
    first, second = PipelineOptions(ARGV), PipelineOptions(ARGV)
    view_as(first, DebugOptions).add_experiment("only_first")
    assert "only_first" in view_as(first, DebugOptions).experiments  # views of one object share values
    assert view_as(second, DebugOptions).experiments == ["x"]  # another object parsed the same flags
    view_as(first, StandardOptions).streaming = True
    assert view_as(first, StandardOptions).streaming and not view_as(second, StandardOptions).streaming


def test_options_not_from_flags_go_to_beam():
    view_as = beamgraph._cached_view_as(ORIGINAL_VIEW, PipelineOptions)
    options = PipelineOptions.from_dictionary({"runner": "DirectRunner"})
    assert view_as(options, StandardOptions).runner == "DirectRunner"


def test_installing_the_view_cache_is_idempotent(monkeypatch):
    monkeypatch.setattr(PipelineOptions, "view_as", ORIGINAL_VIEW)
    assert beamgraph.cache_option_views() and beamgraph.cache_option_views()
    assert getattr(PipelineOptions.view_as, beamgraph._PATCHED_MARK)
    assert PipelineOptions.view_as.__wrapped_beam__ is ORIGINAL_VIEW
    assert PipelineOptions(["--streaming"]).view_as(StandardOptions).streaming


@pytest.mark.slow
def test_a_pipeline_runs_with_both_caches(monkeypatch):
    monkeypatch.setattr(PipelineOptions, "view_as", ORIGINAL_VIEW)
    monkeypatch.setattr(core, "get_function_args_defaults", ORIGINAL_ARGS)
    assert beamgraph.cache_option_views() and beamgraph.cache_signatures()
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    with TestPipeline() as p:
        counts = (
            p
            | beam.Create([("a", 1), ("b", 2), ("a", 3)])
            | beam.ParDo(Stateful())
            | beam.CombinePerKey(sum)
        )
        assert_that(counts, equal_to([("a", 4), ("b", 2)]))
