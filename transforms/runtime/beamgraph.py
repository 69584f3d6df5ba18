"""Two caches for the work Beam 2.77 repeats while it builds and runs a pipeline graph.

- :func:`cache_signatures`: Beam inspects the signature of every method of a DoFn each time
  it asks whether the DoFn keeps state (``userstate.get_dofn_specs``: ~30 methods, ~570 times
  while newsbeam's graph is built and translated, again for each of the local runner's ~40
  stages). ``core.get_function_args_defaults`` now remembers its answer per function (its
  code, defaults and keyword defaults unchanged; functions with ``__wrapped__`` or
  ``__signature__`` are asked every time).
- :func:`cache_option_views`: ``PipelineOptions.view_as(cls)`` builds an argparse parser of
  ``cls``'s options and parses the command line again (~700 times per run). The parsed values
  are kept per (class, flags) and each view gets a fresh copy of them, so views of one
  options object share its values as before and no two options objects share a mutable value.

Switched by ``tuning.local_runner_patches`` (in the launcher, :func:`transforms.runtime.apply_in_launcher`),
on the Beam versions of :data:`transforms.runtime.TESTED_BEAM`; what they buy:
``docs/performance.md``. Each installer leaves Beam alone (and returns False) when the
function it wraps is not where it expects it.
"""

from __future__ import annotations

import argparse
import copy
import logging
import types
from typing import Any, Callable

_log = logging.getLogger(__name__)
_PATCHED_MARK = "_newsbeam_cached"
_signatures: dict[tuple[bool, types.FunctionType], tuple[tuple, tuple[list, list]]] = {}
_views: dict[tuple[type, tuple[str, ...]], argparse.Namespace] = {}


def _stamp(func: types.FunctionType) -> tuple:
    return (func.__code__, func.__defaults__, func.__kwdefaults__)


def _cached_args_defaults(original: Callable) -> Callable:
    def get_function_args_defaults(f):
        bound = isinstance(f, types.MethodType)
        func = f.__func__ if bound else f
        if type(func) is not types.FunctionType or "__wrapped__" in func.__dict__ or "__signature__" in func.__dict__:
            return original(f)
        key = (bound, func)
        found = _signatures.get(key)
        stamp = _stamp(func)
        if found is None or any(a is not b for a, b in zip(found[0], stamp)):
            args, defaults = original(f)
            found = _signatures[key] = (stamp, (list(args), list(defaults)))
        args, defaults = found[1]
        return list(args), list(defaults)  # callers get lists of their own, as from Beam

    setattr(get_function_args_defaults, _PATCHED_MARK, True)
    get_function_args_defaults.__wrapped_beam__ = original  # type: ignore[attr-defined]
    return get_function_args_defaults


def cache_signatures() -> bool:
    """Install the cache on ``apache_beam.transforms.core.get_function_args_defaults``
    (idempotent); False, Beam left alone, when the function is not there."""
    from apache_beam.transforms import core

    current = getattr(core, "get_function_args_defaults", None)
    if not callable(current) or not callable(getattr(core, "get_function_arguments", None)):
        _log.warning("beam graph: core.get_function_args_defaults not found; signatures not cached")
        return False
    if not getattr(current, _PATCHED_MARK, False):
        core.get_function_args_defaults = _cached_args_defaults(current)
    return True


def _fresh(value: Any) -> Any:
    """A container copied (a view may append to a list, as ``add_experiment`` does); any other
    value as parsed (sentinels and value providers keep their identity)."""
    return copy.deepcopy(value) if isinstance(value, (list, dict, set)) else value


def _plain_view_class(cls: type, base: type) -> bool:
    """True when ``cls(flags)`` is Beam's own initializer: nothing in its MRO above
    ``PipelineOptions`` defines ``__init__`` or ``__new__``."""
    if not isinstance(cls, type) or not issubclass(cls, base):
        return False
    for klass in cls.__mro__:
        if klass is base:
            return True
        if "__init__" in klass.__dict__ or "__new__" in klass.__dict__:
            return False
    return False


def _cached_view_as(original: Callable, base: type) -> Callable:
    def view_as(self, cls):
        flags = self.__dict__.get("_flags")
        if flags is None or not all(isinstance(f, str) for f in flags) or not _plain_view_class(cls, base):
            return original(self, cls)
        key = (cls, tuple(flags))
        parsed = _views.get(key)
        if parsed is None:
            view = original(self, cls)
            _views[key] = argparse.Namespace(**{k: _fresh(v) for k, v in vars(view._visible_options).items()})
            return view
        view = object.__new__(cls)
        view._flags = flags
        view._visible_options = argparse.Namespace(**{k: _fresh(v) for k, v in vars(parsed).items()})
        for name in view._visible_option_list():  # as Beam's view_as: the first view's value stays
            if name not in self._all_options:
                self._all_options[name] = getattr(view._visible_options, name)
        view._all_options = self._all_options
        return view

    setattr(view_as, _PATCHED_MARK, True)
    view_as.__wrapped_beam__ = original  # type: ignore[attr-defined]
    return view_as


def cache_option_views() -> bool:
    """Install the cache on ``PipelineOptions.view_as`` (idempotent); False, Beam left
    alone, when the options class does not look as this expects."""
    from apache_beam.options.pipeline_options import PipelineOptions

    current = PipelineOptions.__dict__.get("view_as")
    if not callable(current) or not callable(PipelineOptions.__dict__.get("_visible_option_list")):
        _log.warning("beam graph: PipelineOptions.view_as not found; option views not cached")
        return False
    if not getattr(current, _PATCHED_MARK, False):
        PipelineOptions.view_as = _cached_view_as(current, PipelineOptions)
    return True
