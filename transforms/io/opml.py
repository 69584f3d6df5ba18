"""OPML subscription lists (what feed readers export) -> feed URLs.

Pure, no I/O. The document is parsed with lxml configured not to load DTDs,
resolve entities or touch the network, and any DOCTYPE or entity declaration
is refused outright (OPML never needs one), so entity bombs and external
entities cannot expand.
"""

from __future__ import annotations

import re

from transforms.common.records import RejectedInput

__all__ = ["read_opml", "DEFAULT_MAX_OPML_BYTES"]

DEFAULT_MAX_OPML_BYTES = 10_000_000

# "<!DOCTYPE" / "<!ENTITY" in the byte encodings an XML parser could read;
# looked for before parsing so nothing is expanded.
_DECLARATIONS = tuple(
    re.compile(b"".join(b"(?:" + re.escape(c.upper().encode(enc)) + b"|" + re.escape(c.lower().encode(enc)) + b")" for c in word))
    for word in ("<!DOCTYPE", "<!ENTITY")
    for enc in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def read_opml(data: bytes, *, max_bytes: int = DEFAULT_MAX_OPML_BYTES) -> list[str]:
    """The ``xmlUrl`` of every ``<outline>`` (nested folders included), in
    document order, stripped and without repeats. Raises ``RejectedInput`` for
    a document that is too large, declares a DOCTYPE/entities, is not XML or
    is not OPML. URLs are returned as written: the fetcher vets them."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"read_opml takes bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise RejectedInput(f"OPML document is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data.strip():
        raise RejectedInput("empty OPML document")
    if any(p.search(data) for p in _DECLARATIONS):
        raise RejectedInput("OPML document has a DOCTYPE or entity declaration; refused")

    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise RejectedInput(f"OPML document is not well-formed XML: {exc}") from None
    if root is None:
        raise RejectedInput("OPML document has no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # defence in depth: the byte scan missed an encoding
        raise RejectedInput("OPML document has a DOCTYPE; refused")
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        raise RejectedInput(f"not an OPML document (root element {root.tag!r})")

    urls: list[str] = []
    for outline in root.iter():
        if not isinstance(outline.tag, str) or etree.QName(outline).localname.lower() != "outline":
            continue
        for name, value in outline.attrib.items():
            if etree.QName(name).localname.lower() == "xmlurl" and value and value.strip():
                urls.append(value.strip())
    return list(dict.fromkeys(urls))
