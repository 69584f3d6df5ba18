"""What keeps a run from harming the outputs and the state of others, around ``main.run``.

:func:`guarded` takes the lease locks on ``--output`` and ``--state`` (in that order,
so two waiting runs cannot deadlock), then, holding them, finishes an interrupted
publication or commit and removes what failed or killed runs left: staging folders
under ``<output>/_staging/``. The :class:`RunGuard` it yields stages a plain batch
run (``--output`` becomes ``<output>/_staging/<run id>/``), publishes it when it
has succeeded (``transforms/io/publish.py``), and on failure deletes what the run
wrote (its staging folder and its uncommitted memory generation), so a full disk
leaves no temp files behind. The locks are released when the block ends.

:func:`disk_full` tells a full disk (``ENOSPC``) anywhere in an exception's chain,
so the entry point can say so in one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
from typing import Iterator

from pipeline.config import JobConfig
from pipeline.lock import Lease
from transforms.io import publish
from transforms.state import manifest, memory

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class RunGuard:
    output: str
    run_id: str
    leases: list[Lease]
    staged: bool = False

    def stage(self, config: JobConfig) -> JobConfig:
        """The config of a plain batch run, writing into its staging folder."""
        self.staged = True
        staging = publish.staging_dir(self.output, self.run_id)
        publish.remove_tree(staging)
        return dataclasses.replace(config, output=staging)

    def check(self) -> None:
        """LockLost if another run took a lock over while this one ran."""
        for lease in self.leases:
            lease.check()

    def publish(self, summary: dict) -> dict:
        self.check()
        return publish.publish(self.output, self.run_id, summary)

    def discard(self, config: JobConfig, keep_staging: bool = False) -> None:
        """After a failure: delete what the run wrote and nobody can use (``keep_staging``: leave
        the staged files for the user to read; the next run removes them)."""
        try:
            if self.staged and not keep_staging:
                publish.remove_tree(publish.staging_dir(self.output, self.run_id))
            if config.memory is not None:
                memory.discard(config.memory)
        except Exception as exc:  # noqa: BLE001 - the run's own error matters more; the next run cleans up
            _log.warning("could not remove what the failed run wrote: %s", exc)


def _locked_folders(config: JobConfig) -> list[tuple[str, str]]:
    folders = [("--output", config.output)]
    if config.state and config.state.rstrip("/") != config.output.rstrip("/"):
        folders.append(("--state", config.state))
    return folders


@contextlib.contextmanager
def guarded(config: JobConfig, wait: float | None = None) -> Iterator[RunGuard]:
    """Hold the locks of ``config``'s output and state for the block, after cleaning up
    after earlier runs; LockBusy when another run holds one (after ``wait`` seconds)."""
    run_id = publish.new_run_id()
    leases: list[Lease] = []
    try:
        for what, folder in _locked_folders(config):
            lease = Lease(folder, what, run_id)
            lease.acquire(wait)
            leases.append(lease)
        manifest.recover_commits(config.output)
        publish.recover(config.output)
        yield RunGuard(config.output, run_id, leases)
    finally:
        for lease in reversed(leases):
            try:
                lease.release()
            except Exception as exc:  # noqa: BLE001 - an expiring lease frees it anyway
                _log.warning("could not release the lock %s: %s", lease.path, exc)


class _WorkerDiskFull(logging.Filter):
    """Drops Beam's own ERROR log (with its traceback) of a worker step that hit a full
    disk: the entry point reports it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.name.startswith("apache_beam"):
            return True
        if record.exc_info and record.exc_info[1] is not None and disk_full(record.exc_info[1]):
            return False
        return not any(t in record.getMessage() for t in ("No space left on device", "Disk quota exceeded"))


def report_disk_full_once() -> None:
    """Install :class:`_WorkerDiskFull` on the root logger's handlers (after ``logging.basicConfig``)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _WorkerDiskFull) for f in handler.filters):
            handler.addFilter(_WorkerDiskFull())


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from, or its message, as Beam
    re-raises worker errors as text) is a full disk."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(current)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        current = current.__cause__ or current.__context__
    return False
