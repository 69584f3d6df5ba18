import json
import os
import pathlib

import pytest

from tests.support import SHARED

pytest_plugins = ["tests.support.gcs_emulator"]  # the gcs_emulator fixture: a real GCS API on 127.0.0.1

FILE_COSTS = pathlib.Path(__file__).parent / "data" / "file_costs.json"


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


def pytest_collection_modifyitems(config, items):
    """The costliest test files first, whole (their tests keep their order): ``make test`` hands
    files to its xdist workers in collection order (``--no-loadscope-reorder``), so the long ones
    start at once and the many short ones fill in at the end; both workers then finish together.
    Costs (CPU seconds per file, measured with ``tests/support/cpu_times.py``) are in
    ``tests/data/file_costs.json``; a file not listed costs 0 and keeps its place.

    Not under mutmut (``make mutate``): it hands a mutant's tests fastest first and stops at the
    first failure, so a killed mutant costs one cheap test, not the costliest file first (a
    hypothesis test shrinking its failure for minutes, often until the mutant's timeout)."""
    if "MUTANT_UNDER_TEST" in os.environ:
        return
    costs = json.loads(FILE_COSTS.read_text(encoding="utf-8"))["seconds"]
    first_seen = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.nodeid.split("::")[0], index)
    items.sort(key=lambda item: (-costs.get(item.nodeid.split("::")[0], 0.0), first_seen[item.nodeid.split("::")[0]]))
