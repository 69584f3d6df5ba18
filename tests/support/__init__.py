"""What the tests share: helpers, local servers and reference composites, in one place.

- :mod:`tests.support.cli`: ``python -m pipeline`` in a child process and the files it writes
- :mod:`tests.support.samples`: short articles in three languages, a two-topic taxonomy
- :mod:`tests.support.gcs_emulator`: the ``gcs_emulator`` fixture (a Cloud Storage API on 127.0.0.1)
- :mod:`tests.support.httpserver`, :mod:`tests.support.feeds`: an HTTP server and feeds for fetching
- :mod:`tests.support.story_cases`: articles and helpers of the story tests
- :mod:`tests.support.mark_duplicates`, :mod:`tests.support.assign_stories`: the plain composites the
  one-pass ``ResolveArticles`` is checked against
- :mod:`tests.support.localrunner_job`: a job ``tests/transforms/runtime/test_localrunner.py`` runs
"""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("NEWSBEAM_SHARED", REPO.parent / "shared"))
