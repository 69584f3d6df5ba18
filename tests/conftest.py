import pathlib

import pytest

from tests.support import SHARED

pytest_plugins = ["tests.support.gcs_emulator"]  # the gcs_emulator fixture: a real GCS API on 127.0.0.1


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    path = SHARED / "data"
    assert path.is_dir(), f"../shared/data is missing at {path}; CI places shared/ beside the checkout"
    return path


@pytest.fixture(autouse=True)
def _default_tuning():
    """Every test starts with the default speed-up switches: a run in this process
    (main.run) switches them for its runner and would leak into the next test."""
    from transforms import runtime

    runtime.activate(runtime.Tuning())
    yield
    runtime.activate(runtime.Tuning())
