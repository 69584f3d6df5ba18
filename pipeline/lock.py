"""One writer at a time on ``--output`` and ``--state``: a lease lock per folder.

The lock is one small JSON object, ``<folder>/_LOCK``: who holds it (run id, user,
host, pid and that process's start time), since when, and until when its lease
runs (``expires``); a thread renews the lease every quarter of its length while the
run is alive, and the run deletes the lock when it ends.

- **Local disk**: the file is created (``O_CREAT``) and ``flock``-ed. The kernel drops
  a flock when its process dies, however it dies (kill -9 included), so a dead run's
  lock is free at once; the file's content says whose it was. A lock file that was
  unlinked while someone waited on it is detected (inode check) and tried again.
- **Cloud Storage**: the object is created with ``if_generation_match=0`` (of two
  creators one wins), renewed and deleted with ``if_generation_match=<our
  generation>``. A lock is stale when its lease has expired, or when it was taken on
  this host by a process that no longer runs (pid and process start time); a stale
  lock is taken over by a write conditioned on the generation judged stale, so of two
  runs taking over at once one wins. Clocks of the hosts sharing a bucket must agree
  to well within the lease (60 s).

A run that finds a lock held fails at once with :class:`LockBusy` (exit status
:data:`pipeline.exitcodes.LOCKED`), or polls until ``wait`` seconds have passed.
A holder whose lease was taken over (it looked dead: paused for longer than the
lease) notices at its next renewal; :meth:`Lease.check` then raises
:class:`LockLost` and the run must not publish.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Callable

LOCK_FILE = "_LOCK"
LEASE_SECONDS = 60.0
POLL_SECONDS = 1.0

_log = logging.getLogger(__name__)


class LockBusy(Exception):
    """Another live run holds the lock; the message is one line for a person."""


class LockLost(Exception):
    """Our lease was taken over by another run while we ran."""


# --------------------------------------------------------------------------- holder


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of stat, after pid and (comm)


def process_alive(pid: int, start: str | None) -> bool:
    """Whether ``pid`` runs on this host and is the same process (same start time)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    current = process_start(pid)
    return start is None or current is None or current == start


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds a lock, and until when."""

    run_id: str
    user: str
    host: str
    pid: int
    pid_start: str | None
    started: float
    expires: float
    token: str

    @classmethod
    def me(cls, run_id: str, lease_seconds: float, now: float | None = None) -> "Holder":
        now = time.time() if now is None else now
        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no user name in a bare container: say so
            user = "unknown"
        return cls(run_id, user, socket.gethostname(), os.getpid(), process_start(os.getpid()), now,
                   now + lease_seconds, uuid.uuid4().hex)

    def renewed(self, lease_seconds: float, now: float | None = None) -> "Holder":
        return dataclasses.replace(self, expires=(time.time() if now is None else now) + lease_seconds)

    def to_bytes(self) -> bytes:
        data = dataclasses.asdict(self)
        data.update(started_at=_iso(self.started), expires_at=_iso(self.expires), tool="newsbeam")
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Holder":
        """The holder written in a lock; ValueError when it is not one."""
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            return cls(str(data["run_id"]), str(data["user"]), str(data["host"]), int(data["pid"]),
                       None if data.get("pid_start") is None else str(data["pid_start"]),
                       float(data["started"]), float(data["expires"]), str(data["token"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"missing or bad field: {exc}") from None

    def describe(self) -> str:
        if not self.token:
            return "run (its lock file is being written, or is not readable)"
        return (f"run {self.run_id} (pid {self.pid} on {self.host}, user {self.user}, since {_iso(self.started)}, "
                f"lease until {_iso(self.expires)})")


def is_stale(holder: Holder, now: float, host: str, alive: Callable[[int, str | None], bool] = process_alive) -> bool:
    """A lock nobody holds any more: its lease expired, or its process on this host is gone."""
    if holder.expires < now:
        return True
    return holder.host == host and not alive(holder.pid, holder.pid_start)


# --------------------------------------------------------------------------- backends


class _LocalLock:
    """``<folder>/_LOCK`` on local disk, held by ``flock`` on an open descriptor."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self, holder: Holder) -> Holder | None:
        """Take the lock: None when taken, else what the lock file says of its holder."""
        import fcntl

        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raw = os.pread(fd, 65536, 0)
                os.close(fd)
                return _parse_or_unknown(raw)
            try:
                same = os.stat(self.path)
            except FileNotFoundError:
                same = None
            mine = os.fstat(fd)
            if same is None or (same.st_ino, same.st_dev) != (mine.st_ino, mine.st_dev):
                os.close(fd)  # released and unlinked while we waited for it: try the new file
                continue
            previous = os.pread(fd, 65536, 0)
            if previous.strip():
                _log.warning("taking over the lock %s of a run that has ended: %s", self.path,
                             _parse_or_unknown(previous).describe())
            self._fd = fd
            try:
                self._write(holder)
            except OSError:  # e.g. a full disk: leave no lock file behind
                self.release()
                raise
            return None

    def _write(self, holder: Holder) -> None:
        assert self._fd is not None
        data = holder.to_bytes()
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))
        os.fsync(self._fd)

    def renew(self, holder: Holder) -> bool:
        if self._fd is None:
            return False
        self._write(holder)
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding the flock: waiters re-check the inode
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None


def _parse_or_unknown(raw: bytes) -> Holder:
    try:
        return Holder.from_bytes(raw)
    except ValueError:
        return Holder("?", "?", "?", 0, None, 0.0, float("inf"), "")


def _gcs_client():
    from google.cloud import storage

    from pipeline.gcs import emulator_host

    host = emulator_host()
    if host:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="newsbeam", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": host})
    return storage.Client()


class _GcsLock:
    """``gs://bucket/prefix/_LOCK``, guarded by object generations."""

    def __init__(self, path: str, lease_seconds: float) -> None:
        self.path = path
        bucket, _, name = path[len("gs://"):].partition("/")
        self._client = _gcs_client()
        self._bucket = self._client.bucket(bucket)
        self._name = name
        self._lease = lease_seconds
        self._generation: int | None = None
        self._token = ""

    def try_acquire(self, holder: Holder) -> Holder | None:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        while True:
            existing = self._bucket.get_blob(self._name)
            if existing is None:
                blob = self._bucket.blob(self._name)
                try:
                    blob.upload_from_string(holder.to_bytes(), content_type="application/json", if_generation_match=0)
                except PreconditionFailed:
                    continue  # created by another run just now: look at it
                return self._confirm(blob, holder)
            generation = existing.generation  # before the download, which resets it from response headers
            try:
                raw = existing.download_as_bytes(if_generation_match=generation)
            except (NotFound, PreconditionFailed):
                continue  # released or renewed while we looked: look again
            current = _parse_or_unknown(raw)
            updated = existing.updated.timestamp() if existing.updated else 0.0
            if current.token == "":  # damaged lock object: stale once untouched for a lease
                current = dataclasses.replace(current, expires=updated + self._lease)
            if not is_stale(current, time.time(), socket.gethostname()):
                return current
            blob = self._bucket.blob(self._name)
            try:
                blob.upload_from_string(holder.to_bytes(), content_type="application/json",
                                        if_generation_match=generation)
            except (PreconditionFailed, NotFound):
                continue  # another run took it over first
            _log.warning("took over the stale lock %s of %s", self.path, current.describe())
            return self._confirm(blob, holder)

    def _confirm(self, blob, holder: Holder) -> Holder | None:
        """Read the lock back: ours unless a store without preconditions let another writer in."""
        fresh = self._bucket.get_blob(self._name)
        if fresh is None:
            return self.try_acquire(holder)
        generation = fresh.generation  # before the download, which resets it from response headers
        current = _parse_or_unknown(fresh.download_as_bytes(if_generation_match=generation))
        if current.token != holder.token:
            return current
        self._generation = generation
        self._token = holder.token
        return None

    def renew(self, holder: Holder) -> bool:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        if self._generation is None:
            return False
        fresh = self._bucket.get_blob(self._name)
        if fresh is None or fresh.generation != self._generation:
            return False
        blob = self._bucket.blob(self._name)
        try:
            blob.upload_from_string(holder.to_bytes(), content_type="application/json",
                                    if_generation_match=self._generation)
        except (PreconditionFailed, NotFound):
            return False
        self._generation = blob.generation
        return True

    def release(self) -> None:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        if self._generation is None:
            return
        try:
            self._bucket.blob(self._name).delete(if_generation_match=self._generation)
        except (NotFound, PreconditionFailed):
            _log.warning("lock %s was no longer ours when the run ended", self.path)
        self._generation = None


# --------------------------------------------------------------------------- the lease


def lock_path(folder: str) -> str:
    return folder.rstrip("/") + "/" + LOCK_FILE


class Lease:
    """The lock on one folder for one run: :meth:`acquire`, renewed by a thread, :meth:`release`."""

    def __init__(self, folder: str, what: str, run_id: str, lease_seconds: float = LEASE_SECONDS) -> None:
        self.folder = folder
        self.what = what  # "--output" or "--state", for messages
        self.path = lock_path(folder)
        self._lease = lease_seconds
        self._holder = Holder.me(run_id, lease_seconds)
        remote = folder.startswith("gs://")
        self._backend = _GcsLock(self.path, lease_seconds) if remote else _LocalLock(os.path.abspath(self.path))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def acquire(self, wait: float | None = None) -> None:
        """Take the lock now, or within ``wait`` seconds; :class:`LockBusy` otherwise."""
        deadline = None if wait is None else time.monotonic() + wait
        announced = False
        while True:
            holder = self._backend.try_acquire(self._holder.renewed(self._lease))
            if holder is None:
                break
            if deadline is None or time.monotonic() >= deadline:
                hint = "wait for it to end, or add --wait-for-lock [SECONDS]" if wait is None else \
                    f"waited {wait:g} s"
                raise LockBusy(f"{self.what} {self.folder} is in use by another newsbeam {holder.describe()}; {hint}")
            if not announced:  # -v says why the run is idle (and tests know it is waiting)
                _log.info("%s %s is in use by another newsbeam %s; waiting up to %g s for it",
                          self.what, self.folder, holder.describe(), wait)
                announced = True
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        self._thread = threading.Thread(target=self._renew_loop, name=f"newsbeam-lease{self.what}", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._lease / 4):
            try:
                ok = self._backend.renew(self._holder.renewed(self._lease))
            except Exception as exc:  # noqa: BLE001 - a failed renewal is retried; the lease has slack
                _log.warning("could not renew the lock %s: %s", self.path, exc)
                continue
            if not ok:
                self.lost = True
                _log.error("the lock %s was taken over by another run", self.path)
                return

    def check(self) -> None:
        """Raise :class:`LockLost` if another run took our lock over (call before publishing)."""
        if self.lost:
            raise LockLost(f"{self.what} {self.folder}: the lock was taken over by another run while this one ran "
                           "(it looked dead); nothing was published")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if not self.lost:
            self._backend.release()

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
