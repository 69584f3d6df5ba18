"""GuardedMap: the dead-letter wrapper every fallible per-article stage uses."""

import gc

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.beamutil import GC_THRESHOLDS, GuardedMap, guarded, settle_heap
from transforms.records import RejectedInput


def _halve(x):
    if x < 0:
        raise RejectedInput("negative")
    if x == 0:
        raise ZeroDivisionError("zero")
    return x / 2


def test_guarded_map_sends_rejections_and_crashes_to_dead_letters_and_keeps_the_rest():
    with TestPipeline() as p:
        good, dead = guarded("Halve", p | beam.Create([4, -1, 0, 6]), GuardedMap("halve", setup_fn=lambda: _halve))
        assert_that(good, equal_to([2.0, 3.0]), label="Good")
        reasons = dead | beam.Map(lambda d: (d["stage"], d["error"]))
        assert_that(reasons, equal_to([("halve", "negative"), ("halve", "ZeroDivisionError: zero")]), label="Dead")


def test_settle_heap_freezes_the_loaded_heap_and_collects_young_objects_less_often():
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        settle_heap()  # idempotent
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
