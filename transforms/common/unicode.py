"""Strings from outside made valid Unicode, at the edge where they enter.

JSON may carry lone surrogate escapes (``"\\ud800"``, half an emoji pair), a
file name may not be UTF-8 (Python hands it over with ``surrogateescape``
code points), a feed may hold ``&#xD800;``. Such a string cannot be encoded as
UTF-8, so it would crash whichever later step encodes it (a coder between
stages, the output writer). Every reader passes its strings through
:func:`valid_unicode` (via :func:`transforms.common.records.raw_article`), and
every dead letter through :meth:`transforms.common.records.Rejected.to_record`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["valid_unicode", "deep_valid_unicode", "display_path", "REPLACEMENT"]

REPLACEMENT = "\ufffd"
_SURROGATES = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")


def valid_unicode(value: str) -> tuple[str, int]:
    """``(value, replaced)``: ``value`` with every lone surrogate replaced by U+FFFD
    and how many were. A high and a low surrogate side by side (a pair that arrived
    as two code points) are joined into their character; nothing else changes.
    Deterministic, and a no-op (the same object) for valid strings."""
    if value.isascii():
        return value, 0
    try:
        value.encode("utf-8")
        return value, 0
    except UnicodeEncodeError:
        pass
    replaced = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal replaced
        found = match.group(0)
        if len(found) == 2:
            return found.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        replaced += 1
        return REPLACEMENT

    return _SURROGATES.sub(fix, value), replaced


def deep_valid_unicode(value: Any) -> Any:
    """``value`` (a JSON-like tree of dicts, lists, tuples, strings) with every
    string, keys included, made valid by :func:`valid_unicode`."""
    if isinstance(value, str):
        return valid_unicode(value)[0]
    if isinstance(value, dict):
        return {deep_valid_unicode(k): deep_valid_unicode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(deep_valid_unicode(v) for v in value)
    return value


def display_path(path: str | bytes) -> str:
    """A file name as valid text for origins and dead letters: bytes that are not
    UTF-8 (``surrogateescape`` code points in a ``str``) written as ``\\xNN``."""
    if isinstance(path, str):
        if not _has_surrogates(path):
            return path
        try:
            path = path.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # surrogates that stand for no byte
            return valid_unicode(path)[0]
    return path.decode("utf-8", errors="backslashreplace")


def _has_surrogates(value: str) -> bool:
    return not value.isascii() and _SURROGATES.search(value) is not None
