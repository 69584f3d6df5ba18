import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

from pipeline.config import ConfigError
from pipeline.runners import LocalBatchRunner, choose_runner


@pytest.mark.parametrize("argv", [[], ["--runner", "DirectRunner"], ["--runner", "direct"], ["--runner", "FnApiRunner"]])
def test_local_batch_runs_on_newsbeams_choice_never_beams_prism_attempt(argv):
    chosen = choose_runner(PipelineOptions(argv))
    assert isinstance(chosen.runner, LocalBatchRunner) and chosen.name == "FnApiRunner" and chosen.local_batch


def test_local_streaming_runs_on_the_bundle_based_direct_runner():
    chosen = choose_runner(PipelineOptions(["--streaming"]))
    assert isinstance(chosen.runner, BundleBasedDirectRunner) and chosen.name == "BundleBasedDirectRunner"
    assert not chosen.local_batch


def test_other_runners_only_when_named():
    assert choose_runner(PipelineOptions(["--runner", "PrismRunner"])).name == "PrismRunner"
    assert choose_runner(PipelineOptions(["--runner", "DaskRunner"])).name == "DaskRunner"


@pytest.mark.parametrize("name", ["Flonk", "no.such.module.Runner", "apache_beam.Pipeline"])
def test_an_unknown_runner_is_a_usage_error_in_one_line(name):
    with pytest.raises(ConfigError) as err:
        choose_runner(PipelineOptions(["--runner", name]))
    assert f"--runner {name}" in str(err.value) and "\n" not in str(err.value)
