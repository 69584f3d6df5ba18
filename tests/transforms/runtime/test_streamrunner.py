"""The streaming DirectRunner patches of transforms/runtime/streamrunner.py give Beam's answers."""

from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.internal import pickler
from apache_beam.runners.direct import direct_userstate, evaluation_context, transform_evaluator, watermark_manager
from apache_beam.runners.direct.clock import TestClock
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.trigger import _ListStateTag
from apache_beam.transforms.window import GlobalWindow, IntervalWindow
from apache_beam.utils.timestamp import Timestamp

from transforms.runtime import streamrunner
from transforms.runtime.streamrunner import TimerIndexedStates, _copy_state, _extract_due_timers, _PickleOnce


def _beams_extract():
    """Beam's own ``extract_transform_timers``, whether or not the patch is in."""
    current = watermark_manager._TransformWatermarks.extract_transform_timers
    return getattr(current, "__wrapped_beam__", current) if getattr(current, "_newsbeam_streaming", False) else current


def _random_state(rng: random.Random) -> evaluation_context.DirectUnmergedState:
    state = evaluation_context.DirectUnmergedState()
    for _ in range(rng.randrange(0, 4)):
        window = rng.choice([GlobalWindow(), IntervalWindow(0, 60), IntervalWindow(60, 120)])
        domain = TimeDomain.WATERMARK if rng.random() < 0.9 else TimeDomain.REAL_TIME
        state.set_timer(window, rng.choice(["user/expiry", "user/flush"]), domain, Timestamp(rng.randrange(0, 100)))
    return state


def _watermarks(states) -> watermark_manager._TransformWatermarks:
    return watermark_manager._TransformWatermarks(TestClock(), states, "step")


def _fields(firings) -> list[tuple]:
    return [(t.encoded_key, t.window, t.name, t.time_domain, t.timestamp, t.dynamic_timer_tag) for t in firings]


def test_timer_index_fires_what_a_full_scan_fires_in_the_same_order():
    rng = random.Random(5)
    plain, indexed = {}, TimerIndexedStates()
    beams = _beams_extract()
    for step in range(400):
        key = f"k{rng.randrange(60)}".encode()
        state = _random_state(rng)
        plain[key] = state
        indexed[key] = state.copy()
        if step % 20 == 19:
            scan, fast = _watermarks(plain), _watermarks(indexed)
            scan._input_watermark = fast._input_watermark = Timestamp(rng.randrange(0, 110))
            expected, realtime = beams(scan)
            got, got_realtime = _extract_due_timers(fast)
            assert _fields(got) == _fields(expected) and got_realtime == realtime
    assert expected  # the last check fired timers: the comparison was not of two empty lists


def test_a_key_stays_due_until_its_state_is_committed_without_the_timer():
    states = TimerIndexedStates()
    state = evaluation_context.DirectUnmergedState()
    state.set_timer(GlobalWindow(), "user/expiry", TimeDomain.WATERMARK, Timestamp(5))
    states[b"a"] = state
    assert states.due(Timestamp(4)) == []
    assert states.due(Timestamp(5)) == [b"a"] and states.due(Timestamp(9)) == [b"a"]  # not fired by being asked
    cleared = state.copy()
    cleared.clear_timer(GlobalWindow(), "user/expiry", TimeDomain.WATERMARK)
    states[b"a"] = cleared
    assert states.due(Timestamp(9)) == []


def test_a_timer_handed_out_is_not_handed_out_again_until_its_bundle_is_committed():
    states = TimerIndexedStates()
    state = evaluation_context.DirectUnmergedState()
    state.set_timer(GlobalWindow(), "user/expiry", TimeDomain.WATERMARK, Timestamp(5))
    states[b"a"] = state
    watermarks = _watermarks(states)
    watermarks._input_watermark = Timestamp(9)
    update = streamrunner._completed_timers_done(lambda self, completed: None)
    first, _ = _extract_due_timers(watermarks)
    assert _fields(first) == [(b"a", GlobalWindow(), "user/expiry", TimeDomain.WATERMARK, Timestamp(5), "")]
    assert _extract_due_timers(watermarks)[0] == []  # Beam's monitor would schedule it a second time
    update(watermarks, first)  # committed, the timer still set (a callback may set it again at the same time)
    assert _fields(_extract_due_timers(watermarks)[0]) == _fields(first)


def test_a_cheap_state_copy_holds_what_beams_copy_holds_and_is_its_own():
    rng = random.Random(9)
    state = _random_state(rng)
    state.set_timer(GlobalWindow(), "user/expiry", TimeDomain.WATERMARK, Timestamp(7))
    state.add_state(GlobalWindow(), _ListStateTag("tag"), b"x")
    state.global_state["ids"] = {"a": 1}
    state.global_state["watermark"] = Timestamp(3)
    beams, ours = evaluation_context.InMemoryUnmergedState.copy(state), _copy_state(state)
    assert dict(ours.timers) == dict(beams.timers) and ours.global_state == beams.global_state
    assert {w: dict(t) for w, t in ours.state.items()} == {w: dict(t) for w, t in beams.state.items()}
    ours.clear_timer(GlobalWindow(), "user/expiry", TimeDomain.WATERMARK)
    ours.add_state(GlobalWindow(), _ListStateTag("tag"), b"y")
    ours.global_state["ids"]["b"] = 2
    assert state.timers[GlobalWindow()][("user/expiry", TimeDomain.WATERMARK, "")] == Timestamp(7)
    assert state.state[GlobalWindow()]["tag"] == [b"x"] and state.global_state["ids"] == {"a": 1}


def test_a_groupings_window_ids_are_copied_deep_without_deepcopy():
    state = evaluation_context.DirectUnmergedState()
    ids = {IntervalWindow(0, 60): [1], GlobalWindow(): [2, 3]}
    state.global_state["window_ids"] = ids
    state.global_state["other"] = {IntervalWindow(0, 60): [[4]]}  # not ids: deep-copied as Beam does
    beams, ours = evaluation_context.InMemoryUnmergedState.copy(state), _copy_state(state)
    assert ours.global_state == beams.global_state
    ours.global_state["window_ids"][IntervalWindow(0, 60)].append(7)  # what MergeableStateAdapter.merge does
    ours.global_state["window_ids"][IntervalWindow(60, 120)] = [8]
    ours.global_state["other"][IntervalWindow(0, 60)][0].append(5)
    assert state.global_state == {"window_ids": {IntervalWindow(0, 60): [1], GlobalWindow(): [2, 3]},
                                  "other": {IntervalWindow(0, 60): [[4]]}}


def _bag(coder) -> tuple:
    from apache_beam.transforms import userstate

    stored: list = []
    spec = userstate.BagStateSpec("parts", coder)
    return stored, direct_userstate.BagRuntimeState(spec, None, lambda: stored)


def test_a_pickled_bag_keeps_its_values_and_other_coders_still_encode():
    from apache_beam.coders import PickleCoder, StrUtf8Coder

    streamrunner.restore()
    try:
        stored, bag = _bag(PickleCoder())
        part = ("df", {"a1": {"w:flood": 3}})
        bag.add(part)
        assert isinstance(bag._new_values[0], bytes)  # Beam: pickled on add
        assert streamrunner.unencoded_bags() and streamrunner.unencoded_bags()  # idempotent
        stored, bag = _bag(PickleCoder())
        stored.append(PickleCoder().encode("from before the patch"))  # a value Beam encoded still decodes
        bag.add(part)
        assert bag._new_values[0].value is part and list(bag.read()) == ["from before the patch", part]
        assert list(bag.read())[1] is part  # the object itself, not a copy
        stored2, strings = _bag(StrUtf8Coder())
        strings.add("x")
        assert strings._new_values == [b"x"] and list(strings.read()) == ["x"]
    finally:
        streamrunner.restore()
    assert "_encode" not in direct_userstate.BagRuntimeState.__dict__
    assert "_decode" not in direct_userstate.BagRuntimeState.__dict__


class _Counting(beam.DoFn):
    def __init__(self, step: int) -> None:
        self.step = step
        self.seen: list = []

    def process(self, element):
        self.seen.append(element)
        yield element * self.step


def test_a_dofn_is_pickled_once_and_unpickled_fresh_for_every_bundle():
    once = _PickleOnce(pickler)
    dofn = _Counting(3)
    first, second = once.roundtrip(dofn), once.roundtrip(dofn)
    assert first is not second and first is not dofn
    first.seen.append(1)
    assert second.seen == [] and second.step == 3 and list(second.process(2)) == [6]
    assert len(once._pickled) == 1
    assert once.roundtrip(_Counting(4)).step == 4 and len(once._pickled) == 2
    assert once.dumps is pickler.dumps  # the rest is the real pickler's


def test_a_trigger_tag_without_extraction_is_made_once_and_counts_as_before():
    from apache_beam.transforms import combiners, trigger

    current = trigger._CombiningValueStateTag.without_extraction
    reused = streamrunner._reused_without_extraction(getattr(current, "__wrapped_beam__", current))
    tag = trigger._CombiningValueStateTag("count", combiners.CountCombineFn())
    first = reused(tag)
    assert reused(tag) is first and first.tag == "count"
    fn = first.combine_fn
    assert fn.add_input(fn.add_input(fn.create_accumulator(), "a"), "b") == 2 and fn.extract_output(7) == 7
    assert reused(trigger._CombiningValueStateTag("count", combiners.CountCombineFn())) is not first


def _story_run(rows: list[dict], out) -> dict[str, str]:
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.testing.test_stream import TestStream
    from apache_beam.transforms.window import FixedWindows, TimestampedValue

    from bench.streamstories import _Count
    from transforms.stories.streaming import AssignStoriesAcrossWindows

    stream = TestStream().advance_watermark_to(0)
    for second, start in enumerate(range(0, len(rows), 10)):  # 10 articles a second, 2-s windows
        stream = stream.add_elements([TimestampedValue(a, second + 0.5) for a in rows[start : start + 10]])
        stream = stream.advance_watermark_to(second + 1)
    stream = stream.advance_watermark_to(60).advance_watermark_to_infinity()  # past the retention: expiry timers fire
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as p:
        (
            p
            | stream
            | beam.WindowInto(FixedWindows(2))
            | AssignStoriesAcrossWindows(FixedWindows(2), retention_seconds=3.0)
            | beam.ParDo(_Count(str(out)))
        )
    return dict(line.split() for line in out.read_text().splitlines())


@pytest.mark.slow
def test_the_story_composite_gives_the_same_stories_patched_and_plain(tmp_path):
    from bench.streamstories import articles

    rows = articles(60, seed=3)
    streamrunner.restore()
    try:
        plain = _story_run(rows, tmp_path / "plain.txt")
        assert streamrunner.cheap_state_copies() and streamrunner.indexed_timers() and streamrunner.pickle_dofns_once()
        assert streamrunner.reuse_trigger_tags() and streamrunner.unencoded_bags()
        assert isinstance(transform_evaluator.pickler, _PickleOnce)
        patched = _story_run(rows, tmp_path / "patched.txt")
    finally:
        streamrunner.restore()
    assert transform_evaluator.pickler is pickler and "copy" not in evaluation_context.DirectUnmergedState.__dict__
    assert "_encode" not in direct_userstate.BagRuntimeState.__dict__
    assert len(plain) == 60 and patched == plain
    assert len(set(plain.values())) < 60  # stories were joined, not one per article


_PANES: list = []


class _RecordPane(beam.DoFn):
    def process(self, element, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam,
                pane=beam.DoFn.PaneInfoParam):
        key, values = element
        _PANES.append((key, sorted(values), str(window), float(timestamp), pane.is_first, pane.is_last,
                       pane.timing, pane.index, pane.nonspeculative_index))
        yield element


def _grouped_panes(windowfn) -> list:
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.testing.test_stream import TestStream
    from apache_beam.transforms.window import TimestampedValue

    stream = (TestStream().advance_watermark_to(0)
              .add_elements([TimestampedValue(("a", 1), 1), TimestampedValue(("b", 2), 2), TimestampedValue(("a", 3), 5)])
              .advance_watermark_to(12)
              .add_elements([TimestampedValue(("a", 4), 3), TimestampedValue(("a", 5), 4)])  # late, within lateness
              .add_elements([TimestampedValue(("b", 6), 11)])
              .advance_watermark_to(40)
              .add_elements([TimestampedValue(("a", 7), 2)])  # later than the lateness: dropped
              .advance_watermark_to_infinity())
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    _PANES.clear()
    with beam.Pipeline(options=options) as p:
        (p | stream | beam.WindowInto(windowfn, allowed_lateness=20) | beam.GroupByKey() | beam.ParDo(_RecordPane()))
    return sorted(_PANES, key=repr)


@pytest.mark.slow
def test_a_grouping_gives_the_same_panes_with_its_trigger_state_unmerged():
    """On-time, late (within the allowed lateness) and dropped elements: the same panes,
    values, windows, timestamps and pane infos with and without the patch."""
    from apache_beam.transforms import trigger
    from apache_beam.transforms.window import FixedWindows, Sessions, SlidingWindows

    for windowfn in (FixedWindows(10), SlidingWindows(10, 5), Sessions(3)):
        streamrunner.restore()
        try:
            plain = _grouped_panes(windowfn)
            assert streamrunner.unmerged_trigger_state() and streamrunner.unmerged_trigger_state()  # idempotent
            patched = _grouped_panes(windowfn)
            driver = trigger.create_trigger_driver(beam.transforms.core.Windowing(windowfn))
            assert driver.is_merging == windowfn.is_merging()  # sessions keep the adapter
        finally:
            streamrunner.restore()
        assert patched == plain and any(p[6] == beam.utils.windowed_value.PaneInfoTiming.LATE for p in plain), windowfn
    assert trigger.create_trigger_driver(beam.transforms.core.Windowing(FixedWindows(10))).is_merging  # restored
