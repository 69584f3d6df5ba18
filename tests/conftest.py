import os
import pathlib

import pytest

pytest_plugins = ["tests.gcs_emulator"]  # the gcs_emulator fixture: a real GCS API on 127.0.0.1

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(os.environ.get("NEWSBEAM_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    path = SHARED / "data"
    assert path.is_dir(), f"../shared/data is missing at {path}; CI places shared/ beside the checkout"
    return path
