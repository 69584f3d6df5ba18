"""Redaction of credentials in the logs of Beam worker processes.

The launcher puts :class:`~transforms.common.redact.RedactingFilter` on its own log
handlers; a worker process (``--direct_running_mode multi_processing``, Dataflow,
Flink) has its own handlers, set up by Beam's ``sdk_worker_main`` (the one that
sends records to the runner or to Cloud Logging). Each worker imports the modules
named by ``--beam_plugins`` after those handlers exist; :func:`with_worker_redaction`
adds this module there (the DataflowRunner also adds every ``BeamPlugin`` subclass
itself), and importing it puts the filter on them: a worker's records leave the
worker redacted. DoFns that handle URLs also call :func:`install_redaction` in
``setup`` (idempotent).
"""

from __future__ import annotations

import logging

from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions
from apache_beam.utils.plugin import BeamPlugin

from transforms.common.redact import RedactingFilter

__all__ = ["PLUGIN", "RedactWorkerLogs", "install_redaction", "with_worker_redaction"]

PLUGIN = __name__  # what --beam_plugins names: the module itself


def install_redaction(logger: logging.Logger | None = None) -> int:
    """Put one :class:`RedactingFilter` on every handler of ``logger`` (the root logger)
    that has none yet; return how many handlers got one."""
    added = 0
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
            added += 1
    return added


def with_worker_redaction(options: PipelineOptions) -> PipelineOptions:
    """``options`` with this module in ``--beam_plugins`` (once), so every worker imports it."""
    setup = options.view_as(SetupOptions)
    plugins = list(setup.beam_plugins or [])
    if PLUGIN not in plugins:
        setup.beam_plugins = plugins + [PLUGIN]
    return options


class RedactWorkerLogs(BeamPlugin):
    """Registered by being imported in the launcher; Beam imports this module in every worker."""


install_redaction()  # in a worker: Beam's handlers exist when the plugin is imported
