"""Speed-ups that reach into Beam or CPython internals, each behind a switch, in one place.

newsbeam's results never depend on these: with every switch off (``--no-tuning``, or
``tuning:`` in the config) the pipeline is plain Beam and gives the same outputs, only
slower. What each one buys, measured, and when it can go: ``docs/performance.md#tuning``.

- ``run_length``: per-article steps handle elements in runs of this many
  (``transforms.common.stage.InRuns``); 1 is element by element. Plain Beam.
- ``local_runner_patches``: three patches of Beam's local runner (:mod:`.localrunner`), two
  caches of its graph building (:mod:`.beamgraph`) and six patches of its streaming
  runner (:mod:`.streamrunner`); only on the DirectRunner (batch or streaming) of the
  Beam versions in :data:`TESTED_BEAM`.
- ``heap``: malloc arena cap and periodic ``malloc_trim`` in the launcher and the
  workers, GC freeze after a worker has loaded its models (:mod:`.heap`); glibc only.
  On the streaming DirectRunner, where the launcher runs every step, the launcher's
  collector is a worker's (fewer collections from the start, one freeze).
- ``regex_cache``: compiled topic regexes kept on disk between processes
  (:mod:`.regexcache`); CPython versions in :data:`TESTED_PYTHON` only.

In the config each switch is ``auto`` (on where it was measured: the local DirectRunner
batch run, and for ``local_runner_patches`` and ``heap`` the streaming DirectRunner too; off on Dataflow
and every other runner), ``on`` or ``off``. The launcher
resolves them once (:func:`resolve`) and DoFns carry the result to their workers
(:func:`active` at construction, :func:`activate` in ``setup``).
"""

from __future__ import annotations

import dataclasses
import logging
import sys

_log = logging.getLogger(__name__)

TESTED_BEAM = ("2.77.0",)  # Beam versions the local-runner patches (batch and streaming) were written against
TESTED_PYTHON = ((3, 11), (3, 12), (3, 13))  # where the regex cache's internals were checked
SWITCH_VALUES = ("auto", "on", "off")
LOCAL_RUNNERS = ("directrunner", "direct", "switchingdirectrunner", "fnapirunner")


@dataclasses.dataclass(frozen=True)
class TuningConfig:
    """The ``tuning:`` section of the config, before it is resolved for a runner."""

    run_length: int = 1024
    local_runner_patches: str = "auto"
    heap: str = "auto"
    regex_cache: str = "auto"


@dataclasses.dataclass(frozen=True)
class Tuning:
    """Resolved switches: what this run does. ``Tuning()`` is what tests and tools get
    when nothing was resolved: runs and the regex cache, nothing process-wide."""

    run_length: int = 1024
    local_runner_patches: bool = False
    heap: bool = False
    regex_cache: bool = True
    launcher_is_worker: bool = False  # the streaming DirectRunner: the launching process runs every step


PLAIN = Tuning(run_length=1, local_runner_patches=False, heap=False, regex_cache=False)
_active = Tuning()


def active() -> Tuning:
    """The switches in force in this process."""
    return _active


def activate(tuning: Tuning) -> None:
    """Make ``tuning`` the switches of this process (a worker does this in ``setup``)."""
    global _active
    _active = tuning


def is_local_runner(runner: str | None, streaming: bool) -> bool:
    """The local batch runner the tuning was measured on (DirectRunner -> FnApiRunner)."""
    return not streaming and (runner or "DirectRunner").lower() in LOCAL_RUNNERS


def resolve(config: TuningConfig, runner: str | None, streaming: bool, beam_version: str) -> Tuning:
    """The switches for a run on ``runner``: ``auto`` becomes on only where it was measured."""
    local = is_local_runner(runner, streaming)
    direct = (runner or "DirectRunner").lower() in LOCAL_RUNNERS  # batch or streaming
    in_launcher = streaming and direct  # Beam's streaming DirectRunner: one process, the launcher's
    where = {
        "local_runner_patches": direct and beam_version in TESTED_BEAM,
        "heap": (local or in_launcher) and sys.platform.startswith("linux"),
        "regex_cache": local and sys.version_info[:2] in TESTED_PYTHON,
    }
    values = {}
    for name, fits in where.items():
        value = getattr(config, name)
        values[name] = fits if value == "auto" else value == "on"
        if value == "on" and name == "local_runner_patches" and not fits:
            _log.warning("tuning: local_runner_patches asked for, but the runner or Beam %s is not one they were tested on", beam_version)
            values[name] = False
    tuning = Tuning(run_length=config.run_length, launcher_is_worker=in_launcher, **values)
    _log.debug("tuning for runner %s (Beam %s): %s", runner or "DirectRunner", beam_version, tuning)
    return tuning


def apply_in_launcher(tuning: Tuning) -> None:
    """Switch on, in the launching process, what ``tuning`` asks for."""
    activate(tuning)
    if tuning.heap:
        from transforms.runtime import heap

        heap.limit_malloc_arenas()
        heap.start_heap_trimmer()  # the launcher holds the runner's buffers: its heap needs it most
        if tuning.launcher_is_worker:  # it runs the steps too: its collector as a worker's, from the start
            heap.quiet_collector()
    if tuning.local_runner_patches:
        from transforms.runtime import beamgraph, localrunner, streamrunner

        streamed = localrunner.stream_bundle_inputs()
        lean = localrunner.lean_state_responses()
        released = localrunner.release_side_inputs()
        signatures = beamgraph.cache_signatures()
        views = beamgraph.cache_option_views()
        copies = streamrunner.cheap_state_copies()
        timers = streamrunner.indexed_timers()
        pickles = streamrunner.pickle_dofns_once()
        tags = streamrunner.reuse_trigger_tags()
        bags = streamrunner.unencoded_bags()
        unmerged = streamrunner.unmerged_trigger_state()
        _log.debug(
            "local runner patches (Beam %s): bundle inputs streamed %s, lean state answers %s, "
            "side inputs released %s, signatures cached %s, option views cached %s; streaming: cheap state "
            "copies %s, indexed timers %s, DoFns pickled once %s, trigger tags reused %s, bag values kept %s, "
            "trigger state unmerged %s",
            TESTED_BEAM, streamed, lean, released, signatures, views, copies, timers, pickles, tags, bags, unmerged,
        )  # fmt: skip


def settle_worker(tuning: Tuning) -> None:
    """In a worker's DoFn ``setup``, after :func:`activate` and the models have loaded:
    settle the heap if asked (once per process where the launcher runs the steps: the
    streaming DirectRunner sets a step's DoFn up for every bundle)."""
    if tuning.heap:
        from transforms.runtime import heap

        if tuning.launcher_is_worker:
            heap.settle_heap_once()
        else:
            heap.settle_heap()
