"""A job for tests/transforms/runtime/test_localrunner.py: makes ``MB`` megabytes that a later step reads on
the local runner with two worker processes, with small send queues and chunks so
that a bundle's input is many times what the queues hold; prints the checksum.

``python -m tests.support.localrunner_job MB {background|inline}``: ``inline`` writes the
chunks before the bundle is started (what the fix avoids: the run never ends).
"""

import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.worker import data_plane

from transforms.runtime import localrunner
ROW = 4096


def rows(seed: int):
    for i in range(256):
        yield seed * 256 + i, bytes([(seed + i) % 251]) * ROW


def main(megabytes: int, mode: str) -> None:
    data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES = 1 << 20  # the launcher's send queues, read when it starts
    data_plane._DEFAULT_SIZE_FLUSH_THRESHOLD = 64 << 10  # and the most it packs in one gRPC message
    localrunner.CHUNK_BYTES = 64 << 10
    assert localrunner.stream_bundle_inputs()
    if mode == "inline":
        def inline(self, process_bundle_id, read_transform_id, byte_streams):
            out = self._worker_handler.data_conn.output_stream(process_bundle_id, read_transform_id)
            localrunner._write_in_chunks(out, byte_streams, localrunner.CHUNK_BYTES)

        fn_runner.BundleManager._send_input_to_worker = inline
    seeds = megabytes * (1 << 20) // (256 * ROW)
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    with beam.Pipeline(options=options) as p:
        big = p | beam.Create(range(seeds)) | beam.FlatMap(rows)
        count = big | "Count" >> beam.combiners.Count.Globally()
        (
            big  # read again after the count: the runner materialises it and sends it in chunks
            | beam.Map(lambda kv, n: kv[0] + sum(kv[1][:8]) + 0 * n, n=beam.pvalue.AsSingleton(count))
            | beam.CombineGlobally(sum)
            | beam.Map(print)
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
