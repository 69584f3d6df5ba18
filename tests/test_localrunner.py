"""The local runner sends a bundle's input in chunks (pipeline/localrunner.py)."""

import hashlib
import os
import subprocess
import sys

import apache_beam as beam
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.worker.data_plane import InMemoryDataChannel
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.localrunner import _send_input_in_chunks, stream_bundle_inputs


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


def test_a_bundle_input_larger_than_the_queues_streams_while_the_bundle_runs():
    """240 MB read by a step after a side-input barrier, two worker processes, 1 MB
    send queues: written before the bundle is started (``inline``), this run never
    ends; streamed from a thread it does, with every element."""
    megabytes = 240
    seeds = megabytes * (1 << 20) // (256 * 4096)
    expected = sum(s * 256 + i + 8 * ((s + i) % 251) for s in range(seeds) for i in range(256))
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.localrunner_job", str(megabytes), "background"],
        cwd=repo, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [str(expected)]
