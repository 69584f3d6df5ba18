"""A Beam job on 2 worker processes whose DoFn logs a credentialed URL (tests/pipeline/test_worker_logs.py).

``main(["--plugin"])`` names ``transforms.common.worker_logs`` in ``--beam_plugins`` (as
``python -m pipeline`` does), then takes the filter off the launcher's own handlers: whatever comes out redacted was
redacted in the workers. ``main([])`` is the control: nothing installed anywhere.
"""

from __future__ import annotations

import logging
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

SECRET_URL = "https://reader:s3cr3t-pw@feeds.example/rss?api_key=k3y-value"


class LogUrl(beam.DoFn):
    def process(self, i: int):
        log = logging.getLogger("newsbeam.test.worker")
        log.warning("worker %d fetching %s", i, SECRET_URL)
        try:
            raise ValueError(f"cannot fetch {SECRET_URL}")
        except ValueError:
            log.warning("worker %d failed", i, exc_info=True)
        yield i


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    opts = PipelineOptions(["--direct_num_workers=1", "--direct_running_mode=multi_processing"])  # a worker process: one is enough
    if "--plugin" in argv:
        from transforms.common.worker_logs import with_worker_redaction

        with_worker_redaction(opts)  # as python -m pipeline does
        for handler in logging.getLogger().handlers:
            handler.filters.clear()  # the launcher's handlers unfiltered: only the workers can redact
    with beam.Pipeline(options=opts) as p:
        p | beam.Create(range(4)) | beam.Reshuffle() | beam.ParDo(LogUrl())


if __name__ == "__main__":
    main(sys.argv[1:])
