"""``python -m bench.sameoutputs DIR_A DIR_B``: do two runs' outputs hold the same records?

Compares what a run wrote under ``--output`` regardless of order and sharding: the JSON Lines of
``articles/``, ``stories/`` and ``dead_letter/`` (plain or gzip) line by line, sorted; each Parquet
partition's rows, sorted; ``summary.json`` without what differs between any two runs (its ``run``
block, run id and seconds). Prints one line; exit status 1 when they differ. Used to check that a
speed-up changes no output (docs/performance.md, issue 22).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import sys

VOLATILE = ("run", "run_id", "seconds")  # summary.json fields that differ between any two runs


def digest(root: str) -> dict[str, tuple[int, str]]:
    """Per table (JSON Lines folder or Parquet partition): record count and a hash of the sorted records."""
    import pyarrow.parquet as pq

    groups: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
        rel = os.path.relpath(path, root)
        top = rel.split(os.sep)[0]
        if os.path.isdir(path) or rel in ("summary.json", "_SUCCESS") or top.startswith("."):
            continue
        if path.endswith(".parquet"):
            rows = [json.dumps(r, sort_keys=True, default=str) for r in pq.read_table(path).to_pylist()]
            key = os.path.dirname(rel)
        elif path.endswith((".jsonl", ".jsonl.gz")):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as fh:
                rows = fh.read().splitlines()
            key = top
        else:
            with open(path, "rb") as fh:
                rows = [fh.read().hex()]
            key = rel
        groups.setdefault(key, []).extend(rows)
    return {k: (len(v), hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest()) for k, v in groups.items()}


def summary(root: str) -> dict:
    with open(os.path.join(root, "summary.json"), encoding="utf-8") as fh:
        found = json.load(fh)
    return {k: v for k, v in found.items() if k not in VOLATILE}


def compare(a: str, b: str) -> tuple[bool, str]:
    """(same, one line saying what was compared or what differs)."""
    da, db = digest(a), digest(b)
    differ = [k for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)]
    same_summary = summary(a) == summary(b)
    records = sum(n for n, _ in da.values())
    if not differ and same_summary:
        return True, f"identical: {len(da)} tables, {records} records, same summary"
    return False, f"differ: tables {differ[:5]}{' ...' if len(differ) > 5 else ''}, summary {'same' if same_summary else 'differs'}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    same, line = compare(*argv)
    print(line)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
