"""The settings newsbeam ships: ``local.yaml`` (the job), ``topics.yaml`` (the taxonomy),
``feeds.yaml`` (feeds to poll) and ``story_lexicon.yaml`` (the words of story features).

In a checkout, edit them here or pass ``--config my.yaml``. Installed (``pip install .``, the
wheel, the Flex Template image) they are package data beside this file: :func:`path` finds one
through ``importlib.resources`` wherever the package lives, so ``newsbeam`` runs from any folder.
"""

from __future__ import annotations

import os
from importlib import resources


def path(name: str) -> str:
    """The file path of the shipped file ``name`` (pip installs packages unzipped)."""
    return os.fspath(resources.files(__name__).joinpath(name))
