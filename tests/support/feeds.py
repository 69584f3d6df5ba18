"""Feeds and fetch options shared by the tests of feed fetching (tests/transforms/io/: test_http,
test_poll, test_opml, test_feedsconfig)."""

from __future__ import annotations

import concurrent.futures

from transforms.common.records import Rejected
from transforms.io.http import FetchOptions


# Local tests: loopback allowed, no politeness delay, fast backoff.
LOCAL = FetchOptions(allow_private_networks=True, min_delay_seconds=0.0, backoff_base=0.01, backoff_max=0.05, total_timeout=5.0)


def rss(n: int, *, summary: str = "A short summary of item {i}.", link: str = "http://news.example.org/{i}") -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><link>{link.format(i=i)}</link>"
        f"<guid>urn:item:{i}</guid><description>{summary.format(i=i)}</description>"
        f"<pubDate>Mon, 03 Feb 2025 10:{i % 60:02d}:00 GMT</pubDate></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Local News</title>'
        f"<link>http://news.example.org/</link>{items}</channel></rss>"
    ).encode()


ENTITY_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY a "aaaaaaaaaa">\n'
    + b"".join(b' <!ENTITY %s "%s">\n' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10) for i in range(8))
    + b']>\n<rss version="2.0"><channel><title>&i;</title><item><title>&i;</title></item></channel></rss>'
)


HTML_PAGE = b"<!doctype html><html><head><title>Home</title></head><body><p>Welcome to our home page.</p></body></html>"


def articles_of(items):
    return [i for i in items if not isinstance(i, Rejected)]


def run_bounded(fn, seconds):
    """Run ``fn`` in a thread; fail if it is still running after ``seconds``."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(fn)
        return future.result(timeout=seconds)


OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>My subscriptions</title></head><body>
  <outline text="World">
    <outline type="rss" text="A" xmlUrl="https://a.example/rss.xml" htmlUrl="https://a.example/"/>
    <outline text="Deeper"><outline type="rss" text="B" xmlUrl=" https://b.example/atom " /></outline>
  </outline>
  <outline type="rss" text="A again" xmlUrl="https://a.example/rss.xml"/>
  <outline text="a folder without a feed"/>
  <outline type="rss" text="C" xmlurl="http://c.example/feed"/>
</body></opml>"""
