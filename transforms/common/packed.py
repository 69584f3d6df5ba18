"""Records packed small while they wait: pickled, then zstd-compressed, as one ``bytes``.

Beam's local runner keeps every materialised collection in the launcher until its last
consumer has run. The enriched articles wait there for the whole story and duplicate
search before the step that marks them: the largest thing the launcher holds at the
memory peak of a run (``docs/performance.md``, "The sixth round: the launcher's articles").
Packed, they take a fraction of the room; the packing runs in the workers, fused with
the step that makes the records, and a ``bytes`` element costs the runner's coders
nothing. ``unpack(pack(x)) == x`` for any picklable record (pickle keeps every type).

:class:`Packer` and :class:`Unpacker` hold one zstd context each (a context costs
more to make than a record to pack); make one per DoFn instance, in ``setup()``.
"""

from __future__ import annotations

import pickle
from typing import Any

import zstandard

LEVEL = 1  # zstd's fastest standard level: ~3x smaller articles for little CPU


class Packer:
    """``pack(record) -> bytes``; not for concurrent use from several threads."""

    def __init__(self, level: int = LEVEL) -> None:
        self._compress = zstandard.ZstdCompressor(level=level).compress

    def pack(self, record: Any) -> bytes:
        return self._compress(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))


class Unpacker:
    """``unpack(bytes) -> record``, the inverse of :meth:`Packer.pack`."""

    def __init__(self) -> None:
        self._decompress = zstandard.ZstdDecompressor().decompress

    def unpack(self, data: bytes) -> Any:
        return pickle.loads(self._decompress(data))
