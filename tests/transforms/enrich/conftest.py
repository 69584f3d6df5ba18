"""The shipped taxonomy, loaded once per test module that asks for it (a module that defines its own
``taxonomy`` fixture keeps its own)."""

import pytest

from tests.support import REPO
from transforms.enrich.topics import Taxonomy, load_taxonomy


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(str(REPO / "configs" / "topics.yaml"))
