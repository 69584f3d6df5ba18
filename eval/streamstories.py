"""Streaming stories against batch stories: do the two modes agree on membership?

The same articles, in publication order (undated ones in file order, after the
dated), are given to the batch method (:func:`transforms.stories.find.story_roots`,
all at once) and to the streaming method (:func:`transforms.stories.windows.stream_story_roots`,
window by window, with what earlier windows left in memory). Agreement is BCubed
F1 of the streaming stories against the batch ones; each mode's F1 against the
gold stories is printed beside it, and the bytes of state the stream ends with
per remembered article (every keyed state, encoded as Beam encodes it). Sets: the
ECB+ dev and test topics and the blind multilingual set
(``eval/data/stories_blind.jsonl``) dev and test splits; changes are judged on
the dev sets, test is reported as it comes.

Arrival order: ``file`` (default) gives undated articles in file order, which for
ECB+ interleaves the two look-alike events of a topic (``1_10ecb``, ``1_10ecbplus``,
``1_11ecb``, ...: events years apart in reality); ``event`` gives the undated
articles event by event (each gold event's articles together, in the order the
events first appear, file order within): how write-ups of events at different
times arrive. Dated articles come by date in both. Batch does not depend on the
order.

``python -m eval.streamstories [--window N ...] [--order file|event]`` (articles per window).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Sequence

from apache_beam.coders import PickleCoder

from eval.metrics import bcubed, table
from eval.stories import ECBPLUS, HERE, load_ecbplus
from transforms.stories.find import story_roots
from transforms.stories.params import StoryParams
from transforms.stories.windows import in_windows, pack_block, pack_held, pack_roots, stream_memory

BLIND = os.path.join(HERE, "data", "stories_blind.jsonl")
WINDOWS = (1, 10, 50)  # articles per window


def load_blind(path: str = BLIND, split: str | None = None) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [dict(r, gold=r["story"]) for r in map(json.loads, fh) if r and split in (None, r.get("split"))]


def state_bytes(blocks: dict, rooted: dict, store: dict, memories: list) -> dict[str, int]:
    """Bytes of each keyed state of :func:`stream_memory`, as the runner holds them
    (the coders of the composite's state specs: bytes for the blocks, pickle else)."""
    coder = PickleCoder()
    return {
        "block_ids": sum(len(pack_block(v)) for v in blocks.values()),
        "block_roots": sum(len(pack_roots(v)) for v in rooted.values()),
        "vectors": sum(len(coder.encode(pack_held(h))) for h in store.values()),
        "frequencies": sum(len(coder.encode(m)) for m in memories),
    }


def publication_order(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dated articles by ``published_at`` (then id), then the undated in the order given."""
    dated = sorted((r for r in rows if r.get("published_at")), key=lambda r: (r["published_at"], r["id"]))
    return dated + [r for r in rows if not r.get("published_at")]


def event_order(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`publication_order`, the undated articles event by event (``gold``, in the
    order the events first appear; the order given within an event)."""
    ordered = publication_order(rows)
    dated = [r for r in ordered if r.get("published_at")]
    undated = [r for r in ordered if not r.get("published_at")]
    first: dict[Any, int] = {}
    for at, row in enumerate(undated):
        first.setdefault(row["gold"], at)
    return dated + sorted(undated, key=lambda r: first[r["gold"]])


ORDERS = {"file": publication_order, "event": event_order}


def compare(rows: Sequence[dict[str, Any]], window: int, params: StoryParams, order: str = "file") -> dict[str, Any]:
    ordered = ORDERS[order](rows)
    batch = story_roots(ordered, params)
    started = time.process_time()
    stream, blocks, rooted, store, memories = stream_memory(in_windows(ordered, window), params)
    cpu = time.process_time() - started
    size = state_bytes(blocks, rooted, store, memories)
    gold = {r["id"]: r["gold"] for r in ordered}
    agreement = bcubed(batch, stream)
    return {
        "window": window,
        "agreement_p": agreement["precision"],
        "agreement_r": agreement["recall"],
        "agreement_f1": agreement["f1"],
        "batch_f1": bcubed(gold, batch)["f1"],
        "stream_f1": bcubed(gold, stream)["f1"],
        "batch_stories": len(set(batch.values())),
        "stream_stories": len(set(stream.values())),
        "cpu_ms_per_article": round(1000 * cpu / max(1, len(ordered)), 2),
        "state_bytes_per_article": round(sum(size.values()) / max(1, len(store))),
        **{f"{k}_bytes": round(v / max(1, len(store))) for k, v in size.items()},
    }


def evaluate_agreement(params: StoryParams | None = None, windows: Sequence[int] = WINDOWS,
                       order: str = "file", sets: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every set and window size; print a table; return its rows."""
    params = params or StoryParams()
    available = {
        "ecb_dev": (lambda: load_ecbplus("dev"), ECBPLUS),
        "blind_dev": (lambda: load_blind(split="dev"), BLIND),
        "ecb_test": (lambda: load_ecbplus("test"), ECBPLUS),
        "blind_test": (lambda: load_blind(split="test"), BLIND),
    }
    out = []
    for name, (load, path) in available.items():
        if sets and name not in sets:
            continue
        if not os.path.exists(path):
            out.append({"set": name, "note": f"missing: {path}"})
            continue
        rows = load()
        for window in windows:
            out.append({"set": name, "items": len(rows), "order": order, **compare(rows, window, params, order)})
    columns = ["set", "items", "order", "window", "agreement_p", "agreement_r", "agreement_f1", "batch_f1", "stream_f1",
               "batch_stories", "stream_stories", "cpu_ms_per_article", "state_bytes_per_article",
               "block_ids_bytes", "block_roots_bytes", "vectors_bytes", "frequencies_bytes"]
    print("streaming vs batch stories (BCubed of streaming against batch; window = articles per window)")
    print(table(out, columns))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=int, action="append", help="articles per window (repeatable)")
    parser.add_argument("--order", choices=sorted(ORDERS), default="file", help="arrival order of undated articles")
    parser.add_argument("--set", action="append", help="ecb_dev, blind_dev, ecb_test, blind_test (repeatable; default all)")
    args = parser.parse_args(argv)
    evaluate_agreement(windows=tuple(args.window or WINDOWS), order=args.order, sets=args.set)


if __name__ == "__main__":
    main()
