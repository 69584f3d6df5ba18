"""``python -m bench.stages --stages-out FILE <pipeline flags>``: run the pipeline and
record how long each runner stage (a fused group of steps) took.

Only for ``make bench``: it wraps the local runner's bundle execution
(``FnApiRunner._execute_bundle``, a private method of Beam's Fn API runner) to time
it; when that method is not there (another Beam version or runner) the pipeline
still runs and the file says ``"stages": []``.
"""

from __future__ import annotations

import argparse
import json
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages-out", required=True)
    args, flags = parser.parse_known_args(argv)
    out = args.stages_out
    stages: list[dict] = []
    try:
        from apache_beam.runners.portability.fn_api_runner import fn_runner

        original = fn_runner.FnApiRunner._execute_bundle

        def timed(self, context, manager, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(self, context, manager, *args, **kwargs)
            finally:
                stages.append({"stage": stage_label(manager.stage.name), "seconds": time.perf_counter() - started})
                _save(out, stages)  # as it goes: a run stopped half-way still says how far it got

        fn_runner.FnApiRunner._execute_bundle = timed
    except (ImportError, AttributeError):
        pass
    from pipeline.main import main as pipeline_main

    code = pipeline_main(flags)
    _save(out, stages)
    return code


def _save(path: str, stages: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"stages": stages}, fh)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
