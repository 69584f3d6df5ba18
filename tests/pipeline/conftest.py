import json

import pytest

from tests.support.samples import SMALL_TAXONOMY


@pytest.fixture
def small_taxonomy(tmp_path):
    """The two-topic taxonomy of tests/support/samples.py as a file (JSON is YAML)."""
    path = tmp_path / "topics.yaml"
    path.write_text(json.dumps(SMALL_TAXONOMY))
    return str(path)
