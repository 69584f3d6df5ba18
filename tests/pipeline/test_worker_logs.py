"""Credentials in the logs of Beam worker processes (multi_processing, a worker process) are redacted there."""

from __future__ import annotations

import subprocess
import sys

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions
from apache_beam.utils.plugin import BeamPlugin

from transforms.common.worker_logs import with_worker_redaction
from tests.support import REPO
from tests.support.worker_log_job import SECRET_URL


def _run(*args: str) -> str:
    code = f"import sys; from tests.support.worker_log_job import main; main({list(args)!r})"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_the_workers_get_the_plugin_once():
    options = with_worker_redaction(with_worker_redaction(PipelineOptions(["--beam_plugins", "x.y"])))
    assert options.view_as(SetupOptions).beam_plugins == ["x.y", "transforms.common.worker_logs"]
    assert "transforms.common.worker_logs.RedactWorkerLogs" in BeamPlugin.get_all_plugin_paths()  # Dataflow's way


@pytest.mark.e2e
def test_worker_processes_redact_a_credentialed_url_before_it_leaves_them():
    output = _run("--plugin")
    assert output.count("fetching https://***@feeds.example/rss?api_key=***") == 4, output[-3000:]  # 4 elements
    assert "cannot fetch https://***@feeds.example/rss?api_key=***" in output  # the traceback too
    assert "s3cr3t-pw" not in output and "k3y-value" not in output
    control = _run()  # the same job without the plugin: the URL comes out in clear, so the check above can fail
    assert SECRET_URL in control
