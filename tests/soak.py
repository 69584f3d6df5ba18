"""Soak test (``make soak``, not part of ``make test``): nothing lost, nothing doubled, nothing crashes.

For ``--minutes`` (``SOAK_MINUTES``, default 30):

- a streaming job (``--streaming``, 20 s windows) watches ``in_stream/``; one file is dropped there
  every second (atomic rename), good or bad at random (broken JSON, no text, empty, binary, NUL byte,
  lone surrogate escape, truncated gzip); it also polls (every 5 s) a feed served on 127.0.0.1 that
  gains an entry every 5 s (no ETag: every poll returns the last 60 entries, so each entry is seen by
  many polls and often by two jobs); every few minutes the job gets SIGTERM (it must drain and exit 0 within
  ``streaming.drain_seconds``) and is started again at once; some stops are forced (a second SIGTERM or
  a SIGKILL during the drain): the next job must read what was not committed and set aside the
  uncommitted windows' files. The stops are planned from the seed (:func:`stop_plan`): at least 3
  drains and 3 forced stops whatever the run's length;
- beside it, ``--incremental`` batch runs over ``in_batch/`` (a file every 3 s) are started one after
  the other; half of them are killed with SIGKILL at a random moment;
- at the end the drops stop, the streaming job commits everything and is stopped, one last batch run
  completes, and :func:`check_conservation` checks both output folders: every input line (or file) is
  in ``articles/`` exactly once or in ``dead_letter/``, every feed entry is in ``articles/`` exactly once,
  and nothing else is there;
- then ``python -m pipeline.verify`` (what ``make verify`` runs) checks each folder against its inputs:
  the batch output against ``in_batch/*``, the streaming output against ``in_stream/*`` and the feed's
  entries (``--feed-entries``, written to ``feed_entries.jsonl``): markers (the batch runs' ``_SUCCESS``,
  the streaming windows' commits), no leftovers, unique ids, conservation.

Exit status 0 when this script's own check and verify pass on both folders and every stop behaved.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Iterable

from tests.support import REPO

SENTENCES = (
    "Officials said the talks would resume next week in the capital.",
    "The storm flooded roads along the coast and cut power to thousands of homes.",
    "Energy prices rose after the pipeline was shut for repairs.",
    "Voters queued for hours as turnout passed the previous record.",
    "The central bank left interest rates unchanged for a third month.",
    "Rescue teams reached villages cut off by landslides overnight.",
    "Dock workers began a three-day strike over pay and shift rules.",
    "Ministers agreed a new package of sanctions on exported machinery.",
    "The parliament approved higher defense spending for next year.",
    "Hospitals in the region asked for more blood donors after the attack.",
)
# A drain writes whatever the job has not processed yet: on 2 busy cores the job can lag a minute behind
# the drops (a 5 s window took ~20 s at load 12; drains of 73-116 s at load 10-14 with the feed, and one
# over 180 s at load 14 after the job's first 2.4 min), so the soak allows far more than the default 30 s.
DRAIN_SECONDS = 300
MIN_UPTIME = 30.0  # a stop behind schedule waits until the restarted job has run this long
BAD_KINDS = ("broken_json", "no_text", "empty_file", "binary", "nul_byte", "lone_surrogate", "truncated_gzip")


# ----------------------------------------------------------------------------- inputs


def _article(rng: random.Random, serial: str) -> str:
    text = " ".join(rng.sample(SENTENCES, 4)) + f" Reference {serial}: " + " ".join(rng.sample(SENTENCES, 2))
    return json.dumps({"title": f"Report {serial}", "text": text, "url": f"https://soak.example/{serial}"})


def make_file(
    rng: random.Random, serial: int, bad_ratio: float, faults: tuple[str, ...] = BAD_KINDS
) -> tuple[str, bytes, list[int], str]:
    """``(file name, content, line numbers that are input articles, fault kind or "good")``.

    A file with no article line (empty, binary) counts as one input, line number 0."""
    n = rng.randint(1, 3)
    lines = [_article(rng, f"{serial}-{i}") for i in range(n)]
    kind = rng.choice(faults) if faults and rng.random() < bad_ratio else "good"
    name = f"f{serial:06d}.jsonl"
    if kind == "broken_json":
        lines.insert(rng.randint(0, n), '{"title": "cut", "text": "no end')
    elif kind == "no_text":
        lines.insert(rng.randint(0, n), json.dumps({"title": "only a title"}))
    elif kind == "lone_surrogate":
        lines.insert(rng.randint(0, n), '{"title": "half \\ud800 pair", "text": "' + " ".join(SENTENCES[:3]) + '"}')
    elif kind == "empty_file":
        return name, b"", [0], kind
    elif kind == "binary":
        return name, bytes(rng.randrange(256) for _ in range(600)) + b"\0\0\0", [0], kind
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if kind == "nul_byte":
        data = data.replace(b'"title": "Report', b'"title": "\0Report', 1)
    if kind == "truncated_gzip":
        packed = gzip.compress(data)
        return name + ".gz", packed[: len(packed) * 2 // 3], list(range(1, len(lines) + 1)), kind
    return name, data, list(range(1, len(lines) + 1)), kind


class Dropper(threading.Thread):
    """Drops a file into each folder every ``every[folder]`` seconds (faults from ``faults[folder]``);
    remembers what it dropped."""

    def __init__(
        self, folders: dict[str, float], rng: random.Random, bad_ratio: float, faults: dict[str, tuple[str, ...]]
    ) -> None:
        super().__init__(daemon=True)
        self.folders, self.rng, self.bad_ratio, self.faults = folders, rng, bad_ratio, faults
        self.expected: dict[str, dict[str, list[int]]] = {f: {} for f in folders}
        self.kinds: dict[str, collections.Counter] = {f: collections.Counter() for f in folders}
        self.halt = threading.Event()
        self.serial = 0

    def drop(self, folder: str) -> None:
        self.serial += 1
        name, data, units, kind = make_file(self.rng, self.serial, self.bad_ratio, self.faults[folder])
        staged = os.path.join(os.path.dirname(folder), ".staged-" + name)
        with open(staged, "wb") as fh:
            fh.write(data)
        os.rename(staged, os.path.join(folder, name))
        self.expected[folder][os.path.join(folder, name)] = units
        self.kinds[folder][kind] += 1

    def run(self) -> None:
        next_at = {f: time.time() for f in self.folders}
        while not self.halt.is_set():
            now = time.time()
            for folder, every in self.folders.items():
                if now >= next_at[folder]:
                    self.drop(folder)
                    next_at[folder] = now + every
            self.halt.wait(0.1)


class Feed(threading.Thread):
    """An RSS feed on 127.0.0.1 that gains an entry every ``every`` s and lists the last ``keep``
    (no validators: every poll gets the whole feed); remembers every entry's link."""

    def __init__(self, rng: random.Random, every: float = 5.0, keep: int = 60) -> None:
        super().__init__(daemon=True)
        from tests.support.httpserver import LocalHTTPServer, send

        self.rng, self.every, self.keep = rng, every, keep
        self.entries: list[tuple[str, str, str]] = []  # (link, title, text)
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.server = LocalHTTPServer().start()
        self.url = self.server.route("/feed.xml", lambda req: send(req, 200, self.body(), "application/rss+xml"))

    def body(self) -> bytes:
        from xml.sax.saxutils import escape

        with self.lock:
            shown = self.entries[-self.keep :]
        items = "".join(
            f"<item><title>{escape(title)}</title><link>{link}</link><guid>{link}</guid>"
            f"<description>{escape(text)}</description></item>"
            for link, title, text in reversed(shown)
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Soak feed</title>'
                f"<link>https://soak.example/</link>{items}</channel></rss>").encode()  # fmt: skip

    def run(self) -> None:
        while not self.halt.is_set():
            n = len(self.entries) + 1
            text = " ".join(self.rng.sample(SENTENCES, 4)) + f" Feed entry {n}. " + " ".join(self.rng.sample(SENTENCES, 2))
            with self.lock:
                self.entries.append((f"https://soak.example/feed/{n}", f"Feed report {n}", text))
            self.halt.wait(self.every)

    def links(self) -> list[str]:
        with self.lock:
            return [link for link, _, _ in self.entries]


def stop_plan(
    rng: random.Random, seconds: float, every: tuple[float, float], force_ratio: float, at_least: int = 3
) -> list[tuple[float, str]]:
    """``[(offset s, "drain" | "force"), ...]``: when the streaming job is stopped and how, drawn from
    ``rng`` alone (same seed, same plan). Offsets every ``every`` s (uniform), squeezed when needed
    so that at least ``at_least`` drains and ``at_least`` forced stops fit before the last 60 s."""
    usable = max(seconds - 60.0, 60.0)
    offsets, t = [], 0.0
    while True:
        t += rng.uniform(*every)
        if t >= usable:
            break
        offsets.append(t)
    if len(offsets) < 2 * at_least:
        step = usable / (2 * at_least + 1)
        offsets = [step * (i + 1) for i in range(2 * at_least)]
    n = len(offsets)
    forced = min(max(at_least, round(n * force_ratio)), n - at_least)
    kinds = ["force"] * forced + ["drain"] * (n - forced)
    rng.shuffle(kinds)
    return list(zip(offsets, kinds))


# ----------------------------------------------------------------------------- the check


def _records(folder: str) -> list[dict]:
    rows = []
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            if name.endswith((".jsonl", ".jsonl.gz")):
                opener = gzip.open if name.endswith(".gz") else open
                with opener(os.path.join(root, name), "rt", encoding="utf-8") as fh:
                    rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def check_conservation(expected: dict[str, list[int]], output: str, feed: str | None = None) -> dict:
    """Every input unit (``path#line N``, or the file for ``N == 0``) is in ``<output>/articles/``
    exactly once or in ``<output>/dead_letter/`` (a dead letter naming the line or the whole file);
    no article comes from anything else (but ``feed``, checked by :func:`check_feed`). Returns the
    figures and the offending units."""
    articles = [a for a in _records(os.path.join(output, "articles"))
                if not (feed and str(a.get("origin", "")).startswith(feed + "#"))]  # fmt: skip
    dead = _records(os.path.join(output, "dead_letter"))
    seen = collections.Counter(a.get("origin") for a in articles)
    dead_sources = {d.get("source") for d in dead}
    dead_files = {str(s).split("#", 1)[0] for s in dead_sources}  # files with any dead letter
    units = {f"{path}#line {n}" if n else path: path for path, lines in expected.items() for n in lines}

    def dead_lettered(unit: str, path: str) -> bool:
        # a line: its own dead letter or one for the whole file; a whole file (no article lines): any of its own
        return (path in dead_files) if unit == path else (unit in dead_sources or path in dead_sources)

    lost = [u for u, path in units.items() if not seen[u] and not dead_lettered(u, path)]
    doubled = sorted(o for o, c in seen.items() if c > 1)
    phantom = sorted(o for o in seen if o not in units)
    return {
        "units": len(units),
        "in_articles": sum(1 for u in units if seen[u]),
        "dead_letters": len(dead),
        "lost": sorted(lost),
        "doubled": doubled,
        "phantom": phantom,
        "ok": not (lost or doubled or phantom),
    }


def check_feed(links: list[str], feed: str, output: str) -> dict:
    """Every entry the feed served is in ``<output>/articles/`` exactly once (by its link)."""
    seen = collections.Counter(
        a.get("url") for a in _records(os.path.join(output, "articles")) if str(a.get("origin", "")).startswith(feed + "#")
    )
    lost = [link for link in links if not seen[link]]
    doubled = sorted(link for link, c in seen.items() if c > 1)
    phantom = sorted(link for link in seen if link not in set(links))
    return {"units": len(links), "in_articles": sum(1 for link in links if seen[link]), "dead_letters": 0,
            "lost": lost, "doubled": doubled, "phantom": phantom, "ok": not (lost or doubled or phantom)}  # fmt: skip


# ----------------------------------------------------------------------------- the jobs


def _start(args: list[str], log: str) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", *args], cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _tail(log: str, n: int = 6) -> str:
    with open(log, encoding="utf-8", errors="replace") as fh:
        return "".join(fh.readlines()[-n:])


class Streaming:
    def __init__(self, work: str, config: str, window: int, feed: str | None = None) -> None:
        self.args = [
            "--streaming", "--input", os.path.join(work, "in_stream", "*.jsonl"),
            "--input", os.path.join(work, "in_stream", "*.jsonl.gz"), "--output", os.path.join(work, "out_stream"),
            "--window-seconds", str(window), "--config", config,
        ] + (["--feed", feed, "--allow-private-networks"] if feed else [])  # fmt: skip
        self.log = os.path.join(work, "streaming.log")
        self.proc: subprocess.Popen | None = None
        self.drains: list[float] = []
        self.stops: list[str] = []  # "<minute> min <what happened> (1-minute load average)", in order
        self.t0 = time.time()  # the soak's start (the stops' minutes count from it)
        self.forced: collections.Counter = collections.Counter()
        self.failures: list[str] = []

    def _event(self, at: float, what: str) -> None:
        self.stops.append(f"{(at - self.t0) / 60:.1f} min {what} (load {os.getloadavg()[0]:.0f})")

    def start(self) -> None:
        self.proc = _start(self.args, self.log)

    def stop(self, timeout: float) -> None:
        assert self.proc is not None
        with open(self.log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            before = fh.tell()
        started = time.time()
        if self.proc.poll() is not None:
            self.failures.append(f"the job had ended by itself with status {self.proc.returncode}: {_tail(self.log)}")
            return self._event(started, "drain: FAILED, the job had ended")
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.failures.append(f"no exit within {timeout} s of SIGTERM")
            return self._event(started, f"drain: FAILED, no exit within {timeout} s")
        self.drains.append(time.time() - started)
        self._event(started, f"drain {self.drains[-1]:.1f} s -> {code}")
        self._check_said(before, code)

    def force(self, rng: random.Random) -> None:
        """Stop without a drain: SIGTERM then, 0-3 s into the drain, a second SIGTERM or SIGKILL."""
        assert self.proc is not None
        with open(self.log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            before = fh.tell()
        started = time.time()
        if self.proc.poll() is not None:
            self.failures.append(f"the job had ended by itself with status {self.proc.returncode}: {_tail(self.log)}")
            return self._event(started, "forced: FAILED, the job had ended")
        os.killpg(self.proc.pid, signal.SIGTERM)
        time.sleep(rng.uniform(0.5, 3.0))
        how = rng.choice((signal.SIGTERM, signal.SIGKILL))
        if self.proc.poll() is not None:  # it had drained already: not a forced stop
            self.forced[f"drained before the second signal -> {self.proc.returncode}"] += 1
            self._event(started, f"forced: drained before the second signal -> {self.proc.returncode}")
            return self._check_said(before, self.proc.returncode)
        os.killpg(self.proc.pid, how)
        code = self.proc.wait(30)
        self.forced[f"second SIGTERM -> {code}" if how == signal.SIGTERM else "SIGKILL"] += 1
        self._event(started, f"forced after {time.time() - started:.1f} s: " + (
            f"second SIGTERM -> {code}" if how == signal.SIGTERM else "SIGKILL"))  # fmt: skip
        if how == signal.SIGTERM:
            self._check_said(before, code, allowed=(0, 128 + signal.SIGTERM))

    def _check_said(self, before: int, code: int, allowed: tuple[int, ...] = (0,)) -> None:
        with open(self.log, "rb") as fh:
            fh.seek(before)
            said = fh.read().decode("utf-8", "replace")
        if code not in allowed or "Traceback" in said:
            self.failures.append(f"SIGTERM -> status {code}: {said[-600:]}")


class Batches(threading.Thread):
    """Incremental batch runs one after the other; about half killed with SIGKILL at random."""

    def __init__(self, work: str, config: str, rng: random.Random, kill_ratio: float) -> None:
        super().__init__(daemon=True)
        folder = os.path.join(work, "in_batch")
        self.args = [
            "--input", os.path.join(folder, "*.jsonl"), "--input", os.path.join(folder, "*.jsonl.gz"),
            "--output", os.path.join(work, "out_batch"), "--state", os.path.join(work, "state_batch"),
            "--incremental", "--config", config,
        ]  # fmt: skip
        self.log = os.path.join(work, "batch.log")
        self.rng, self.kill_ratio = rng, kill_ratio
        self.halt = threading.Event()
        self.killed = self.completed = 0
        self.failures: list[str] = []

    def run_once(self, kill_after: float | None) -> None:
        proc = _start(self.args, self.log)
        try:
            code = proc.wait(kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self.killed += 1
            return
        if code == 0:
            self.completed += 1
        else:
            self.failures.append(f"batch run -> status {code}: {_tail(self.log)}")

    def run(self) -> None:
        while not self.halt.is_set():
            kill = self.rng.random() < self.kill_ratio
            self.run_once(self.rng.uniform(1.0, 20.0) if kill else 600.0)
            self.halt.wait(self.rng.uniform(5.0, 20.0))


# ----------------------------------------------------------------------------- main


def run_verify(output: str, folder: str, config: str, feed_entries: str | None = None) -> tuple[int, list[str]]:
    """``python -m pipeline.verify`` on ``output`` against the files dropped into ``folder``
    (and the feed's entries): ``(exit status, its report lines)``."""
    args = [sys.executable, "-m", "pipeline.verify", "--output", output, "--config", config,
            "--input", os.path.join(folder, "*.jsonl"), "--input", os.path.join(folder, "*.jsonl.gz")]  # fmt: skip
    if feed_entries:
        args += ["--feed-entries", feed_entries]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    lines = [line.rstrip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines


def _write_config(work: str) -> str:
    path = os.path.join(work, "soak.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            f"version: 1\ntopics: {os.path.join(REPO, 'configs', 'topics.yaml')}\n"
            f"streaming:\n  poll_seconds: 1\n  feed_poll_seconds: 5\n  settle_seconds: 0.3\n"
            f"  drain_seconds: {DRAIN_SECONDS}\n"
        )
    return path


def _wait_committed(work: str, paths: Iterable[str], stalled: float, feed: "Feed | None" = None) -> bool:
    """Wait until the streaming job has committed every path (and written every feed entry), as long
    as it makes progress (a lagging job catches up on its backlog here); False after ``stalled`` s
    without progress."""
    from transforms.io.seen import read_seen, seen_folder

    wanted = set(paths)
    links = set(feed.links()) if feed else set()
    done, last_progress = 0, time.time()
    while time.time() - last_progress < stalled:
        committed = len(wanted & read_seen(seen_folder(os.path.join(work, "out_stream"))))
        if links:
            committed += len(links & {a.get("url") for a in _records(os.path.join(work, "out_stream", "articles"))})
        if committed == len(wanted) + len(links):
            return True
        if committed > done:
            done, last_progress = committed, time.time()
        time.sleep(2)
    return False


def soak(
    minutes: float,
    work: str,
    seed: int,
    bad_ratio: float,
    restart_range: tuple[float, float],
    window: int = 20,
    force_ratio: float = 0.25,
    stream_faults: tuple[str, ...] = BAD_KINDS,
    batch_faults: tuple[str, ...] = BAD_KINDS,
    with_feed: bool = True,
    stream_every: float = 1.0,
    feed_every: float = 5.0,
) -> int:
    rng = random.Random(seed)
    for sub in ("in_stream", "in_batch"):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
    config = _write_config(work)
    stream_in, batch_in = os.path.join(work, "in_stream"), os.path.join(work, "in_batch")
    dropper = Dropper(
        {stream_in: stream_every, batch_in: 3.0},
        random.Random(seed + 1),
        bad_ratio,
        {stream_in: stream_faults, batch_in: batch_faults},
    )
    feed = Feed(random.Random(seed + 3), every=feed_every) if with_feed else None
    streaming = Streaming(work, config, window=window, feed=feed.url if feed else None)
    batches = Batches(work, config, random.Random(seed + 2), kill_ratio=0.5)
    plan = stop_plan(rng, minutes * 60, restart_range, force_ratio)
    print(f"soak: stop plan (seed {seed}): " + ", ".join(f"{t / 60:.1f} min {kind}" for t, kind in plan), flush=True)
    started = streaming.t0 = time.time()
    end = started + minutes * 60
    streaming.start()
    dropper.start()
    batches.start()
    if feed:
        feed.start()
    restarted = started
    for restarts, (offset, kind) in enumerate(plan, 1):
        # on time, or (behind after long drains) once the restarted job has run a while: every stop happens
        time.sleep(max(0.0, started + offset - time.time(), restarted + MIN_UPTIME - time.time()))
        if kind == "force":
            streaming.force(rng)
            print(f"soak: {(time.time() - started) / 60:4.1f} min: stop #{restarts} forced "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(streaming.forced.items()))} so far); restarting",
                  flush=True)  # fmt: skip
        else:
            streaming.stop(timeout=DRAIN_SECONDS + 30)
            print(f"soak: {(time.time() - started) / 60:4.1f} min: SIGTERM #{restarts}, drained in "
                  f"{streaming.drains[-1] if streaming.drains else float('nan'):.1f} s; restarting", flush=True)  # fmt: skip
        streaming.start()
        restarted = time.time()
    time.sleep(max(0.0, end - time.time()))
    dropper.halt.set()
    dropper.join()
    if feed:
        feed.halt.set()
        feed.join()
    batches.halt.set()
    committed = _wait_committed(work, dropper.expected[stream_in], stalled=180, feed=feed)
    streaming.stop(timeout=DRAIN_SECONDS + 30)  # the final stop
    batches.join()
    batches.run_once(None)  # the last run completes: it reads whatever the killed runs left
    if feed:
        feed.server.stop()
    out_stream = os.path.join(work, "out_stream")
    stream_check = check_conservation(dropper.expected[stream_in], out_stream, feed.url if feed else None)
    batch_check = check_conservation(dropper.expected[batch_in], os.path.join(work, "out_batch"))
    feed_check = check_feed(feed.links(), feed.url, out_stream) if feed else None
    entries = None
    if feed:  # every entry the feed served, for verify --feed-entries
        entries = os.path.join(work, "feed_entries.jsonl")
        with open(entries, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"feed": feed.url, "link": link}) + "\n" for link in feed.links())
    verdicts = {
        "batch": run_verify(os.path.join(work, "out_batch"), batch_in, config),
        "streaming": run_verify(out_stream, stream_in, config, entries),
    }
    failures = streaming.failures + batches.failures + ([] if committed else ["streaming: not every file committed"])
    failures += [f"verify {name}: exit status {code}" for name, (code, _) in verdicts.items() if code]
    wall = (time.time() - started) / 60

    def line(name: str, check: dict, kinds: collections.Counter) -> str:
        files = sum(kinds.values())
        bad = files - kinds["good"]
        return (
            f"  {name:<9} {files} files ({kinds['good']} good, {bad} with faults: "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()) if k != "good")
            + f"), {check['units']} inputs -> {check['in_articles']} in articles, {check['dead_letters']} dead letters; "
            f"lost {len(check['lost'])}, doubled {len(check['doubled'])}, phantom {len(check['phantom'])}"
        )

    drains = streaming.drains
    print(f"soak: {minutes:g} min of drops ({wall:.1f} min in all), seed {seed}, a file every {stream_every:g} s "
          f"(streaming) and every 3 s (batch), work folder {work}, drain limit {DRAIN_SECONDS} s, load average "
          f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")  # fmt: skip
    print(line("streaming", stream_check, dropper.kinds[stream_in]))
    if feed_check:
        print(f"  feed      {feed_check['units']} entries (one every {feed.every:g} s, the last {feed.keep} listed, "
              f"{feed.server.hits('/feed.xml')} polls) -> {feed_check['in_articles']} in articles; lost "
              f"{len(feed_check['lost'])}, doubled {len(feed_check['doubled'])}, phantom {len(feed_check['phantom'])}")  # fmt: skip
    print(line("batch", batch_check, dropper.kinds[batch_in]))
    set_aside = sum(len(files) for _, _, files in os.walk(os.path.join(work, "out_stream", "_streaming", "uncommitted")))
    print(
        f"  faults:   {len(drains)} SIGTERM stops of the streaming job (drain {min(drains, default=0):.1f}-"
        f"{max(drains, default=0):.1f} s), {sum(streaming.forced.values())} forced stops ("
        + (", ".join(f"{k} {v}" for k, v in sorted(streaming.forced.items())) or "none")
        + f"; {set_aside} uncommitted window files set aside), {batches.killed} batch runs killed with SIGKILL, "
        f"{batches.completed} batch runs completed"
    )
    print(f"  stops:    {'; '.join(streaming.stops)} ({sum(d > 30 for d in drains)} drains over the default "
          f"streaming.drain_seconds of 30 s, {sum(d > DRAIN_SECONDS for d in drains)} over {DRAIN_SECONDS} s)")  # fmt: skip
    for name, (code, lines) in verdicts.items():
        print(f"  verify {name} (exit status {code}):\n" + "\n".join(f"    {text.strip()}" for text in lines[1:]))
    checks = [("streaming", stream_check), ("batch", batch_check)] + ([("feed", feed_check)] if feed_check else [])
    for name, check in checks:
        for what in ("lost", "doubled", "phantom"):
            if check[what]:
                print(f"  {name} {what}: {check[what][:5]}{' ...' if len(check[what]) > 5 else ''}")
    for failure in failures:
        print(f"  failure: {failure}")
    ok = all(check["ok"] for _, check in checks) and not failures
    print("soak: OK, nothing lost (own check and pipeline.verify on both folders)" if ok else "soak: FAILED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 30)))
    parser.add_argument("--dir", default=None, help="work folder (default: a new temporary one, kept)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", 18)),
                        help="all random choices (files, faults, stop plan, kills) follow from it (default 18)")  # fmt: skip
    parser.add_argument("--bad-ratio", type=float, default=0.3, help="share of files with a fault")
    parser.add_argument("--restart-every", type=float, nargs=2, default=(120.0, 240.0), metavar=("MIN", "MAX"),
                        help="seconds between SIGTERMs of the streaming job (uniform)")  # fmt: skip
    parser.add_argument("--window", type=int, default=20, help="--window-seconds of the streaming job")
    parser.add_argument("--no-feed", action="store_true", help="no feed beside the watched folder")
    parser.add_argument("--stream-every", type=float, default=float(os.environ.get("SOAK_STREAM_EVERY", 1.0)),
                        help="seconds between two files dropped into the watched folder (default 1; a job that "
                        "cannot keep up drains its whole backlog at every stop)")  # fmt: skip
    parser.add_argument("--feed-every", type=float, default=float(os.environ.get("SOAK_FEED_EVERY", 5.0)),
                        help="seconds between two new feed entries (default 5)")
    parser.add_argument("--force-ratio", type=float, default=0.25,
                        help="share of streaming stops made without a drain (a second SIGTERM or SIGKILL during it)")  # fmt: skip
    for which in ("stream", "batch"):
        parser.add_argument(f"--{which}-faults", default=",".join(BAD_KINDS),
                            help=f"comma-separated fault kinds dropped into the {which} folder (default: all: "
                            f"{', '.join(BAD_KINDS)})")  # fmt: skip
    args = parser.parse_args(argv)
    faults = {}
    for which in ("stream", "batch"):
        kinds = tuple(k for k in getattr(args, f"{which}_faults").split(",") if k)
        if set(kinds) - set(BAD_KINDS):
            parser.error(f"--{which}-faults: unknown kind(s) {', '.join(sorted(set(kinds) - set(BAD_KINDS)))}")
        faults[which] = kinds
    work = args.dir or tempfile.mkdtemp(prefix="newsbeam-soak-")
    if os.path.isdir(work) and os.listdir(work):
        parser.error(f"--dir {work} is not empty")
    return soak(
        args.minutes, work, args.seed, args.bad_ratio, tuple(args.restart_every), args.window, args.force_ratio,
        faults["stream"], faults["batch"], not args.no_feed, args.stream_every, args.feed_every,
    )


if __name__ == "__main__":
    sys.exit(main())
