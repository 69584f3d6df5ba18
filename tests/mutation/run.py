"""``make mutate``: mutation testing of the core modules with mutmut, one module at a time.

mutmut 3 mutates a copy of the tree (``mutants/`` under the cwd) and is configured by a
``setup.cfg`` in the cwd, so each module gets a scratch copy under ``build/mutate/<module>/``
with its own config: only that module is mutated and only its tests (``modules.yaml``, the fast
ones: ``-m "not e2e and not slow"``) run against its mutants. That keeps one module to minutes and
the checkout untouched. Prints the kill rate per module (killed + timeout over all mutants;
"no tests" counts as survived) and the names of the survivors (``mutmut show NAME`` in the
scratch directory shows the diff). Exit status 1 when a module is under ``--target`` percent.
``--survivors`` tests only the last run's survivors again, against the tests as they are now (the
module's code must be unchanged since that run; new tests are copied in, mutmut's per-test
statistics collected again): minutes instead of a whole run after adding tests.

    python -m tests.mutation.run [MODULE ...] [--jobs N] [--target 85] [--survivors]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys

import yaml

from tests.support import REPO, SHARED

MODULES_FILE = pathlib.Path(__file__).with_name("modules.yaml")
# the copy takes the whole checkout but these: tests read configs, data, eval, deploy, docs beside
# the code (REPO in tests/support is the copy's mutants/ directory)
NOT_COPIED = {".git", ".venv", "build", "output", "mutants", "dist"}
SOURCES = ("pipeline", "transforms")
PYTEST_ARGS = ("-p", "no:cacheprovider", "-W", "ignore")
SLOW = "+slow"  # in a module's test list: its slow tests run too (load_modules)
NO_REGEX_CACHE = "+no-regex-cache"  # in a module's test list: the regex cache is off (load_modules)
DESELECT = "-"  # a test id after it in a module's test list is left out (load_modules)
MARKERS = (SLOW, NO_REGEX_CACHE)
KILLED = {"killed", "timeout", "caught by type check"}


def load_modules() -> dict[str, list[str]]:
    """Module -> its test files; ``{tests: [...], slow: true}`` in the file also runs the
    ``slow`` tests (Beam pipelines in this process) of those files, for a module whose
    composite only they reach; ``regex_cache: false`` runs the tests with the regex cache off
    (``$NEWSBEAM_REGEX_CACHE=off``), for a module whose results the cache keeps on disk keyed by
    the module's code: every mutant has the same file, so it would read the original's results;
    ``deselect: [test ids]`` leaves out tests of those files that check another module at length
    (every survivor runs every test that reaches it)."""
    with open(MODULES_FILE, encoding="utf-8") as fh:
        table = yaml.safe_load(fh)
    return {
        module: entry if isinstance(entry, list) else [
            *entry["tests"],
            *([SLOW] if entry.get("slow") else []),
            *([NO_REGEX_CACHE] if entry.get("regex_cache") is False else []),
            *(DESELECT + t for t in entry.get("deselect", ())),
        ]
        for module, entry in table.items()
    }


def test_files(tests: list[str]) -> list[str]:
    return [t for t in tests if t not in MARKERS and not t.startswith(DESELECT)]


def scratch_dir(module: str) -> pathlib.Path:
    return REPO / "build" / "mutate" / module.replace("/", "_").removesuffix(".py")


IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "results", "*.egg-info")


def copied_names() -> list[str]:
    return sorted(p.name for p in REPO.iterdir() if p.name not in NOT_COPIED and not p.name.endswith(".egg-info"))


def prepare(module: str, tests: list[str]) -> pathlib.Path:
    """A fresh copy of the tree with a setup.cfg that mutates only ``module``."""
    work = scratch_dir(module)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in copied_names():
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, work / name, ignore=IGNORED)
        else:
            shutil.copy2(REPO / name, work / name)
    write_config(work, module, tests)
    return work


def write_config(work: pathlib.Path, module: str, tests: list[str]) -> None:
    copied = copied_names()
    lines = ["[mutmut]", "source_paths ="] + [f"    {s}" for s in SOURCES]
    lines += [f"only_mutate = {module}", "also_copy ="]
    lines += [f"    {name}" for name in copied if name not in SOURCES]
    markers = "not e2e" if SLOW in tests else "not e2e and not slow"
    lines += ["pytest_add_cli_args_test_selection ="] + [f"    {t}" for t in test_files(tests)]
    deselect = [a for t in tests if t.startswith(DESELECT) for a in ("--deselect", t[len(DESELECT):])]
    lines += ["pytest_add_cli_args ="] + [f"    {a}" for a in ("-m", markers, *PYTEST_ARGS, *deselect)]
    lines += ["use_git_change_detection = false", "timeout_multiplier = 10.0", "timeout_constant = 10.0"]
    (work / "setup.cfg").write_text("\n".join(lines) + "\n", encoding="utf-8")


def mutmut(work: pathlib.Path, *args: str, capture: bool = False, cache: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, NEWSBEAM_SHARED=str(SHARED), PYTHONPATH="")
    if not cache:
        env["NEWSBEAM_REGEX_CACHE"] = "off"
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=work, env=env, text=True,
                          capture_output=capture, check=False)


def statuses(work: pathlib.Path) -> dict[str, str]:
    out = mutmut(work, "results", "--all", "true", capture=True).stdout
    found = re.findall(r"^\s*(\S+): (.+?)\s*$", out, flags=re.M)
    return dict(found)


def mutate(module: str, tests: list[str], jobs: int) -> dict[str, str]:
    work = prepare(module, tests)
    print(f"== {module}: mutants run against {len(test_files(tests))} test file(s) in {work}", flush=True)
    done = mutmut(work, "run", "--max-children", str(jobs), capture=True, cache=NO_REGEX_CACHE not in tests)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"mutmut failed on {module} (exit {done.returncode})")
    return statuses(work)


def rerun_survivors(module: str, tests: list[str], jobs: int) -> dict[str, str]:
    """The last run's survivors of ``module`` tested again against the current tests; the
    other mutants keep their status. A full run when there was no last run."""
    work = scratch_dir(module)
    if not (work / "mutants").is_dir():
        return mutate(module, tests, jobs)
    source = work / module
    if source.read_bytes() != (REPO / module).read_bytes():
        raise SystemExit(f"{module} changed since its last run: run it whole (without --survivors)")
    before = statuses(work)
    survivors = sorted(name for name, status in before.items() if status not in KILLED)
    shutil.copytree(REPO / "tests", work / "tests", ignore=IGNORED, dirs_exist_ok=True)
    write_config(work, module, tests)
    (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)  # tests changed: who calls what
    print(f"== {module}: {len(survivors)} survivors run again against {len(test_files(tests))} test file(s)", flush=True)
    if survivors:
        done = mutmut(work, "run", "--max-children", str(jobs), *survivors, capture=True,
                      cache=NO_REGEX_CACHE not in tests)
        if done.returncode != 0:
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
            raise SystemExit(f"mutmut failed on {module} (exit {done.returncode})")
    after = statuses(work)
    return {name: after.get(name, status) if name in survivors else status for name, status in before.items()}


def summary(module: str, result: dict[str, str]) -> float:
    killed = sum(status in KILLED for status in result.values())
    total = len(result)
    rate = 100.0 * killed / total if total else 100.0
    survivors = sorted(name for name, status in result.items() if status not in KILLED)
    print(f"{module}: {killed}/{total} killed ({rate:.1f} %)", flush=True)
    for name in survivors:
        print(f"    {result[name]}: {name}")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="paths as in modules.yaml; default: all of them")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested in parallel (default 1)")
    parser.add_argument("--target", type=float, default=85.0, help="kill rate a module must reach")
    parser.add_argument("--survivors", action="store_true",
                        help="test only the last run's survivors again, against the current tests")
    args = parser.parse_args(argv)
    table = load_modules()
    unknown = [m for m in args.modules if m not in table]
    if unknown:
        parser.error(f"not in {MODULES_FILE.name}: {', '.join(unknown)} (known: {', '.join(table)})")
    run = rerun_survivors if args.survivors else mutate
    rates = {m: summary(m, run(m, table[m], args.jobs)) for m in (args.modules or list(table))}
    print("\nkill rate per module:")
    for module, rate in rates.items():
        print(f"  {rate:5.1f} %  {module}")
    return 0 if all(rate >= args.target for rate in rates.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
