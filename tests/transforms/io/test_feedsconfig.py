"""configs/feeds.yaml: the repository's file, feeds with OPML and timeouts, errors naming the key."""

from __future__ import annotations

import os

import pytest

from tests.support import REPO
from tests.support.feeds import OPML
from transforms.io.feedsconfig import feeds_config_from_dict, load_feeds_config


def test_repo_feeds_yaml_lists_no_feeds_and_valid_options():
    config = load_feeds_config(os.path.join(REPO, "configs", "feeds.yaml"))
    assert config.feeds == ()
    assert config.options.total_timeout == 30 and config.options.per_host_concurrency == 2
    assert not config.options.fetch_full_text and not config.options.allow_private_networks


def test_feeds_config_reads_feeds_opml_and_timeouts(tmp_path):
    (tmp_path / "subs.opml").write_bytes(OPML)
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {url: 'https://a.example/rss.xml', name: A}\n  - https://z.example/rss\n"
        "opml: subs.opml\nfetch_full_text: true\ntimeouts: {connect_seconds: 2, total_seconds: 9}\n"
        "max_bytes: 1000\nmin_delay_seconds: 0.5\nallowed_networks: ['10.1.0.0/16']\n"
    )
    config = load_feeds_config(str(tmp_path / "feeds.yaml"))
    assert config.urls == ["https://a.example/rss.xml", "https://z.example/rss", "https://b.example/atom", "http://c.example/feed"]
    assert config.feeds[0].name == "A"
    o = config.options
    assert (o.connect_timeout, o.total_timeout, o.max_bytes, o.min_delay_seconds, o.fetch_full_text) == (2, 9, 1000, 0.5, True)
    assert o.allowed_networks == ("10.1.0.0/16",)


@pytest.mark.parametrize(
    "raw, why",
    [
        ({"feeds": "https://a.example"}, "'feeds' must be a list"),
        ({"feeds": [{"name": "no url"}]}, r"feeds\[0\] needs a 'url'"),
        ({"feed": []}, "unknown key"),
        ({"timeouts": {"read": 3}}, "timeouts"),
        ({"max_bytes": -1}, "max_bytes"),
    ],
)
def test_feeds_config_errors_name_the_key(raw, why):
    from transforms.io.feedsconfig import FeedsConfigError

    with pytest.raises(FeedsConfigError, match=why):
        feeds_config_from_dict(raw, "feeds.yaml")
