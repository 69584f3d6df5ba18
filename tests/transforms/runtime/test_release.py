"""The local runner lets go of side inputs once read (transforms/runtime/localrunner.py)."""

import apache_beam as beam
import pytest
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.testing.util import assert_that, equal_to

from transforms.runtime.localrunner import _SIDE_INPUT_STATES, release_side_inputs


def _side_input_keys(context) -> list[str]:
    found = []
    for raw_key in context.worker_handler_manager.state_servicer._state:
        key = beam_fn_api_pb2.StateKey.FromString(raw_key)
        if key.WhichOneof("type") in _SIDE_INPUT_STATES:
            found.append(getattr(key, key.WhichOneof("type")).transform_id)
    return found


def _run(seen: list) -> None:
    """Three stages read side inputs (one of them read by two stages); records what the
    launcher holds after every stage in ``seen``."""
    original = fn_runner.FnApiRunner._execute_bundle

    def watched(self, context, manager, *args, **kwargs):
        try:
            return original(self, context, manager, *args, **kwargs)
        finally:
            seen.append((manager.stage.name, _side_input_keys(context), set(context.pcoll_buffers)))

    fn_runner.FnApiRunner._execute_bundle = watched
    try:
        with beam.Pipeline(runner=fn_runner.FnApiRunner()) as p:
            nums = p | "Nums" >> beam.Create(range(1, 101))
            total = nums | "Total" >> beam.CombineGlobally(sum)  # 5050
            evens = nums | "Evens" >> beam.Filter(lambda x: x % 2 == 0)
            plus = nums | "Plus" >> beam.Map(lambda x, s: x + s, s=beam.pvalue.AsSingleton(total))
            times = (
                plus
                | "Shuffle" >> beam.Reshuffle()
                | "Times" >> beam.Map(lambda x, e: x * len(e), e=beam.pvalue.AsList(evens))
            )
            minus = (
                nums
                | "Shuffle2" >> beam.Reshuffle()
                | "Minus" >> beam.Map(lambda x, s: s - x, s=beam.pvalue.AsSingleton(total))  # read again, later
            )
            assert_that(times, equal_to([(x + 5050) * 50 for x in range(1, 101)]), label="CheckTimes")
            assert_that(minus, equal_to([5050 - x for x in range(1, 101)]), label="CheckMinus")
    finally:
        fn_runner.FnApiRunner._execute_bundle = original


@pytest.mark.slow
def test_side_inputs_are_read_right_and_let_go_of_once_read():
    assert release_side_inputs() and release_side_inputs()  # idempotent
    seen: list = []
    _run(seen)  # the asserts inside check every value
    assert len(seen) >= 4
    held_keys = [keys for _, keys, _ in seen]
    assert any(held_keys), "side inputs were never in the state service: nothing was checked"
    assert held_keys[-1] == []  # every side input let go of once its readers ran
    # a side input read by two stages stays until the second has run
    plus_done = next(i for i, (name, _, _) in enumerate(seen) if "AppliedPTransform_Plus_" in name)
    minus_done = next(i for i, (name, _, _) in enumerate(seen) if "AppliedPTransform_Minus_" in name)
    if plus_done < minus_done:
        assert any("Minus" in t for t in seen[plus_done][1])
    else:
        assert any("Plus" in t for t in seen[minus_done][1])
    # no side input's buffer is held after its producer ran (only its state copy)
    assert all(not any(b"Total" in b or b"Evens" in b for b in buffers) for _, _, buffers in seen)
