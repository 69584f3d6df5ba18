"""Helpers shared by the tests that watch a running job's output folder."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time
from typing import Any, Callable


def read_records(out_dir: str, kind: str) -> list[dict]:
    """Every JSON record under ``<out_dir>/<kind>/*.jsonl`` written so far."""
    rows = []
    for path in glob.glob(os.path.join(out_dir, kind, "*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def wait_for(predicate: Callable[[], Any], deadline: float, step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy or ``deadline`` (epoch s) passes."""
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


# A two-topic taxonomy for tests of the streaming machinery: topic tagging is not what
# they are about, and a small taxonomy keeps each pipeline quick to set up.
LANGS = ("en", "fr", "de", "es", "it", "pl", "uk", "ru", "nl")
SMALL_TAXONOMY = {
    "version": 1,
    "min_score": 0.5,
    "window": 80,
    "max_evidence": 5,
    "title_weight": 0.5,
    "topics": {
        "natural_disaster": {"description": "storms", "patterns": {lang: ["storm"] for lang in LANGS}},
        "elections": {"description": "votes", "patterns": {lang: ["voters?"] for lang in LANGS}},
    },
}


def stop_process_group(proc: subprocess.Popen) -> None:
    """Stop a job started with ``start_new_session=True``: SIGTERM to its process group,
    SIGKILL when it has not ended within 10 s; its output is collected either way."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None, timeout: float = 300):
    """``python -m pipeline ARGS`` in a child process (from the repo root by default)."""
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd or repo, env=env, capture_output=True, text=True, timeout=timeout
    )


def read_jsonl(folder: str | os.PathLike) -> list[dict]:
    """Every record of every ``*.jsonl`` file under ``folder``, recursively."""
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.jsonl"), recursive=True)):
        with open(path, encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    return rows
