"""``python -m pipeline`` in a child process (:func:`run_cli`) or in this process (:func:`run_main`),
and reading what a run (or a running job) wrote."""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import json
import logging
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


def run_main(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``pipeline.main.main(ARGS)`` in this process, as :func:`run_cli` runs it in a child: same
    arguments, same result (exit status, stdout, stderr), ~3 s less CPU a run (no interpreter start,
    no imports; Beam, models and compiled regexes stay loaded) and visible to ``make mutate``.

    For what does not depend on the process boundary: the articles, dead letters, summary and
    exit status of a run (argparse's ``SystemExit`` too: ``--help``, usage errors). A test about signals, locks held by another process, the stderr of
    worker processes or ``sys.exit`` keeps :func:`run_cli`. The root logger, the working
    directory and ``env`` (the whole environment, as for a child) are restored afterwards.
    """
    from pipeline.main import main

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        os.chdir(cwd or REPO)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exc:  # argparse's --help, --version and usage errors, as the child exits
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
    return subprocess.CompletedProcess(["pipeline", *args], status, out.getvalue(), err.getvalue())


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
