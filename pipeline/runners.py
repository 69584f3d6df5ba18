"""Which runner runs the job: for local runs newsbeam chooses it, and says which one ran.

Beam 2.77's ``DirectRunner`` first tries the Prism runner (downloading its binary when the machine
has internet access, running the job there) and falls back to the FnApiRunner for batch jobs. The
tests, the benchmarks and the local-runner tuning (``transforms/runtime/``) are on the FnApiRunner,
so without ``--runner``, or with ``--runner DirectRunner``, newsbeam runs a batch job on the
FnApiRunner directly (set up as the DirectRunner sets it up) and a streaming job on Beam's
``BundleBasedDirectRunner`` (the one that runs the TestStream-served sources,
docs/streaming.md). Prism, Dataflow, Flink, Spark and Dask run only when named. An unknown name is
a command-line error, found before any output is touched.
"""

from __future__ import annotations

import dataclasses

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner, create_runner

from pipeline.config import ConfigError
from pipeline.dask_runner import runner_for

DIRECT_NAMES = ("directrunner", "direct", "switchingdirectrunner", "fnapirunner")  # newsbeam chooses
NAMED = "DirectRunner (default), PrismRunner, DaskRunner, DataflowRunner, FlinkRunner, SparkRunner, PortableRunner"


class LocalBatchRunner(PipelineRunner):
    """Beam's FnApiRunner, given the pipeline options as ``DirectRunner`` gives them (so the
    workers of ``--direct_running_mode multi_processing`` see them), without the Prism attempt."""

    def run_pipeline(self, pipeline, options):
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return fn_runner.FnApiRunner(provision_info=info).run_pipeline(pipeline, options)


@dataclasses.dataclass(frozen=True)
class Chosen:
    runner: PipelineRunner
    name: str  # the runner that runs the job, as the summary names it
    local_batch: bool = False  # newsbeam's local batch runner (the progress line watches it)


def choose_runner(options: PipelineOptions) -> Chosen:
    """The runner for ``options`` (``--runner`` and ``--streaming``); ConfigError for an unknown one."""
    standard = options.view_as(StandardOptions)
    name = standard.runner
    if name is not None and not isinstance(name, str):  # a runner object (tests, embedding)
        return Chosen(name, type(name).__name__)
    if (name or "DirectRunner").lower() in DIRECT_NAMES:
        if standard.streaming:
            from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

            return Chosen(BundleBasedDirectRunner(), "BundleBasedDirectRunner")
        return Chosen(LocalBatchRunner(), "FnApiRunner", local_batch=True)
    dask = runner_for(options)
    if dask is not None:
        return Chosen(dask, "DaskRunner")
    try:
        runner = create_runner(name)
    except ImportError as exc:
        raise ConfigError(f"--runner {name}: cannot be loaded here: {exc}".splitlines()[0]) from None
    except (ValueError, AttributeError, TypeError):
        raise ConfigError(f"--runner {name}: unknown runner (known: {NAMED}, or a PipelineRunner class path)") from None
    if not isinstance(runner, PipelineRunner):
        raise ConfigError(f"--runner {name}: not a Beam PipelineRunner")
    return Chosen(runner, type(runner).__name__)
