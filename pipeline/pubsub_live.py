"""Pub/Sub on the DirectRunner: :class:`LivePubSubPoller`, the non-blocking pulls
served with the file and feed polls (see pipeline/streaming.py), and how a pulled
message travels as a ``("pubsub", value)`` watched pair. Acknowledged once its
window is committed (``transforms.io.items.LEDGER``), not at the pull."""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Any, Callable, Iterator, Sequence

from transforms.io.items import LEASE_SECONDS, LEDGER, AckLedger
from transforms.io.seen import read_items
from transforms.io.watch import ERROR, LivePoller, poll_until_stopped

_log = logging.getLogger(__name__)

PUBSUB_SCHEME = "pubsub://"
PUBSUB = "pubsub"  # watched kind on the DirectRunner: value is encode_message(origin, data)


def message_origin(subscription: str, message_id: str | None) -> str:
    """The ``origin`` of an article read from a Pub/Sub message."""
    return f"{PUBSUB_SCHEME}{subscription}/messages/{message_id or 'unknown'}"


def encode_message(origin: str, data: bytes) -> str:
    """A pulled message as the string value of a ``("pubsub", value)`` watched pair."""
    return origin + "\n" + base64.b64encode(data).decode("ascii")


def decode_message(value: str) -> dict[str, Any]:
    """The inverse of :func:`encode_message`, as the element ``GuardedMap`` sees."""
    origin, _, b64 = value.partition("\n")
    data = base64.b64decode(b64)
    return {"origin": origin, "data": data, "text": data}


class LivePubSubPoller:
    """DirectRunner source: every ``poll_seconds``, the file/feed ``LivePoller``'s
    poll plus a non-blocking pull of each subscription; yields ``(now, [(kind, value), ...])``
    for ``transforms.io.watch.start_live_feeder``, which then advances the watermark
    to ``now``. Elements are stamped at the pull, not the publish time, so a
    message is never behind the watermark.

    A pulled message is *not* acknowledged at the pull: its ack id goes to
    ``transforms.io.items.LEDGER`` (deadline renewed to ``lease_seconds`` every third
    of it while the job polls) and is acknowledged when its window is committed
    (``RecordSeenFiles``). Messages whose key an earlier job (``seen``: the seen-record
    folder) or this one committed are acknowledged and not emitted again; one
    redelivered while its window is open is not emitted twice. Without an output
    (``ack_on_commit=False``: nothing is committed) messages are acknowledged at the pull.

    Why not Beam's ``ReadFromPubSub`` here: the DirectRunner's reader advances the
    watermark only when a pull returns, and a pull on an idle subscription blocks
    up to 30 s, so the last window before a pause closes up to 30 s late.
    """

    def __init__(
        self,
        subscriptions: Sequence[str],
        files: LivePoller,
        poll_seconds: float,
        pull: Callable[[str], list[Any]] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        seen: str | None = None,
        ack: Callable[[str, list[str]], None] | None = None,
        extend: Callable[[str, list[str], int], None] | None = None,
        ledger: AckLedger = LEDGER,
        ack_on_commit: bool = True,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._subscriptions = list(subscriptions)
        self._files = files
        self._poll = poll_seconds
        self._pull_fn, self._ack_fn, self._extend_fn = pull, ack, extend
        self._clock = clock
        self._sleep = sleep
        self._reported: set[str] = set()
        self._seen_folder = seen
        self._committed: set[str] = set()
        self._ledger = ledger
        self._started = False
        self._on_commit = ack_on_commit
        self._lease = int(lease_seconds)

    def _client(self) -> None:
        """The real subscriber client's pull / acknowledge / modify-deadline (not injected)."""
        from google.cloud import pubsub_v1

        client = pubsub_v1.SubscriberClient()

        def pull(sub: str) -> list[Any]:
            response = client.pull(subscription=sub, max_messages=100, return_immediately=True, timeout=30)
            return list(response.received_messages)

        def ack(sub: str, ids: list[str]) -> None:
            for i in range(0, len(ids), 1000):
                client.acknowledge(subscription=sub, ack_ids=ids[i : i + 1000], timeout=30)

        def extend(sub: str, ids: list[str], seconds: int) -> None:
            for i in range(0, len(ids), 1000):
                client.modify_ack_deadline(
                    subscription=sub, ack_ids=ids[i : i + 1000], ack_deadline_seconds=seconds, timeout=30
                )

        self._pull_fn = self._pull_fn or pull
        self._ack_fn = self._ack_fn or ack
        self._extend_fn = self._extend_fn or extend

    def _pull(self, subscription: str) -> list[Any]:
        """Received messages (``.message.data``, ``.message.message_id``, ``.ack_id``), not acknowledged."""
        if self._pull_fn is None:
            self._client()
        assert self._pull_fn is not None
        return self._pull_fn(subscription)

    def _ack(self, sub: str, ids: list[str]) -> None:
        if ids and self._ack_fn is not None:
            self._ack_fn(sub, ids)

    def _extend(self, sub: str, ids: list[str]) -> None:
        if ids and self._extend_fn is not None:
            self._extend_fn(sub, ids, self._lease)

    def _start(self) -> None:
        """At run time (not while the graph is built): the committed keys, the ledger's acker."""
        if self._seen_folder is not None:
            self._committed = read_items(self._seen_folder)
            self._seen_folder = None
        if self._pull_fn is None:
            self._client()
        self._ledger.bind(self._ack_fn)

    def _pull_one(self, sub: str, items: list[tuple[str, str]], renew: list[str]) -> None:
        try:
            received = self._pull(sub)
        except Exception as exc:  # noqa: BLE001 - one dead letter per distinct failure; polling goes on
            error = f"cannot pull '{sub}': {type(exc).__name__}: {exc}".splitlines()[0]
            if error not in self._reported:
                self._reported.add(error)
                _log.warning("%s", error)
                items.append((ERROR, error))
            return
        fresh, again = [], []
        for m in received:
            origin = message_origin(sub, m.message.message_id)
            ack_id = getattr(m, "ack_id", "") or ""
            if not self._on_commit:
                items.append((PUBSUB, encode_message(origin, m.message.data)))
                again.append(ack_id)
                continue
            state = "done" if origin in self._committed else self._ledger.add(origin, sub, ack_id)
            if state == "done":
                again.append(ack_id)  # committed already: acknowledge, do not emit again
                continue
            if state == "new":
                items.append((PUBSUB, encode_message(origin, m.message.data)))
            fresh.append(ack_id)
        try:
            self._extend(sub, [i for i in fresh + renew if i])
            self._ack(sub, [i for i in again if i])
        except Exception as exc:  # noqa: BLE001 - a missed renewal means a redelivery, skipped or not emitted twice
            _log.warning("cannot renew or acknowledge messages of %s: %s: %s", sub, type(exc).__name__, exc)

    def poll_once(self) -> tuple[float, list[tuple[str, str]]]:
        if not self._started:
            self._start()
            self._started = True
        _, items = self._files.poll_once()
        due = self._ledger.due(self._lease / 3)
        for sub in self._subscriptions:
            self._pull_one(sub, items, due.get(sub, []))
        return self._clock(), items

    def __iter__(self) -> Iterator[tuple[float, list[tuple[str, str]]]]:
        stop: threading.Event = self._files.stop  # stopping the job stops the pulls with the file polls
        return poll_until_stopped(self.poll_once, self._poll, self._clock, self._sleep, stop)
