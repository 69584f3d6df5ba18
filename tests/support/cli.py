"""``python -m pipeline`` in a child process, and reading what a run (or a running job) wrote."""

from __future__ import annotations

import glob
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Callable

from tests.support import REPO


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None, timeout: float = 900):
    """``python -m pipeline ARGS`` in a child process (from the repo root by default); output captured.
    The timeout only stops a hung run: a run of a few seconds took over 300 s under load 15 with the
    suite in two workers."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def read_jsonl(folder: str | os.PathLike) -> list[dict]:
    """Every record of every ``*.jsonl`` or ``*.jsonl.gz`` file under ``folder``, recursively, in path order."""
    records = []
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.jsonl*"), recursive=True)):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            records.extend(json.loads(line) for line in fh if line.strip())
    return records


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
