"""redact_url, redact_text, RedactingFilter: credentials never written or logged."""

from __future__ import annotations

import logging

import pytest

from transforms.common.redact import RedactingFilter, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:s3cret@feeds.example.com/rss", "https://***@feeds.example.com/rss"),
        ("https://TOKEN123@feeds.example.com/rss", "https://***@feeds.example.com/rss"),
        ("https://u:p@ss@w0rd@host.example/f", "https://***@host.example/f"),
        ("https://a.example/f?key=abc&lang=en", "https://a.example/f?key=***&lang=en"),
        ("https://a.example/f?lang=en&api_key=abc", "https://a.example/f?lang=en&api_key=***"),
        ("https://a.example/f?token=t1&access_token=t2#x", "https://a.example/f?token=***&access_token=***#x"),
        ("https://a.example/f?X-Amz-Signature=ab12&sig=cd", "https://a.example/f?X-Amz-Signature=***&sig=***"),
        ("https://a.example/f?page=2&monkey=1&compass=n", "https://a.example/f?page=2&monkey=1&compass=n"),
        ("https://a.example/rss.xml", "https://a.example/rss.xml"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_urls_inside_messages() -> None:
    message = "HTTP 401 from https://bob:hunter2@x.example/feed?apikey=zz (after 1 attempt(s)); redirect to http://y.example/?sig=q"
    redacted = redact_text(message)
    assert "hunter2" not in redacted and "bob" not in redacted and "zz" not in redacted and "sig=q" not in redacted
    assert redacted.startswith("HTTP 401 from https://***@x.example/feed?apikey=***")
    assert redact_text("user@example.com wrote a=b") == "user@example.com wrote a=b"


def test_filter_redacts_log_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("newsbeam.test_redact")
    caplog.handler.addFilter(RedactingFilter())
    try:
        logger.warning("fetching %s", "https://u:pw@h.example/f?token=abc")
        try:
            raise ValueError("bad https://u:pw@h.example/")
        except ValueError:
            logger.exception("failed")
    finally:
        caplog.handler.filters.clear()
    assert "pw" not in caplog.text and "abc" not in caplog.text
    assert "https://***@h.example/f?token=***" in caplog.text
