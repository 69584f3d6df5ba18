"""A workaround for the local runner (Beam 2.77's FnApiRunner, behind DirectRunner).

The local runner keeps every materialised collection in the launcher process and
sends each bundle its share with ``BundleManager._send_input_to_worker``: it writes
the whole share into one data stream and flushes only when it closes the stream.
A bundle's input therefore travels as a single ``Elements.Data`` message, e.g.
~200 MB of articles for each of the two workers of a 100,000-article run. On
the way the launcher copies it three times (the stream's buffer, the protobuf,
gRPC's serialisation), the worker holds it twice (the message and the bytes taken
out of it), and the worker cannot start on the first element until the last
byte has arrived, so sending and processing never overlap.

:func:`stream_bundle_inputs` makes that method flush whenever the stream's
buffer passes its size threshold (10 MB), between two of the chunks it writes.
Each chunk holds whole encoded elements (what a worker flushed, or one grouped
partition), so the worker reads the same elements in the same order, only in
several messages, as it does with the output of every other step.
"""

from __future__ import annotations

import logging

_log = logging.getLogger(__name__)
_PATCHED_MARK = "_newsbeam_streams_inputs"


def _send_input_in_chunks(self, process_bundle_id: str, read_transform_id: str, byte_streams) -> None:
    """``BundleManager._send_input_to_worker``, flushing the stream as it fills."""
    assert self._worker_handler is not None
    data_out = self._worker_handler.data_conn.output_stream(process_bundle_id, read_transform_id)
    maybe_flush = getattr(data_out, "maybe_flush", None)  # size-buffered streams only
    for byte_stream in byte_streams or []:
        data_out.write(byte_stream)
        if maybe_flush is not None:
            maybe_flush()
    data_out.close()


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
