"""Credentials out of what newsbeam writes and logs.

A feed URL may carry a password (``https://user:secret@host/feed``) or a token in
its query (``?api_key=...``, ``&token=...``, ``&sig=...``). Dead letters, logs, the
summary and the origins of feed articles show such URLs with those parts
replaced by ``***``; the request itself still uses the real URL.
"""

from __future__ import annotations

import logging
import re

__all__ = ["redact_url", "redact_text", "RedactingFilter", "MASK"]

MASK = "***"

# scheme://userinfo@ : the userinfo runs to the last '@' before the path.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,20}://)(?P<userinfo>[^/\s?#\"'<>]*)@")
# A query (or fragment) parameter whose name says it is a secret: key, token, sig,
# password ... alone or after a prefix (api_key, access_token, X-Amz-Signature).
_SECRET_NAMES = (
    r"key|apikey|token|secret|password|passwd|pwd|pass|sig|signature|credential|credentials"
    r"|auth|authorization|session|sessionid|sid|jwt|bearer"
)
_SECRET_PARAM = re.compile(
    rf"(?P<name>[?&;#](?:[\w.-]*[_.-])?(?:{_SECRET_NAMES})=)(?P<value>[^&#\s\"'<>]+)",
    re.I,
)


def redact_text(text: str) -> str:
    """``text`` with the userinfo of every URL in it and the values of secret-named
    query parameters replaced by ``***``. Text without either is returned as is."""
    if "@" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group('name')}{MASK}", text)


def redact_url(url: str) -> str:
    """A URL fit to be shown: ``https://user:pw@host/f?api_key=k&x=1`` ->
    ``https://***@host/f?api_key=***&x=1``."""
    return redact_text(url)


class RedactingFilter(logging.Filter):
    """A logging filter (for handlers) that passes every record with
    :func:`redact_text` applied to its message and traceback. A traceback that held a
    credential is moved, redacted, into the message (``exc_info`` cleared): some
    handlers (Beam's worker log handler) format ``exc_info`` themselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's own problem to report
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            trace = logging.Formatter().formatException(record.exc_info)
            clean = redact_text(trace)
            if clean != trace:
                record.msg, record.args = f"{record.msg}\n{clean}", None
                record.exc_info = None
            else:
                record.exc_text = trace
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
