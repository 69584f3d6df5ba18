"""Which flags the launcher knows (pipeline/options.py), with and without the Dask runner loaded."""

import subprocess
import sys

import pytest

import pipeline.dask_runner  # noqa: F401 - newsbeam's --dask_local_workers, as the launcher imports it
from pipeline.options import OptionError, unknown_arguments
from tests.support import REPO


def test_newsbeam_beam_and_dask_flags_are_known_and_others_are_not():
    assert unknown_arguments(["--input", "a", "--output", "o", "--direct_num_workers=2"]) == []
    assert unknown_arguments(["--dask_client_address=tcp://127.0.0.1:1", "--dask_local_workers", "2"]) == []
    assert unknown_arguments(["--input", "a", "--no-such-flag", "--dask_local_workers=3"]) == ["--no-such-flag"]


def test_a_known_flag_with_a_bad_value_is_an_error():
    with pytest.raises(OptionError):
        unknown_arguments(["--window-seconds", "abc"])


@pytest.mark.e2e
def test_the_dask_runner_is_imported_only_for_its_flags():
    code = (
        "import sys; import pipeline.dask_runner; from pipeline.options import unknown_arguments as u; "
        "u(['--input', 'a', '--direct_num_workers=2']); print('apache_beam.runners.dask.dask_runner' in sys.modules); "
        "u(['--dask_client_address=tcp://127.0.0.1:1']); print('apache_beam.runners.dask.dask_runner' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
