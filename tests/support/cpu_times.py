"""A pytest plugin that records the CPU of each test: its own process and the child processes it
waited for (``python -m pipeline`` runs, emulators), to find what makes ``make test`` slow.

    NEWSBEAM_CPU_REPORT=build/cpu pytest tests -n 2 -p tests.support.cpu_times
    python -m tests.support.cpu_times build/cpu      # top 30 files and tests by CPU

Each xdist worker writes ``<dir>/<worker>.json`` (nodeid -> wall, own CPU, children's CPU); a
module fixture's set-up counts towards the first test that uses it.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import resource
import sys
import time

import pytest

_ROWS: dict[str, list[float]] = {}


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = (time.monotonic(), _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN))
    yield
    _ROWS[item.nodeid] = [
        time.monotonic() - start[0],
        _cpu(resource.RUSAGE_SELF) - start[1],
        _cpu(resource.RUSAGE_CHILDREN) - start[2],
    ]


def pytest_sessionfinish(session):
    folder = os.environ.get("NEWSBEAM_CPU_REPORT")
    if not folder or not _ROWS:
        return
    pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
    name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (pathlib.Path(folder) / f"{name}.json").write_text(json.dumps(_ROWS, indent=0))


def report(folder: str, top: int = 30) -> str:
    """The ``top`` files and tests by CPU (own + children), from the JSON files in ``folder``."""
    rows: dict[str, list[float]] = {}
    per_worker: dict[str, list[float]] = {}
    for path in sorted(pathlib.Path(folder).glob("*.json")):
        data = json.loads(path.read_text())
        rows.update(data)
        per_worker[path.stem] = [sum(v[i] for v in data.values()) for i in range(3)]
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for nodeid, (wall, own, children) in rows.items():
        acc = files[nodeid.split("::")[0]]
        acc[0] += wall
        acc[1] += own
        acc[2] += children
        acc[3] += 1
    out = [f"{len(rows)} tests; per worker (wall, own CPU, children CPU):"]
    out += [f"  {w}: {a:.0f} s, {b:.0f} s, {c:.0f} s" for w, (a, b, c) in per_worker.items()]
    out.append(f"\ntop {top} files by CPU (own + children), s:  total  own  children  wall  tests")
    for name, (wall, own, children, n) in sorted(files.items(), key=lambda kv: -(kv[1][1] + kv[1][2]))[:top]:
        out.append(f"  {own + children:7.1f} {own:6.1f} {children:7.1f} {wall:7.1f} {n:4d}  {name}")
    out.append(f"\ntop {top} tests by CPU (own + children), s:  total  own  children  wall")
    for nodeid, (wall, own, children) in sorted(rows.items(), key=lambda kv: -(kv[1][1] + kv[1][2]))[:top]:
        out.append(f"  {own + children:7.1f} {own:6.1f} {children:7.1f} {wall:7.1f}  {nodeid}")
    return "\n".join(out)


if __name__ == "__main__":
    print(report(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30))
