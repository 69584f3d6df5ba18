"""``python -m bench.held --held-out FILE <pipeline flags>``: what the local runner's launcher
holds when each runner stage starts: every materialised collection (the runner's buffers and
the inputs queued for stages still to run) and every side input committed to its state
service, with elements and bytes, and the launcher's resident memory.

A measuring tool for the memory peak (``docs/performance.md``), not part of ``make bench``.
It wraps ``FnApiRunner._execute_bundle`` (a private method of Beam's Fn API runner, as
:mod:`bench.stages` does); on another Beam the pipeline runs unmeasured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from bench.stages import stage_label


def _size(value: Any) -> int:
    """Rough bytes of a decoded element held by a grouping buffer (str, bytes, tuples of them)."""
    if isinstance(value, (bytes, str)):
        return sys.getsizeof(value)
    if isinstance(value, (tuple, list)):
        return sys.getsizeof(value) + sum(_size(v) for v in value)
    return sys.getsizeof(value)


def _buffer_bytes(buffer: Any) -> tuple[int, int]:
    """(bytes, pieces) of a runner buffer: encoded chunks of a ListBuffer, or the decoded
    values (and encoded keys) of a GroupingBuffer, or its grouped output once partitioned."""
    total = pieces = 0
    grouped = getattr(buffer, "_grouped_output", None)
    if grouped:
        for part in grouped:
            for chunk in part:
                total += len(chunk)
                pieces += 1
    inputs = getattr(buffer, "_inputs", None)
    if inputs is not None:
        for chunk in inputs:
            total += len(chunk)
            pieces += 1
    table = getattr(buffer, "_table", None)
    if table is not None:
        for key, values in table.items():
            total += len(key) + sys.getsizeof(values) + sum(_size(v) for v in values)
            pieces += len(values)
    return total, pieces


def _pcoll_name(context: Any, buffer_id: bytes | str) -> str:
    text = buffer_id.decode("utf-8", "replace") if isinstance(buffer_id, bytes) else str(buffer_id)
    pcoll_id = text.split(":", 1)[-1]
    pcolls = context.pipeline_components.pcollections
    if pcoll_id in pcolls:
        return pcolls[pcoll_id].unique_name
    return text


def _input_name(context: Any, transform: str, what: str) -> str:
    buffer_id = context.input_transform_to_buffer_id.get(transform)
    return f"{what}: " + (_pcoll_name(context, buffer_id) if buffer_id is not None else transform)


def held(context: Any, bundle_input: Any = None) -> dict:
    """What the launcher holds now: ``{"collections": {name: [bytes, pieces]}, "state":
    {side input: [bytes, pieces]}}``; a buffer reachable twice is counted once."""
    seen: set[int] = set()
    collections: dict[str, list[int]] = {}

    def add(name: str, buffer: Any) -> None:
        if id(buffer) in seen:
            return
        seen.add(id(buffer))
        size, pieces = _buffer_bytes(buffer)
        if size:
            entry = collections.setdefault(name, [0, 0])
            entry[0] += size
            entry[1] += pieces

    for buffer_id, buffer in list(context.pcoll_buffers.items()):
        add(_pcoll_name(context, buffer_id), buffer)
    queues = context.queues
    for queue_name in ("ready_inputs", "watermark_pending_inputs", "time_pending_inputs"):
        queue = getattr(queues, queue_name, None)
        for item in list(getattr(queue, "_q", []) or []):
            data_input = item[1] if isinstance(item, tuple) else item
            for transform, buffer in getattr(data_input, "data", {}).items():
                add(_input_name(context, transform, "queued"), buffer)
    if bundle_input is not None:
        for transform, buffer in bundle_input.data.items():
            add(_input_name(context, transform, "this stage's input"), buffer)
    state: dict[str, list[int]] = {}
    servicer = context.worker_handler_manager.state_servicer
    from apache_beam.portability.api import beam_fn_api_pb2

    for raw_key, values in list(getattr(servicer, "_state", {}).items()):
        key = beam_fn_api_pb2.StateKey.FromString(raw_key)
        kind = key.WhichOneof("type")
        inner = getattr(key, kind)
        name = f"{kind}:{getattr(inner, 'transform_id', '')}:{getattr(inner, 'side_input_id', '')}"
        entry = state.setdefault(name, [0, 0])
        entry[0] += sum(len(v) for v in values)
        entry[1] += len(values)
    return {"collections": collections, "state": state}


def install(out: str) -> bool:
    """Record :func:`held` and the launcher's resident bytes before and after every bundle into ``out``."""
    try:
        import psutil
        from apache_beam.runners.portability.fn_api_runner import fn_runner
    except ImportError:
        return False
    me = psutil.Process()
    records: list[dict] = []
    original = fn_runner.FnApiRunner._execute_bundle

    def measured(self, context, manager, bundle_input, *args, **kwargs):
        record = {"stage": stage_label(manager.stage.name, most=4), "rss_before": me.memory_info().rss,
                  "before": held(context, bundle_input)}
        try:
            return original(self, context, manager, bundle_input, *args, **kwargs)
        finally:
            record["rss_after"] = me.memory_info().rss
            record["after"] = held(context)
            records.append(record)
            with open(out, "w", encoding="utf-8") as fh:
                json.dump(records, fh)

    fn_runner.FnApiRunner._execute_bundle = measured
    return True


def report(records: list[dict], most: int = 8) -> str:
    """A table: per stage, the launcher's RSS and the largest held collections and side inputs (MB)."""
    lines = []
    for rec in records:
        before = rec["before"]
        total = sum(v[0] for v in before["collections"].values()) + sum(v[0] for v in before["state"].values())
        lines.append(f"{rec['stage'][:90]}: rss {rec['rss_before'] / 2**20:.0f} -> {rec['rss_after'] / 2**20:.0f} MB,"
                     f" held {total / 2**20:.1f} MB")
        items = [(v[0], v[1], n) for n, v in before["collections"].items()]
        items += [(v[0], v[1], "state " + n) for n, v in before["state"].items()]
        for size, pieces, name in sorted(items, reverse=True)[:most]:
            lines.append(f"    {size / 2**20:9.1f} MB {pieces:9d}  {name[:100]}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", required=True)
    args, flags = parser.parse_known_args(argv)
    install(args.held_out)
    from pipeline import main as pipeline_entry

    code = pipeline_entry.main(flags)
    if os.path.exists(args.held_out):
        with open(args.held_out, encoding="utf-8") as fh:
            print(report(json.load(fh)), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
