"""A process that takes newsbeam's lock on a folder and holds it: the other run in lock tests.

    python -m tests.support.lock_holder FOLDER [SECONDS] [LEASE_SECONDS]

Prints ``locked`` once it holds the lock, then sleeps ``SECONDS`` (default 60) and
releases it, or dies holding it when killed.
"""

import sys
import time

from pipeline.gcs import configure_emulator
from pipeline.lock import Lease


def main() -> None:
    configure_emulator()
    folder = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    lease_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    lease = Lease(folder, "--output", "holder", lease_seconds)
    lease.acquire()
    print("locked", flush=True)
    time.sleep(seconds)
    lease.release()


if __name__ == "__main__":
    main()
