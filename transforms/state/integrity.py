"""Checksums of the files under ``--state``, so damage stops a run instead of
shrinking the memory or the manifest silently.

- A small JSON state file (the memory pointer ``CURRENT``, a manifest ``run-<id>.json``)
  carries ``"checksum": "sha256:<hex>"`` of its own canonical JSON (sorted keys, no
  ``checksum`` key): :func:`seal` adds it, :func:`check_sealed` verifies it.
- A data file (a memory shard) is recorded by size and content checksum in the file
  that points at it: :func:`file_checksum` (SHA-256 of the bytes on disk; on Cloud
  Storage the object's CRC32C from its metadata, which costs no download).

:class:`StateError` carries a one-line message for a person: what is damaged and
how to recover.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

CHECKSUM_KEY = "checksum"
_CHUNK = 1 << 20


class StateError(ValueError):
    """The ``--state`` folder cannot be used as it is; the message is for a person."""


def json_checksum(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != CHECKSUM_KEY}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its checksum added."""
    return {**record, CHECKSUM_KEY: json_checksum(record)}


def check_sealed(record: Any, path: str, recovery: str) -> dict[str, Any]:
    """``record`` if it is a JSON object whose checksum matches (records written before
    checksums existed, without the key, pass); StateError naming ``path`` otherwise."""
    if not isinstance(record, dict):
        raise StateError(f"{path} is damaged (not a JSON object); {recovery}")
    stored = record.get(CHECKSUM_KEY)
    if stored is not None and stored != json_checksum(record):
        raise StateError(f"{path} is damaged (its checksum does not match its content); {recovery}")
    return record


def load_sealed(raw: bytes, path: str, recovery: str) -> dict[str, Any]:
    """Parse and check a sealed JSON file's bytes."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise StateError(f"{path} is damaged (not JSON); {recovery}") from None
    return check_sealed(record, path, recovery)


def file_checksum(path: str) -> str:
    """The checksum of a data file: ``sha256:<hex>`` on disk, ``crc32c:<b64>`` on GCS."""
    if "://" in path:
        return "crc32c:" + str(FileSystems.checksum(path))
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def file_size(path: str) -> int:
    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes
