"""A real Cloud Storage API on 127.0.0.1 for tests: ``gcp-storage-emulator`` in a subprocess.

The ``gcs_emulator`` fixture is registered for every test module by ``tests/conftest.py``::

    def test_x(gcs_emulator):
        bucket = gcs_emulator.bucket("news-in")     # created on the emulator
        env = gcs_emulator.env                      # for subprocesses (STORAGE_EMULATOR_HOST)

The emulator keeps objects in memory and listens on a random free port. While the
fixture is active ``STORAGE_EMULATOR_HOST`` is set in this process (the
google-cloud-storage client sends every call there, with anonymous credentials);
newsbeam's CLI sees the variable and does not probe for Google credentials
(``pipeline.gcs``). The emulator is stopped and the variable restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Iterator

import pytest

from pipeline.gcs import EMULATOR_ENV


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    def __init__(self, port: int, proc: subprocess.Popen) -> None:
        self.host = f"http://127.0.0.1:{port}"
        self.proc = proc

    @property
    def env(self) -> dict[str, str]:
        """The environment for a subprocess that must talk to this emulator."""
        return {**os.environ, EMULATOR_ENV: self.host}

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": self.host})

    def bucket(self, name: str):
        """Create (or return) a bucket on the emulator."""
        client = self.client()
        existing = client.lookup_bucket(name)
        return existing if existing is not None else client.create_bucket(name)


def _wait_until_up(host: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gcp-storage-emulator exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{host}/storage/v1/b?project=test", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"gcp-storage-emulator did not answer on {host} within {timeout} s")


@contextlib.contextmanager
def running_emulator() -> Iterator[Emulator]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port),
         "--in-memory", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    emulator = Emulator(port, proc)
    previous = os.environ.get(EMULATOR_ENV)
    try:
        _wait_until_up(emulator.host, proc)
        os.environ[EMULATOR_ENV] = emulator.host
        yield emulator
    finally:
        if previous is None:
            os.environ.pop(EMULATOR_ENV, None)
        else:
            os.environ[EMULATOR_ENV] = previous
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def gcs_emulator() -> Iterator[Emulator]:
    with running_emulator() as emulator:
        yield emulator
