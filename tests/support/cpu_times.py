"""A pytest plugin that records the CPU of each test: its own process and the child processes it
waited for (``python -m pipeline`` runs, emulators), to find what makes ``make test`` slow.

    NEWSBEAM_CPU_REPORT=build/cpu pytest tests -n 2 -p tests.support.cpu_times
    python -m tests.support.cpu_times build/cpu      # top 30 files and tests by CPU
    python -m tests.support.cpu_times build/cpu build/cpu-changed --write-costs   # refresh the order

Each xdist worker writes ``<dir>/<worker>.json`` (nodeid -> wall, own CPU, children's CPU); a
module fixture's set-up counts towards the first test that uses it (its tear-down, e.g. an
emulator's exit, towards the last). ``--write-costs`` rewrites ``tests/data/file_costs.json`` (the
order ``tests/conftest.py`` starts files in) from the folders given, a later folder's file replacing
an earlier one's (a whole run, then the files changed since, measured alone), and prints how the
files would share two workers.
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


def file_costs(folders: list[str]) -> dict[str, float]:
    """CPU seconds (own + children) per test file; a later folder's file replaces an earlier one's."""
    costs: dict[str, float] = {}
    for folder in folders:
        these: dict[str, float] = collections.defaultdict(float)
        for path in sorted(pathlib.Path(folder).glob("*.json")):
            for nodeid, (_, own, children) in json.loads(path.read_text()).items():
                these[nodeid.split("::")[0]] += own + children
        costs.update(these)
    return costs


def plan(costs: dict[str, float], workers: int = 2) -> list[tuple[float, list[str]]]:
    """How ``make test`` shares the files out: costliest first, each to the worker free first
    (xdist ``--dist loadfile`` with the order of ``tests/conftest.py``); per worker its total and files."""
    loads: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(workers)]
    for name, cost in sorted(costs.items(), key=lambda kv: -kv[1]):
        index = min(range(workers), key=lambda i: loads[i][0])
        loads[index] = (loads[index][0] + cost, loads[index][1] + [name])
    return loads


def write_costs(folders: list[str], target: pathlib.Path, minimum: float = 5.0) -> str:
    costs = file_costs(folders)
    listed = {name: round(cost) for name, cost in sorted(costs.items(), key=lambda kv: -kv[1]) if cost >= minimum}
    data = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
    data["seconds"] = listed
    target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    total = sum(costs.values())
    out = [f"{len(listed)} files of {len(costs)} written to {target} (CPU {total:.0f} s in all)"]
    for i, (load, names) in enumerate(plan(costs)):
        out.append(f"  worker {i}: {load:.0f} s of CPU, {len(names)} files")
    biggest = max(costs.items(), key=lambda kv: kv[1])
    out.append(f"  the costliest file: {biggest[0]} {biggest[1]:.0f} s ({100 * biggest[1] / (total / 2):.0f} % of a worker's share)")
    return "\n".join(out)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--write-costs" in sys.argv:
        print(write_costs(args, pathlib.Path(__file__).resolve().parents[1] / "data" / "file_costs.json"))
    else:
        print(report(args[0], int(args[1]) if len(args) > 1 else 30))
