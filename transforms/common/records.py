"""The records that flow between stages, and the dead-letter record.

Every stage passes plain ``dict`` records (JSON-serialisable, picklable, cheap to
code). Their shapes:

RawArticle (what a reader yields, before normalisation)
    origin        str        where it came from: ``path#line 3``, ``path#entry 2``, ``url#entry 0``
    format        str        ``jsonl`` | ``txt`` | ``html`` | ``feed``
    title         str|None
    text          str|None   plain text (may still need repair)
    html          str|None   HTML to extract the main text from (used when ``text`` is empty)
    url           str|None   as given
    published     str|None   as given (any common date format)
    source        str|None   outlet name/domain as given
    language      str|None   declared language, if the input had one
    external_id   str|None   the ``id`` field of the input, if any

Article (after ``NormalizeArticles``; later stages add fields)
    id, url, source, title, text, published_at, language, language_confidence,
    origin, external_id, content_hash, dedup {status, duplicate_of}, story_id, topics

Rejected inputs are not exceptions that escape a stage: pure functions either
return/yield a :class:`Rejected` or raise :class:`RejectedInput`; the Beam wrapper
turns both into a dead-letter record (:meth:`Rejected.to_record`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

EXCERPT_CHARS = 200


class RejectedInput(ValueError):
    """Raised by a pure stage function for input it refuses, with a readable reason."""


@dataclasses.dataclass(frozen=True)
class Rejected:
    """An input that a stage refused; becomes one line of ``dead_letter/``."""

    source: str
    stage: str
    error: str
    excerpt: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "stage": self.stage,
            "error": self.error,
            "excerpt": self.excerpt,
        }


def make_excerpt(data: bytes | str | None, limit: int = EXCERPT_CHARS) -> str:
    """The first bytes of a bad input, safe to print: control characters and
    undecodable bytes are escaped, length is bounded."""
    if data is None:
        return ""
    if isinstance(data, (bytes, bytearray)):
        head = bytes(data[: limit * 4]).decode("utf-8", errors="backslashreplace")
    else:
        head = str(data)[: limit * 4]
    out = []
    for ch in head:
        if ch in "\n\t":
            out.append(ch)
        elif ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out)
    return text[:limit] + ("…" if len(text) > limit else "")


RAW_FIELDS = ("title", "text", "html", "url", "published", "source", "language", "external_id")


def raw_article(origin: str, fmt: str, **fields: Any) -> dict[str, Any]:
    """A RawArticle: every documented key present, the missing ones ``None``."""
    unknown = set(fields) - set(RAW_FIELDS)
    if unknown:
        raise TypeError(f"not RawArticle fields: {sorted(unknown)}")
    record: dict[str, Any] = {"origin": origin, "format": fmt, **dict.fromkeys(RAW_FIELDS)}
    record.update(fields)
    return record


def reject(source: str, stage: str, error: str, data: bytes | str | None = None) -> Rejected:
    return Rejected(source=source, stage=stage, error=error, excerpt=make_excerpt(data))
