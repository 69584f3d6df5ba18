"""OPML subscription lists: feed URLs collected once, unsafe or wrong documents refused."""

from __future__ import annotations

import pytest

from tests.support.feeds import OPML
from transforms.common.records import RejectedInput
from transforms.io.opml import read_opml


def test_read_opml_collects_nested_xml_urls_once():
    assert read_opml(OPML) == ["https://a.example/rss.xml", "https://b.example/atom", "http://c.example/feed"]


@pytest.mark.parametrize(
    "doc, why",
    [
        (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x "y">]><opml><body><outline xmlUrl="&x;"/></body></opml>', "DOCTYPE"),
        (b'<!DOCTYPE opml SYSTEM "http://evil.example/x.dtd"><opml><body/></opml>', "DOCTYPE"),
        ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE opml [<!ENTITY x "y">]><opml/>'.encode("utf-16"), "DOCTYPE"),
        (b"<rss><channel/></rss>", "not an OPML"),
        (b"<opml><body><outline", "not well-formed"),
        (b"   ", "empty"),
    ],
)
def test_read_opml_refuses_unsafe_or_wrong_documents(doc, why):
    with pytest.raises(RejectedInput, match=why):
        read_opml(doc)
