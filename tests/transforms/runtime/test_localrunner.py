"""The local runner sends a bundle's input in chunks (transforms/runtime/localrunner.py)."""

import hashlib
import subprocess
import sys

import apache_beam as beam
import pytest
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.worker.data_plane import InMemoryDataChannel
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support import REPO
from transforms.runtime.localrunner import _send_input_in_chunks, stream_bundle_inputs

from apache_beam.runners.portability.fn_api_runner import worker_handlers as _worker_handlers

_BEAMS_STATE = _worker_handlers.GrpcStateServicer.State  # before any test installs the lean one


class _Manager:
    """What the method reads of the runner's BundleManager: its worker's data channel."""

    def __init__(self, channel):
        self._worker_handler = type("Handler", (), {"data_conn": channel})()


def _received(channel):
    return [e for e in channel.inverse()._inputs if isinstance(e, beam_fn_api_pb2.Elements.Data)]


def test_a_large_input_leaves_in_several_messages_and_arrives_whole():
    chunks = [bytes([i]) * (4 << 20) for i in range(7)]  # 28 MB in chunks of whole elements
    channel = InMemoryDataChannel()
    _send_input_in_chunks(_Manager(channel), "bundle-1", "read", chunks)
    messages = _received(channel)
    assert len(messages) >= 3  # flushed past each 10 MB, then closed
    assert b"".join(m.data for m in messages) == b"".join(chunks)
    assert all(m.instruction_id == "bundle-1" and m.transform_id == "read" for m in messages)
    assert max(len(m.data) for m in messages) <= 12 << 20


def test_a_small_input_still_leaves_in_one_message():
    channel = InMemoryDataChannel()
    _send_input_in_chunks(_Manager(channel), "b", "read", [b"abc", b"def"])
    assert [m.data for m in _received(channel) if m.data] == [b"abcdef"]


@pytest.mark.slow
def test_installing_is_idempotent_and_the_local_runner_still_gives_every_element():
    assert stream_bundle_inputs() and stream_bundle_inputs()
    assert fn_runner.BundleManager._send_input_to_worker is _send_input_in_chunks
    def rows(seed):  # made inside the pipeline: ~20 MB between the two stages
        for i in range(seed * 100, seed * 100 + 100):
            yield i, hashlib.sha256(str(i).encode()).hexdigest() * 100

    expected = {}
    for seed in range(20):
        for i, text in rows(seed):
            expected[i % 7] = expected.get(i % 7, 0) + len(text)
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(range(20))
            | beam.FlatMap(rows)
            | beam.Reshuffle()
            | beam.Map(lambda kv: (kv[0] % 7, len(kv[1])))
            | beam.CombinePerKey(sum)
        )
        assert_that(out, equal_to(sorted(expected.items())))


@pytest.mark.e2e
def test_a_bundle_input_larger_than_the_queues_streams_while_the_bundle_runs():
    """240 MB read by a step after a side-input barrier, two worker processes, 1 MB
    send queues: written before the bundle is started (``inline``), this run never
    ends; streamed from a thread it does, with every element."""
    megabytes = 240
    seeds = megabytes * (1 << 20) // (256 * 4096)
    expected = sum(s * 256 + i + 8 * ((s + i) % 251) for s in range(seeds) for i in range(256))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.localrunner_job", str(megabytes), "background"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [str(expected)]


def _state_requests():
    side = beam_fn_api_pb2.StateKey(iterable_side_input=beam_fn_api_pb2.StateKey.IterableSideInput(
        transform_id="t", side_input_id="s", window=b"w"))
    missing = beam_fn_api_pb2.StateKey(runner=beam_fn_api_pb2.StateKey.Runner(key=b"nothing here"))
    bag = beam_fn_api_pb2.StateKey(bag_user_state=beam_fn_api_pb2.StateKey.BagUserState(
        transform_id="t", user_state_id="u", window=b"w", key=b"k"))
    unsupported = beam_fn_api_pb2.StateKey()  # a key of no type: the state service refuses it
    R = beam_fn_api_pb2.StateRequest
    return [
        R(id="1", state_key=side, get=beam_fn_api_pb2.StateGetRequest()),
        R(id="2", state_key=missing, get=beam_fn_api_pb2.StateGetRequest()),
        R(id="3", state_key=bag, append=beam_fn_api_pb2.StateAppendRequest(data=b"more")),
        R(id="4", state_key=bag, get=beam_fn_api_pb2.StateGetRequest()),
        R(id="5", state_key=bag, clear=beam_fn_api_pb2.StateClearRequest()),
        R(id="6", state_key=bag, get=beam_fn_api_pb2.StateGetRequest()),
        R(id="7", state_key=unsupported, get=beam_fn_api_pb2.StateGetRequest()),
        R(id="8", state_key=bag),  # no request at all
    ]


def _answers(state_method, continuation_tokens):
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    state = worker_handlers.StateServicer()
    state._use_continuation_tokens = continuation_tokens
    requests = _state_requests()
    state.append_raw(requests[0].state_key, b"side input " * 1000)
    state.append_raw(requests[0].state_key, b"second chunk")
    servicer = worker_handlers.GrpcStateServicer(state)
    answers = [r.SerializeToString() for r in state_method(servicer, iter(requests))]
    if continuation_tokens:  # page through the side input with the tokens handed out
        token = beam_fn_api_pb2.StateResponse.FromString(answers[0]).get.continuation_token
        while token:
            more = beam_fn_api_pb2.StateRequest(id="p", state_key=requests[0].state_key,
                                                get=beam_fn_api_pb2.StateGetRequest(continuation_token=token))
            (answer,) = state_method(servicer, iter([more]))
            answers.append(answer.SerializeToString())
            token = answer.get.continuation_token
    return answers


def test_lean_state_responses_are_beams_byte_for_byte():
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    from transforms.runtime.localrunner import _lean_state

    original = worker_handlers.GrpcStateServicer.State
    if getattr(original, "_newsbeam_streams_inputs", False):  # installed by an earlier test
        original = _BEAMS_STATE
    for tokens in (False, True):
        mine = _answers(_lean_state, tokens)
        assert mine == _answers(original, tokens)
        assert len(mine) == (8 if not tokens else 11)
    responses = [beam_fn_api_pb2.StateResponse.FromString(a) for a in _answers(_lean_state, False)]
    assert responses[0].get.data == b"side input " * 1000 + b"second chunk"
    assert responses[1].WhichOneof("response") == "get" and responses[1].get.data == b""  # present, though empty
    assert "Unknown state" in responses[7].error and responses[6].error


def test_installing_lean_state_responses_is_idempotent():
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    from transforms.runtime.localrunner import _lean_state, lean_state_responses

    assert lean_state_responses() and lean_state_responses()
    assert worker_handlers.GrpcStateServicer.State is _lean_state
