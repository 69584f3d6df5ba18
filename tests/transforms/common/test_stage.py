"""GuardedMap: the dead-letter wrapper every fallible per-article stage uses; InRuns: steps in runs."""


import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import TestWindowedValue, assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, IntervalWindow, TimestampedValue

from transforms.common.stage import GuardedMap, InRuns, MapInRuns, guarded
from transforms.common.records import RejectedInput


def _halve(x):
    if x < 0:
        raise RejectedInput("negative")
    if x == 0:
        raise ZeroDivisionError("zero")
    return x / 2


@pytest.mark.slow
def test_guarded_map_sends_rejections_and_crashes_to_dead_letters_and_keeps_the_rest():
    with TestPipeline() as p:
        good, dead = guarded("Halve", p | beam.Create([4, -1, 0, 6]), GuardedMap("halve", setup_fn=lambda: _halve))
        assert_that(good, equal_to([2.0, 3.0]), label="Good")
        reasons = dead | beam.Map(lambda d: (d["stage"], d["error"]))
        assert_that(reasons, equal_to([("halve", "negative"), ("halve", "ZeroDivisionError: zero")]), label="Dead")


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_guarded_map_in_runs_gives_the_same_outputs_and_dead_letters(batch_size):
    values = [4, -1, 0, 6, 8, 10, -3, 12]
    with TestPipeline() as p:
        good, dead = guarded(
            "Halve", p | beam.Create(values), GuardedMap("halve", setup_fn=lambda: _halve, batch_size=batch_size)
        )
        assert_that(good, equal_to([2.0, 3.0, 4.0, 5.0, 6.0]), label="Good")
        reasons = dead | beam.Map(lambda d: d["error"])
        assert_that(reasons, equal_to(["negative", "ZeroDivisionError: zero", "negative"]), label="Dead")


@pytest.mark.slow
def test_runs_keep_each_element_s_timestamp_and_window_on_both_outputs():
    stamped = [TimestampedValue(x, t) for x, t in [(4, 1), (-1, 2), (6, 65), (8, 130)]]
    with TestPipeline() as p:
        windowed = p | beam.Create(stamped) | beam.WindowInto(FixedWindows(60))
        good, dead = guarded("Halve", windowed, GuardedMap("halve", _halve, batch_size=2))
        assert_that(
            good,
            equal_to(
                [
                    TestWindowedValue(2.0, 1, [IntervalWindow(0, 60)]),
                    TestWindowedValue(3.0, 65, [IntervalWindow(60, 120)]),
                    TestWindowedValue(4.0, 130, [IntervalWindow(120, 180)]),
                ]
            ),
            reify_windows=True,
            label="Good",
        )
        errors = dead | beam.Map(lambda d: d["error"])
        assert_that(errors, equal_to([TestWindowedValue("negative", 2, [IntervalWindow(0, 60)])]), reify_windows=True,
                    label="Dead")


@pytest.mark.slow
def test_map_in_runs_is_map():
    with TestPipeline() as p:
        doubled = p | beam.Create(list(range(10))) | beam.ParDo(MapInRuns(lambda x, k: x * k, 2, batch_size=4))
        assert_that(doubled, equal_to([x * 2 for x in range(10)]))


def test_a_step_in_runs_handles_a_whole_run_before_passing_it_on_and_the_rest_at_bundle_end():
    handled = []

    class Trace(InRuns):
        def handle(self, element, window):
            handled.append(element)
            yield element * 10

    window = IntervalWindow(0, 60)
    step = Trace(batch_size=3)
    step.start_bundle()
    emitted = [list(step.process(x, timestamp=x, window=window)) for x in range(5)]
    assert [len(out) for out in emitted] == [0, 0, 3, 0, 0]  # nothing until a run is full, then the run
    assert handled == [0, 1, 2]
    assert [(v.value, v.timestamp, v.windows) for v in emitted[2]] == [(x * 10, x, (window,)) for x in range(3)]
    rest = list(step.finish_bundle())
    assert [(v.value, v.timestamp, v.windows) for v in rest] == [(x * 10, x, (window,)) for x in (3, 4)]
    assert handled == [0, 1, 2, 3, 4]


def _language(article):
    return article["language"]


def test_a_run_ordered_by_a_key_is_handled_grouped_and_keeps_each_element_s_timestamp():
    handled = []

    class Trace(InRuns):
        def handle(self, element, window):
            handled.append(element["id"])
            yield element["id"]

    window = IntervalWindow(0, 60)
    step = Trace(batch_size=4, order_by=_language)
    step.start_bundle()
    arts = [{"id": i, "language": lang} for i, lang in enumerate(["fr", "en", "fr", "en", "de"])] + [{"id": 5}]
    out = [v for i, a in enumerate(arts) for v in step.process(a, timestamp=i, window=window)]
    out += list(step.finish_bundle())
    assert handled == [1, 3, 0, 2, 5, 4]  # each run grouped by language, stable inside; a failing key is ""
    assert [(v.value, v.timestamp) for v in out] == [(i, i) for i in handled]


@pytest.mark.slow
def test_guarded_map_ordered_by_language_gives_the_same_outputs_and_dead_letters():
    arts = [{"id": i, "language": lang, "x": x} for i, (lang, x) in
            enumerate([("fr", 4), ("en", -1), ("fr", 0), ("de", 6), ("en", 8), ("de", -3), ("fr", 12)])]
    with TestPipeline() as p:
        good, dead = guarded(
            "Halve",
            p | beam.Create(arts),
            GuardedMap("halve", lambda a: _halve(a["x"]), batch_size=4, order_by=_language),
        )
        assert_that(good, equal_to([2.0, 3.0, 4.0, 6.0]), label="Good")
        assert_that(dead | beam.Map(lambda d: d["error"]),
                    equal_to(["negative", "ZeroDivisionError: zero", "negative"]), label="Dead")


def test_in_runs_refuses_an_empty_run():
    with pytest.raises(ValueError, match="batch_size"):
        GuardedMap("halve", _halve, batch_size=0)


def test_memo_computes_a_key_once_and_starts_over_when_full():
    from transforms.common.stage import Memo

    calls = []

    def double(x):
        calls.append(x)
        return 2 * x

    memo = Memo(double, 2)
    assert list(map(memo.__getitem__, [1, 2, 1, 2])) == [2, 4, 2, 4]
    assert calls == [1, 2]
    assert memo[3] == 6 and len(memo) == 1  # full at 2 keys: the table started over
    assert memo[1] == 2 and calls == [1, 2, 3, 1]
