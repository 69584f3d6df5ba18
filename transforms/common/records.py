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
    warnings      list[str]  only when something was repaired on the way in (see below)

Every string of a RawArticle is valid Unicode: :func:`raw_article` replaces lone
surrogates by U+FFFD (:mod:`transforms.common.unicode`) and notes it in ``warnings``.

Article (after ``NormalizeArticles``; later stages add fields)
    id, url, source, title, text, published_at, language, language_confidence,
    origin, external_id, content_hash, dedup {status, duplicate_of}, story_id, topics

Rejected inputs are not exceptions that escape a stage: pure functions either
return/yield a :class:`Rejected` or raise :class:`RejectedInput`; the Beam wrapper
turns both into a dead-letter record (:meth:`Rejected.to_record`), which is valid
Unicode and has credentials in URLs redacted (:mod:`transforms.common.redact`).
:func:`cap_dead_letters` bounds the dead letters of one file or feed.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Iterator

from transforms.common.redact import redact_text
from transforms.common.unicode import valid_unicode

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
    count: int = 1  # > 1: one record standing for this many rejected parts (cap_dead_letters)

    def to_record(self) -> dict[str, Any]:
        """The dead-letter line: every string valid Unicode, credentials redacted;
        ``count`` only when the record stands for more than one rejected part."""
        record: dict[str, Any] = {
            "source": _safe(self.source),
            "stage": _safe(self.stage),
            "error": _safe(self.error),
            "excerpt": _safe(self.excerpt),
        }
        if self.count != 1:
            record["count"] = self.count
        return record


def _safe(value: Any) -> str:
    return redact_text(valid_unicode(value if isinstance(value, str) else str(value))[0])


_ESCAPED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def make_excerpt(data: bytes | str | None, limit: int = EXCERPT_CHARS) -> str:
    """The first bytes of a bad input, safe to print: control characters and
    undecodable bytes are escaped, length is bounded."""
    if data is None:
        return ""
    if isinstance(data, (bytes, bytearray)):
        head = bytes(data[: limit * 4]).decode("utf-8", errors="backslashreplace")
    else:
        head = str(data)[: limit * 4]
    text = _ESCAPED.sub(_escape, head)
    return text[:limit] + ("…" if len(text) > limit else "")


RAW_FIELDS = ("title", "text", "html", "url", "published", "source", "language", "external_id")


def raw_article(origin: str, fmt: str, *, warnings: Iterable[str] = (), **fields: Any) -> dict[str, Any]:
    """A RawArticle: every documented key present, the missing ones ``None``; every
    string valid Unicode (lone surrogates -> U+FFFD, each field's count noted in
    ``warnings``, a key present only when there is something to say)."""
    unknown = set(fields) - set(RAW_FIELDS)
    if unknown:
        raise TypeError(f"not RawArticle fields: {sorted(unknown)}")
    notes = list(warnings)
    origin, _ = valid_unicode(origin)
    record: dict[str, Any] = {"origin": origin, "format": fmt, **dict.fromkeys(RAW_FIELDS)}
    for key, value in fields.items():
        if isinstance(value, str):
            value, replaced = valid_unicode(value)
            if replaced:
                notes.append(f"{key}: {replaced} invalid character(s) (lone surrogates) replaced by U+FFFD")
        record[key] = value
    if notes:
        record["warnings"] = notes
    return record


def reject(source: str, stage: str, error: str, data: bytes | str | None = None) -> Rejected:
    return Rejected(source=source, stage=stage, error=error, excerpt=make_excerpt(data))


DEFAULT_MAX_DEAD_LETTERS = 1000


def cap_dead_letters(items: Iterable[Any], source: str, stage: str, limit: int = DEFAULT_MAX_DEAD_LETTERS) -> Iterator[Any]:
    """``items`` (articles and ``Rejected``) with at most ``limit`` ``Rejected`` passed
    on; the rest become one ``Rejected`` at the end whose ``count`` is how many it
    stands for, naming the first one left out. Articles always pass. ``limit`` 0:
    no cap. Keeps a file of 20,000 bad lines from writing 20,000 dead letters, while
    the count still adds up (conservation)."""
    shown = 0
    over = 0
    first: Rejected | None = None
    for item in items:
        if isinstance(item, Rejected):
            if limit and shown >= limit:
                over += item.count
                first = first or item
                continue
            shown += 1
        yield item
    if over and first is not None:
        yield Rejected(
            source=source,
            stage=stage,
            error=(
                f"{over} more rejected part(s) of this input not listed one by one "
                f"(over the limit of {limit} dead letters per input); the first: {first.source}: {first.error}"
            ),
            excerpt=first.excerpt,
            count=over,
        )
