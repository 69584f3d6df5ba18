"""Six patches of Beam's streaming DirectRunner (Beam 2.77's ``BundleBasedDirectRunner``).

The streaming story steps (:mod:`transforms.stories.streaming`) keep keyed state and
event-time timers for every article id and block key; this runner pays for each key
in ways that grow with the number of keys, not with the work:

- :func:`cheap_state_copies`: every state access and timer firing of a key copies the
  key's state (``DirectStepContext.get_keyed_state`` -> ``InMemoryUnmergedState.copy``),
  and the copy deep-copies the key's timers and global state. Timers are immutable
  timestamps under tuple keys, so the patch copies the dicts only; a grouping's
  ``{window: [window id]}`` global state is copied list by list (windows are immutable;
  other global state containers are still deep-copied; state lists are copied as before).
- :func:`indexed_timers`: the runner's monitor looks for fired timers, on every turn of
  its loop, by asking every key of every stateful step for its timers
  (``_TransformWatermarks.extract_transform_timers``): O(all keys ever seen) a turn. The
  patch keeps, per step, the earliest event-time timer of each key as the runner commits
  its state, and asks only the keys whose earliest timer is due (and those with
  processing-time timers): the same firings, in the same order. It also hands a timer
  out once until the runner reports its bundle done (``update_timers``): Beam's monitor
  extracts on every turn, also timers whose bundle is not committed yet, and so fired
  timers twice (every ``ScoreStoryBlocks`` expiry timer of the story bench; the second
  firing found the state cleared). Tested on Beam 2.77.0.
- :func:`pickle_dofns_once`: each bundle of a ``ParDo`` gets a fresh DoFn by pickling
  and unpickling the step's DoFn (``pickler.roundtrip``); the patch pickles it once and
  unpickles per bundle (a fresh instance each bundle, as before).
- :func:`reuse_trigger_tags`: a grouping's trigger driver reads and writes its counters
  through ``_CombiningValueStateTag.without_extraction()``, which defines a new
  ``CombineFn`` class on every call (several per key and firing); the patch keeps the
  one it made per tag (the same tag name and the same combine functions).
- :func:`unencoded_bags`: a bag state with a ``PickleCoder`` holds the values added as
  the objects themselves, not pickled on add and unpickled on every read (the story
  joins' parts; ninth round).
- :func:`unmerged_trigger_state`: a grouping's trigger driver keeps its state under
  the windows themselves, not through a window -> id map, where windows never merge
  and panes discard (Beam's own unmerged mode; ninth round).

Switched by ``tuning.local_runner_patches`` (:mod:`transforms.runtime`), on the Beam
versions of :data:`transforms.runtime.TESTED_BEAM`; what they buy:
``docs/performance.md``. Each installer leaves Beam alone (and returns False) when
what it replaces is not where it expects it.
"""

from __future__ import annotations

import copy
import functools
import heapq
import itertools
import logging
import threading
from typing import Any

_log = logging.getLogger(__name__)
_PATCHED_MARK = "_newsbeam_streaming"
_originals: list[tuple[Any, str, Any]] = []  # (owner, attribute, Beam's value): what restore() puts back


def _replace(owner: Any, name: str, value: Any) -> None:
    _originals.append((owner, name, getattr(owner, name)))
    setattr(owner, name, value)


def restore() -> None:
    """Put back what the installers replaced (tests run plain Beam after patched runs)."""
    while _originals:
        owner, name, value = _originals.pop()
        if value is None:
            delattr(owner, name)
        else:
            setattr(owner, name, value)


# --------------------------------------------------------------------------- state copies


def _copy_state(self: Any) -> Any:
    """``InMemoryUnmergedState.copy`` without deep copies of timers: the same contents."""
    cloned = type(self)()
    cloned.defensive_copy = self.defensive_copy
    timers = cloned.timers
    for window, named in self.timers.items():
        timers[window] = dict(named)
    cloned.global_state = {
        tag: _copy_global(value) if isinstance(value, (dict, list, set)) else value
        for tag, value in self.global_state.items()
    }
    for window, tags in self.state.items():
        into = cloned.state[window]
        for tag, values in tags.items():
            into[tag] = copy.copy(values)
    return cloned


setattr(_copy_state, _PATCHED_MARK, True)


@functools.cache
def _window_types() -> tuple[type, ...]:
    """Beam's window classes (immutable: nothing changes a window once made)."""
    from apache_beam.transforms import window

    return tuple(t for t in (getattr(window, "IntervalWindow", None), getattr(window, "GlobalWindow", None))
                 if isinstance(t, type))


def _copy_global(value: Any) -> Any:
    """A deep copy of a global state container. A grouping's trigger driver keeps one
    per key, ``{window: [window id, ...]}`` (``MergeableStateAdapter.WINDOW_IDS``): the
    windows are immutable and the ids ints, so copying the lists is a deep copy (ninth
    round: ``copy.deepcopy`` rebuilt each window object, ~40 % of a timer firing).
    Anything else goes to ``copy.deepcopy``."""
    windows = _window_types()
    if type(value) is dict and all(
        type(window) in windows and type(ids) is list and all(type(i) is int for i in ids)
        for window, ids in value.items()
    ):
        return {window: list(ids) for window, ids in value.items()}
    return copy.deepcopy(value)


def cheap_state_copies() -> bool:
    """Install :func:`_copy_state` on the runner's ``DirectUnmergedState`` (its own
    subclass of ``InMemoryUnmergedState``; batch users of that class are untouched)."""
    try:
        from apache_beam.runners.direct import evaluation_context
    except ImportError:  # pragma: no cover - Beam without the direct runner
        return False
    cls = getattr(evaluation_context, "DirectUnmergedState", None)
    probe = cls() if isinstance(cls, type) else None
    if probe is None or not all(hasattr(probe, a) for a in ("timers", "state", "global_state", "defensive_copy")):
        _log.warning("streaming runner: DirectUnmergedState not as expected; state copies left to Beam")
        return False
    if not getattr(cls.__dict__.get("copy"), _PATCHED_MARK, False):
        if "copy" in cls.__dict__:
            _replace(cls, "copy", _copy_state)
        else:  # inherited: restore() deletes it again
            cls.copy = _copy_state
            _originals.append((cls, "copy", None))
    return True


# --------------------------------------------------------------------------- timer index


def _earliest_event_timer(state: Any) -> tuple[Any, bool]:
    """The earliest event-time timer of a key's state (None: none) and whether it has a
    processing-time timer."""
    from apache_beam.transforms.timeutil import TimeDomain

    earliest, realtime = None, False
    for timers in state.timers.values():
        for (_, domain, _), timestamp in timers.items():
            if domain == TimeDomain.WATERMARK:
                if earliest is None or timestamp < earliest:
                    earliest = timestamp
            else:
                realtime = True
    return earliest, realtime


class TimerIndexedStates(dict):
    """A step's keyed states (``{encoded key: state}``) that know which keys have timers:
    ``due(watermark)`` gives the keys whose earliest event-time timer is at or before
    ``watermark`` plus those with processing-time timers, in the dict's own order. The
    runner replaces a key's state whole when it commits a bundle (``states[key] = new``),
    which is when the index is updated; a state changed in place would not be seen, and
    the runner changes none (it works on copies)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._order: dict[Any, int] = {}
        self._counter = itertools.count()
        self._earliest: dict[Any, Any] = {}
        self._heap: list[tuple[Any, int, int, Any]] = []  # (earliest timer, key order, tie, key)
        self._realtime: set = set()
        self._index_lock = threading.Lock()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: Any, state: Any) -> None:
        earliest, realtime = _earliest_event_timer(state)
        with self._index_lock:
            if key not in self._order:
                self._order[key] = next(self._counter)
            dict.__setitem__(self, key, state)
            if realtime:
                self._realtime.add(key)
            else:
                self._realtime.discard(key)
            if earliest is None:
                self._earliest.pop(key, None)
            elif self._earliest.get(key) != earliest:
                self._earliest[key] = earliest
                heapq.heappush(self._heap, (earliest, self._order[key], next(self._counter), key))

    def __delitem__(self, key: Any) -> None:
        with self._index_lock:
            dict.__delitem__(self, key)
            self._order.pop(key, None)
            self._earliest.pop(key, None)
            self._realtime.discard(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def due(self, watermark: Any) -> list[Any]:
        with self._index_lock:
            found: dict[Any, Any] = {}
            heap = self._heap
            while heap and heap[0][0] <= watermark:
                entry = heapq.heappop(heap)
                timestamp, key = entry[0], entry[3]
                if self._earliest.get(key) == timestamp and key not in found:
                    found[key] = entry  # still its earliest: stays until a commit changes it
            for entry in found.values():
                heapq.heappush(heap, entry)
            keys = set(found) | self._realtime
            return sorted(keys, key=self._order.__getitem__)


def _extract_due_timers(self: Any) -> tuple[list, bool]:
    """``_TransformWatermarks.extract_transform_timers`` over the keys that may have a
    fired timer (:meth:`TimerIndexedStates.due`); the same firings, in the same order."""
    from apache_beam.runners.direct.util import TimerFiring

    states = self._keyed_states
    if not isinstance(states, TimerIndexedStates):
        return _extract_due_timers.__wrapped_beam__(self)  # type: ignore[attr-defined]
    with self._lock:
        fired_timers = []
        has_realtime_timer = False
        in_flight = self.__dict__.setdefault(_IN_FLIGHT, set())
        for encoded_key in states.due(self._input_watermark):
            timers, had_realtime_timer = states[encoded_key].get_timers(
                watermark=self._input_watermark, processing_time=self._clock.time())
            has_realtime_timer = has_realtime_timer or had_realtime_timer
            for window, (name, time_domain, timestamp, dynamic_timer_tag) in timers:
                fields = (encoded_key, window, name, time_domain, timestamp, dynamic_timer_tag)
                if fields in in_flight:
                    continue  # handed out already, its bundle not committed yet: Beam would fire it again
                in_flight.add(fields)
                fired_timers.append(TimerFiring(encoded_key, window, name, time_domain, timestamp,
                                                dynamic_timer_tag=dynamic_timer_tag))
        self._fired_timers.update(fired_timers)
        return fired_timers, has_realtime_timer


_IN_FLIGHT = "_newsbeam_timers_in_flight"


def _firing_fields(firing: Any) -> tuple:
    return (firing.encoded_key, firing.window, firing.name, firing.time_domain, firing.timestamp,
            firing.dynamic_timer_tag)


def _completed_timers_done(original: Any) -> Any:
    def update_timers(self, completed_timers):
        in_flight = self.__dict__.get(_IN_FLIGHT)
        if in_flight:
            with self._lock:
                for firing in completed_timers:
                    in_flight.discard(_firing_fields(firing))
        return original(self, completed_timers)

    setattr(update_timers, _PATCHED_MARK, True)
    return update_timers


setattr(_extract_due_timers, _PATCHED_MARK, True)


def _indexed_keyed_states(original: Any) -> Any:
    def _initialize_keyed_states(self, root_transforms, value_to_consumers):
        return {transform: TimerIndexedStates(states)
                for transform, states in original(self, root_transforms, value_to_consumers).items()}

    setattr(_initialize_keyed_states, _PATCHED_MARK, True)
    return _initialize_keyed_states


def indexed_timers() -> bool:
    """Install :class:`TimerIndexedStates` as the runner's keyed-state dicts and
    :func:`_extract_due_timers` as its timer extraction (idempotent)."""
    try:
        from apache_beam.runners.direct import evaluation_context, util, watermark_manager
    except ImportError:  # pragma: no cover - Beam without the direct runner
        return False
    context = getattr(evaluation_context, "EvaluationContext", None)
    watermarks = getattr(watermark_manager, "_TransformWatermarks", None)
    init = getattr(context, "_initialize_keyed_states", None)
    extract = getattr(watermarks, "extract_transform_timers", None)
    if not (callable(init) and callable(extract) and hasattr(util, "TimerFiring")):
        _log.warning("streaming runner: keyed states or timer extraction not found; timers scanned as Beam does")
        return False
    update = getattr(watermarks, "update_timers", None)
    if not callable(update):
        _log.warning("streaming runner: _TransformWatermarks.update_timers not found; timers scanned as Beam does")
        return False
    if not getattr(extract, _PATCHED_MARK, False):
        _extract_due_timers.__wrapped_beam__ = extract  # type: ignore[attr-defined]
        _replace(watermarks, "extract_transform_timers", _extract_due_timers)
    if not getattr(update, _PATCHED_MARK, False):
        _replace(watermarks, "update_timers", _completed_timers_done(update))
    if not getattr(init, _PATCHED_MARK, False):
        _replace(context, "_initialize_keyed_states", _indexed_keyed_states(init))
    return True


# --------------------------------------------------------------------------- DoFn pickling


class _PickleOnce:
    """Stands in for ``apache_beam.internal.pickler`` in the runner's evaluators:
    ``roundtrip(obj)`` pickles ``obj`` the first time (with the pickle library Beam has
    chosen, as Beam's ``roundtrip`` does) and unpickles those bytes every time (the
    DoFn a step holds does not change once the pipeline runs); everything else is the
    real pickler's."""

    def __init__(self, pickler: Any) -> None:
        self._pickler = pickler
        self._pickled: dict[tuple[int, Any], tuple[Any, bytes]] = {}
        self._lock = threading.Lock()
        setattr(self, _PATCHED_MARK, True)

    def roundtrip(self, obj: Any) -> Any:
        lib = self._pickler.desired_pickle_lib
        key = (id(obj), lib)
        with self._lock:
            found = self._pickled.get(key)
            if found is None or found[0] is not obj:
                found = self._pickled[key] = (obj, lib._dumps(obj))  # holds obj: its id stays its own
        return lib._loads(found[1])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pickler, name)


def pickle_dofns_once() -> bool:
    """Install :class:`_PickleOnce` as the pickler of the runner's transform evaluators."""
    try:
        from apache_beam.runners.direct import transform_evaluator
    except ImportError:  # pragma: no cover - Beam without the direct runner
        return False
    current = getattr(transform_evaluator, "pickler", None)
    lib = getattr(current, "desired_pickle_lib", None)
    if not (callable(getattr(current, "roundtrip", None)) and callable(getattr(lib, "_dumps", None))
            and callable(getattr(lib, "_loads", None))):
        _log.warning("streaming runner: transform_evaluator.pickler not found; DoFns pickled per bundle")
        return False
    if not getattr(current, _PATCHED_MARK, False):
        _replace(transform_evaluator, "pickler", _PickleOnce(current))
    return True


# --------------------------------------------------------------------------- trigger state tags

_NO_EXTRACTION = "_newsbeam_without_extraction"


def _reused_without_extraction(original: Any) -> Any:
    def without_extraction(self):
        made = self.__dict__.get(_NO_EXTRACTION)
        if made is None:
            made = original(self)
            self.__dict__[_NO_EXTRACTION] = made  # a tag's name and combine function never change
        return made

    setattr(without_extraction, _PATCHED_MARK, True)
    without_extraction.__wrapped_beam__ = original  # type: ignore[attr-defined]
    return without_extraction


def reuse_trigger_tags() -> bool:
    """Install :func:`_reused_without_extraction` on Beam's ``_CombiningValueStateTag`` (idempotent)."""
    from apache_beam.transforms import trigger

    tag = getattr(trigger, "_CombiningValueStateTag", None)
    current = getattr(tag, "without_extraction", None)
    if not callable(current):
        _log.warning("streaming runner: _CombiningValueStateTag.without_extraction not found; tags made per call")
        return False
    if not getattr(current, _PATCHED_MARK, False):
        _replace(tag, "without_extraction", _reused_without_extraction(current))
    return True


# --------------------------------------------------------------------------- bag values kept


class _Kept:
    """A bag value the runner holds as the object itself (:func:`unencoded_bags`)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _bag_encode(original: Any) -> Any:
    def _encode(self, value):
        from apache_beam.coders import PickleCoder

        if type(self._state_spec.coder) is PickleCoder:
            return _Kept(value)
        return original(self, value)

    setattr(_encode, _PATCHED_MARK, True)
    return _encode


def _bag_decode(original: Any) -> Any:
    def _decode(self, value):
        return value.value if type(value) is _Kept else original(self, value)

    setattr(_decode, _PATCHED_MARK, True)
    return _decode


def unencoded_bags() -> bool:
    """The runner's bag states with a ``PickleCoder`` hold the values added as the
    objects themselves: Beam's in-memory runner pickles a value when it is added and
    unpickles it at each read, a deep copy of something no step changes (what a step
    adds to a bag is its input, or made for the bag; the runner hands elements from
    step to step by reference all the same). The story joins (``JoinParts``) hold a
    window's feature payloads, frequency answers and articles so (ninth round: the
    pickling was ~12 % of the runner thread at 10,000 articles in one window). Only
    bags: a read-modify-write value is read, changed in place and written back
    (``CountFrequencies``), where the copy matters."""
    try:
        from apache_beam.runners.direct import direct_userstate
    except ImportError:  # pragma: no cover - Beam without the direct runner
        return False
    cls = getattr(direct_userstate, "BagRuntimeState", None)
    if not (isinstance(cls, type) and callable(getattr(cls, "_encode", None))
            and callable(getattr(cls, "_decode", None))):
        _log.warning("streaming runner: BagRuntimeState not as expected; bag values pickled as Beam does")
        return False
    for name, make in (("_encode", _bag_encode), ("_decode", _bag_decode)):
        current = getattr(cls, name)
        if getattr(current, _PATCHED_MARK, False):
            continue
        if name in cls.__dict__:
            _replace(cls, name, make(current))
        else:  # inherited from DirectRuntimeState: restore() deletes it again
            setattr(cls, name, make(current))
            _originals.append((cls, name, None))
    return True


# --------------------------------------------------------------------------- trigger state unmerged


def _unmerged_driver(original: Any) -> Any:
    def __init__(self, windowing, clock):
        original(self, windowing, clock)
        from apache_beam.transforms.trigger import AccumulationMode

        if not windowing.windowfn.is_merging() and self.accumulation_mode == AccumulationMode.DISCARDING:
            self.is_merging = False  # state under the windows themselves: no MergeableStateAdapter

    setattr(__init__, _PATCHED_MARK, True)
    __init__.__wrapped_beam__ = original  # type: ignore[attr-defined]
    return __init__


def unmerged_trigger_state() -> bool:
    """A grouping's trigger driver (``GeneralTriggerDriver``, every streaming grouping)
    keeps its state through a ``MergeableStateAdapter`` whatever the windows, so each
    read and write of a key's elements, counters and watermark hold goes through a
    window -> window id map kept in the key's global state (read, copied with the
    state, written back). Beam's driver has a mode without it (``is_merging = False``:
    the state under the windows themselves, which ``InMemoryUnmergedState`` takes);
    the patch turns it on for windows that never merge (fixed, sliding, global) and
    discarding panes: the same panes, values, timestamps and pane infos. (With
    accumulating panes Beam's unmerged mode would hand out the live element list of a
    pane that keeps growing; those keep the adapter.)"""
    from apache_beam.transforms import trigger

    driver = getattr(trigger, "GeneralTriggerDriver", None)
    init = getattr(driver, "__init__", None)
    if not (isinstance(driver, type) and callable(init) and hasattr(trigger, "MergeableStateAdapter")):
        _log.warning("streaming runner: GeneralTriggerDriver not found; trigger state kept by window id")
        return False
    if not getattr(init, _PATCHED_MARK, False):
        _replace(driver, "__init__", _unmerged_driver(init))
    return True
