"""``python -m bench.stages --stages-out FILE <pipeline flags>``: run the pipeline and
record where its wall time goes: start-up, each runner stage (a fused group of steps),
worker start and model loads, idle workers, publication.

Only for ``make bench`` / ``python -m bench.run``. It wraps, in the launching process,
``pipeline.main``'s entry points and the local runner's bundle execution
(``FnApiRunner._execute_bundle``, a private method of Beam's Fn API runner) to time them,
and sets ``NEWSBEAM_SETUP_LOG`` so that every ``GuardedMap.setup`` (in the launcher or a
worker process) appends what its model loads cost. When Beam's method is not there
(another Beam version or runner) the pipeline still runs and the file says ``"stages": []``.
:func:`breakdown` turns the file into the table ``bench.run`` prints.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

_REF = re.compile(r"ref_AppliedPTransform_([\w-]+?)_\d+(?![\w-])")  # names may hold "_" (ParDo(_Fn))
_READ = re.compile(r"(?<!\w)([A-Za-z][A-Za-z0-9/]*)/Read\b")  # a shuffle or side input read, not a PCollection_N


def stage_label(name: str, most: int = 3) -> str:
    """A readable label for a fused stage: its first few user-level steps."""
    labels: list[str] = []
    for match in _READ.finditer(name):
        step = match.group(1)
        labels.append(step + " (shuffle)")
    for match in _REF.finditer(name):
        step = match.group(1).replace("-", "/").rstrip("/")
        # plumbing, and the progress line's pass-through counters (pipeline/build.py), are not what a stage does
        if not any(part in step for part in ("Impulse", "DoOnce", "KeyWithVoid", "restore_metadata", "RemoveRandom",
                                             "Progress")):
            labels.append(step)
    unique = list(dict.fromkeys(labels))
    return " + ".join(unique[:most]) + (f" (+{len(unique) - most} more)" if len(unique) > most else "")


class _Workers:
    """The launcher's child processes (the runner's workers) and their CPU seconds."""

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self._error = psutil.Error
        self.seen: dict[int, float] = {}  # pid -> creation time (epoch)

    def cpu(self) -> dict[int, float]:
        """CPU seconds of each worker process. A worker runs under a ``/bin/sh -c`` wrapper
        (Beam's local runner starts it through a shell): the wrapper is no worker, and
        counting it doubled the worker-seconds the idle figure is a share of."""
        found = {}
        try:
            children = self._me.children(recursive=True)
        except self._error:
            return found
        parents = set()
        for child in children:
            try:
                parents.add(child.ppid())
            except self._error:
                pass
        for child in children:
            if child.pid in parents:  # a wrapper (or anything else that only waits on its children)
                continue
            try:
                times = child.cpu_times()
                self.seen.setdefault(child.pid, child.create_time())
            except self._error:
                continue
            found[child.pid] = times.user + times.system
        return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages-out", required=True)
    args, flags = parser.parse_known_args(argv)
    out = args.stages_out
    setup_log = out + ".setups"
    if os.path.exists(setup_log):  # an earlier run's
        os.remove(setup_log)
    os.environ["NEWSBEAM_SETUP_LOG"] = setup_log  # inherited by the runner's worker processes
    marks: dict[str, float] = {"process": _process_start()}
    cpu_marks: dict[str, float] = {"process": 0.0}  # the launcher's CPU seconds at each mark
    stages: list[dict] = []
    workers = _Workers()
    from pipeline import main as pipeline_entry
    from pipeline import runguard

    marks["imported"], cpu_marks["imported"] = time.time(), time.process_time()
    _time_calls(pipeline_entry, "build_pipeline", marks, cpu_marks, "build")
    _time_calls(runguard.RunGuard, "publish", marks, cpu_marks, "publish")
    try:
        from apache_beam.runners.portability.fn_api_runner import fn_runner

        original = fn_runner.FnApiRunner._execute_bundle

        def timed(self, context, manager, *args, **kwargs):
            before, cpu, started = workers.cpu(), time.process_time(), time.time()
            try:
                return original(self, context, manager, *args, **kwargs)
            finally:
                ended = time.time()
                after = workers.cpu()
                stages.append({
                    "stage": stage_label(manager.stage.name),
                    "started": started,
                    "seconds": ended - started,
                    "launcher_cpu": time.process_time() - cpu,
                    "worker_cpu": {str(pid): after[pid] - before.get(pid, 0.0) for pid in after},
                })
                _save(out, stages, marks, cpu_marks, workers, setup_log)  # as it goes: a stopped run still says how far it got

        fn_runner.FnApiRunner._execute_bundle = timed
        _time_calls(fn_runner.FnApiRunner, "run_pipeline", marks, cpu_marks, "runner")
    except (ImportError, AttributeError):
        pass
    code = pipeline_entry.main(flags)
    marks["main_end"], cpu_marks["main_end"] = time.time(), time.process_time()
    _save(out, stages, marks, cpu_marks, workers, setup_log)
    return code


def _process_start() -> float:
    """When this process started (epoch seconds). On Linux from its start in clock ticks after boot and
    the uptime now (10 ms steps); psutil's ``create_time`` adds the boot time, which the kernel gives in
    whole seconds, so it was up to a second early and the "python start and imports" row as much too long."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            started_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22, after "pid (comm)"
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - (uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):  # not Linux: from here on
        return time.time()


def _time_calls(owner: object, name: str, marks: dict[str, float], cpu_marks: dict[str, float], mark: str) -> None:
    """Record when the first call of ``owner.name`` started and ended (``<mark>_start``/``_end``)."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        if f"{mark}_start" not in marks:
            marks[f"{mark}_start"], cpu_marks[f"{mark}_start"] = time.time(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            if f"{mark}_end" not in marks:
                marks[f"{mark}_end"], cpu_marks[f"{mark}_end"] = time.time(), time.process_time()

    setattr(owner, name, timed)


def _save(path: str, stages: list[dict], marks: dict[str, float], cpu_marks: dict[str, float], workers: _Workers,
          setup_log: str) -> None:
    setups = []
    if os.path.exists(setup_log):
        with open(setup_log, encoding="utf-8") as fh:
            setups = [json.loads(line) for line in fh if line.strip()]
    record = {"stages": stages, "marks": marks, "workers": {str(k): v for k, v in workers.seen.items()},
              "launcher_pid": os.getpid(), "setups": setups, "cpu_marks": cpu_marks}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(record, fh)


def breakdown(record: dict, ended: float | None = None) -> list[tuple[str, float, float | None]]:
    """Where the wall time of a run went, in order, as ``(what, wall seconds, CPU seconds)`` rows
    whose wall seconds add up to the run (``ended``: when the process was seen to exit, epoch
    seconds). CPU is the launcher's, plus the workers' during runner stages (None: not known)."""
    marks, cpu, stages = record.get("marks", {}), record.get("cpu_marks", {}), record.get("stages", [])
    if not stages or "build_start" not in marks:
        return []
    rows: list[tuple[str, float, float | None]] = []

    def add(what: str, seconds: float, cpu_seconds: float | None = None) -> None:
        rows.append((what, max(0.0, seconds), None if cpu_seconds is None else max(0.0, cpu_seconds)))

    def span(a: str, b: str) -> tuple[float, float | None]:
        return marks[b] - marks[a], (cpu[b] - cpu[a]) if a in cpu and b in cpu else None

    add("python start and imports", *span("process", "imported"))
    add("options, config checks, locks", *span("imported", "build_start"))
    add("graph build", *span("build_start", "build_end"))
    first = stages[0]
    add("runner: translate and fuse", first["started"] - marks["build_end"])
    # the stage in which the heavy setups ran; the stages before it start the workers (their imports)
    setups = record.get("setups", [])
    heavy = max(stages, key=lambda st: st["seconds"])
    end = heavy["started"] + heavy["seconds"]
    inside = [s for s in setups if heavy["started"] <= s["started"] <= end]
    first_setup = min((s["started"] for s in inside), default=heavy["started"])
    loads_done = max((s["started"] + s["seconds"] for s in inside), default=first_setup)
    pids = {str(s["pid"]) for s in inside}
    launcher = str(record.get("launcher_pid"))

    def cpu_of(st: dict) -> float:
        return st.get("launcher_cpu", 0.0) + sum(st.get("worker_cpu", {}).values())

    before = [st for st in stages if st["started"] < heavy["started"]]
    after = [st for st in stages if st["started"] > heavy["started"]]
    loads_cpu = sum(s["cpu"] for s in inside)
    workers = "" if pids <= {launcher} else f", {len(pids - {launcher})} worker processes start"
    add(f"first {len(before)} small stages{workers}", first_setup - first["started"],
        sum(cpu_of(st) for st in before))
    where = "in the launcher" if pids <= {launcher} else f"in {len(pids - {launcher})} worker processes"
    add(f"model loads ({where}; until the last is ready)", loads_done - first_setup, loads_cpu)
    add(f"work of the biggest stage: {heavy['stage'][:50]}", end - loads_done, cpu_of(heavy) - loads_cpu)
    add(f"other runner stages ({len(after)})", sum(st["seconds"] for st in after), sum(cpu_of(st) for st in after))
    gaps = [b["started"] - (a["started"] + a["seconds"]) for a, b in zip(after, after[1:])]
    if after:
        gaps.insert(0, after[0]["started"] - end)
    add("runner bookkeeping between those stages", sum(gaps))
    previous_end = (after or [heavy])[-1]["started"] + (after or [heavy])[-1]["seconds"]
    add("runner teardown (workers stop)", marks.get("runner_end", previous_end) - previous_end)
    publish = marks.get("publish_end", 0.0) - marks.get("publish_start", 0.0)
    add("judge, commit, summary", marks.get("main_end", previous_end) - marks.get("runner_end", previous_end) - publish)
    add("publish", publish)
    if ended is not None:
        add("process exit", ended - marks.get("main_end", ended))
    return rows


def idle_worker_seconds(record: dict) -> tuple[float, float]:
    """(worker-seconds the runner's worker processes sat idle during the stages, worker-seconds
    they had): a worker is idle in a stage for the stage's wall time less the CPU it used (a
    loaded machine counts waiting for a core as idle too). (0, 0) for an in-process run."""
    idle = had = 0.0
    for st in record.get("stages", []):
        for cpu in st.get("worker_cpu", {}).values():
            had += st["seconds"]
            idle += max(0.0, st["seconds"] - cpu)
    return idle, had


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
