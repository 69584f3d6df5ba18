"""Three patches of Beam's local runner (Beam 2.77's FnApiRunner, behind DirectRunner).

- :func:`stream_bundle_inputs`: the runner sends a bundle's whole input to a worker as
  one message (~200 MB per worker at 100,000 articles), copied several times, and the
  worker cannot start before the last byte. The patch sends the same elements, in the
  same order, in 10 MB chunks from a thread while the bundle runs.
- :func:`lean_state_responses`: side inputs reach workers as state answers that Beam
  builds by nesting protobuf messages, which copies them; the patch sets the fields in
  place (the same bytes; tests hold it to Beam's servicer).
- :func:`release_side_inputs`: the runner keeps every side input twice in the launcher
  (the collection's buffer and its copy in the state service) until the run ends; the
  patch drops the buffer once it is copied and the copy once its last reader has run.

Switched by ``tuning.local_runner_patches`` (:mod:`transforms.runtime`), applied only on
the local batch runner of :data:`transforms.runtime.TESTED_BEAM`; what they buy:
``docs/performance.md#tuning``. Each installer leaves Beam alone (and returns False)
when the method it replaces is not where it expects it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Iterator

from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.worker.data_plane import InMemoryDataChannel

_log = logging.getLogger(__name__)
_PATCHED_MARK = "_newsbeam_streams_inputs"
CHUNK_BYTES = 10 << 20  # the size at which a worker's own output streams flush


def _write_in_chunks(data_out, byte_streams, chunk_bytes: int) -> None:
    pending = 0
    for byte_stream in byte_streams or []:
        data_out.write(byte_stream)
        pending += len(byte_stream)
        if pending >= chunk_bytes:
            data_out.flush()
            pending = 0
    data_out.close()


def _stream_in_background(data_out, byte_streams, chunk_bytes: int) -> None:
    try:
        _write_in_chunks(data_out, byte_streams, chunk_bytes)
    except Exception:  # noqa: BLE001 - the stream stays open: the bundle fails or waits, it never gets half its input
        _log.exception("local runner: sending a bundle's input failed")


def _send_input_in_chunks(self, process_bundle_id: str, read_transform_id: str, byte_streams) -> None:
    """``BundleManager._send_input_to_worker``, streaming the input in chunks."""
    assert self._worker_handler is not None
    data_conn = self._worker_handler.data_conn
    data_out = data_conn.output_stream(process_bundle_id, read_transform_id)
    if isinstance(data_conn, InMemoryDataChannel):
        _write_in_chunks(data_out, byte_streams, CHUNK_BYTES)
        return
    threading.Thread(
        target=_stream_in_background,
        args=(data_out, byte_streams, CHUNK_BYTES),
        name=f"newsbeam-send-{process_bundle_id}-{read_transform_id}",
        daemon=True,
    ).start()


setattr(_send_input_in_chunks, _PATCHED_MARK, True)


def stream_bundle_inputs() -> bool:
    """Install :func:`_send_input_in_chunks` on the local runner's bundle manager
    (idempotent). Returns False, and leaves Beam alone, when the runner no longer
    has the method this replaces (another Beam version: check whether it still
    sends a bundle's input as one message before adapting this)."""
    try:
        from apache_beam.runners.portability.fn_api_runner import fn_runner
    except ImportError:  # pragma: no cover - Beam without the local runner
        return False
    manager = getattr(fn_runner, "BundleManager", None)
    current = getattr(manager, "_send_input_to_worker", None)
    if current is None:
        _log.warning("local runner: BundleManager._send_input_to_worker not found; bundle inputs not streamed")
        return False
    if not getattr(current, _PATCHED_MARK, False):
        manager._send_input_to_worker = _send_input_in_chunks
    return True


def _lean_state(self: Any, request_stream: Iterable[Any], context: Any = None) -> Iterator[Any]:
    """``GrpcStateServicer.State``, answering a ``get`` by setting the response's fields
    in place. Beam builds the answer as ``StateResponse(get=StateGetResponse(data=...))``,
    and the protobuf runtime copies a nested message given to a constructor by
    serialising and parsing it: three copies of the data instead of one. A side input
    is one ``get`` of all its elements (~140 MB for each worker reading story members
    at 100,000 articles): 0.28 s of the launcher's time each, 0.07 s now. The same
    responses, byte for byte; appends, clears and errors as Beam answers them."""
    state = self._state
    for request in request_stream:
        try:
            kind = request.WhichOneof("request")
            response = beam_fn_api_pb2.StateResponse(id=request.id)
            if kind == "get":
                data, token = state.get_raw(request.state_key, request.get.continuation_token)
                response.get.SetInParent()
                response.get.data = data
                if token is not None:
                    response.get.continuation_token = token
            elif kind == "append":
                state.append_raw(request.state_key, request.append.data)
                response.append.SetInParent()
            elif kind == "clear":
                state.clear(request.state_key)
                response.clear.SetInParent()
            else:
                raise ValueError(f"Unknown state request: {kind}")  # Beam words it so too
        except Exception as exn:  # noqa: BLE001 - reported to the worker, as Beam does
            response = beam_fn_api_pb2.StateResponse(id=request.id, error=str(exn))
        yield response


setattr(_lean_state, _PATCHED_MARK, True)


def lean_state_responses() -> bool:
    """Install :func:`_lean_state` on the local runner's state service (idempotent).
    Returns False, and leaves Beam alone, when the service is not where this expects
    it (another Beam version)."""
    try:
        from apache_beam.runners.portability.fn_api_runner import worker_handlers
    except ImportError:  # pragma: no cover - Beam without the local runner
        return False
    servicer = getattr(worker_handlers, "GrpcStateServicer", None)
    if servicer is None or not callable(getattr(servicer, "State", None)):
        _log.warning("local runner: GrpcStateServicer.State not found; state responses left as Beam builds them")
        return False
    if not getattr(servicer.State, _PATCHED_MARK, False):
        servicer.State = _lean_state
    return True


_SIDE_INPUT_STATES = ("iterable_side_input", "multimap_side_input", "multimap_keys_side_input",
                      "multimap_keys_values_side_input")


def _still_to_run(context: Any, stage_name: str) -> bool:
    """Whether ``stage_name`` has inputs queued (deferred work, timers, later data)."""
    queues = context.queues
    for queue in (queues.ready_inputs, queues.watermark_pending_inputs, queues.time_pending_inputs):
        for key in list(queue._keyed_elements):
            if key == stage_name or (isinstance(key, tuple) and key and key[0] == stage_name):
                return True
    return False


def release_after_stage(context: Any, stage: Any) -> None:
    """After ``stage`` ran: drop the buffers of the side inputs it produced (the runner
    has copied them into its state service; no stage reads them as data), and the state
    of the side inputs it read, unless it is queued to run again. Nothing is dropped
    under a test clock (TestStream: a stage runs again whenever the stream advances)."""
    from apache_beam.portability.api import beam_fn_api_pb2
    from apache_beam.runners.direct.clock import RealClock
    from apache_beam.runners.portability.fn_api_runner.translations import side_inputs

    if not isinstance(context.clock, RealClock):
        return
    consumers = context.buffer_id_to_consumer_pairs
    for buffer_id, _ in context.side_input_descriptors_by_stage.get(stage.name, {}).values():
        if buffer_id not in consumers:
            context.pcoll_buffers.pop(buffer_id, None)
    read = {(t.unique_name, tag) for t in stage.transforms for tag in side_inputs(t)}
    if not read or _still_to_run(context, stage.name):
        return
    servicer = context.worker_handler_manager.state_servicer
    with servicer._lock:
        state = servicer._state
        if not isinstance(state, dict):  # a bundle's copy-on-write overlay: not between stages
            return
        for raw_key in list(state):
            key = beam_fn_api_pb2.StateKey.FromString(raw_key)
            kind = key.WhichOneof("type")
            if kind in _SIDE_INPUT_STATES:
                inner = getattr(key, kind)
                if (inner.transform_id, inner.side_input_id) in read:
                    del state[raw_key]


def _releasing(execute_bundle):
    def execute_and_release(self, runner_execution_context, bundle_context_manager, *args, **kwargs):
        result = execute_bundle(self, runner_execution_context, bundle_context_manager, *args, **kwargs)
        release_after_stage(runner_execution_context, bundle_context_manager.stage)
        return result

    setattr(execute_and_release, _PATCHED_MARK, True)
    return execute_and_release


def release_side_inputs() -> bool:
    """Wrap the local runner's ``FnApiRunner._execute_bundle`` (one stage's run) with
    :func:`release_after_stage` (idempotent). Returns False, and leaves Beam alone, when
    the method or the runner's bookkeeping it reads is not where this expects it."""
    try:
        from apache_beam.runners.portability.fn_api_runner import execution, fn_runner, worker_handlers
    except ImportError:  # pragma: no cover - Beam without the local runner
        return False
    runner = getattr(fn_runner, "FnApiRunner", None)
    current = getattr(runner, "_execute_bundle", None)
    context = getattr(execution, "FnApiRunnerExecutionContext", None)
    servicer = getattr(worker_handlers, "StateServicer", None)
    if current is None or context is None or servicer is None or not hasattr(context, "commit_side_inputs_to_state"):
        _log.warning("local runner: FnApiRunner._execute_bundle not found; side inputs kept until the run ends")
        return False
    if not getattr(current, _PATCHED_MARK, False):
        runner._execute_bundle = _releasing(current)
    return True
