"""Text repair: bytes -> str, mojibake and whitespace repair, HTML -> main text.

Pure functions, no Beam. Everything that cannot become text raises
:class:`transforms.common.records.RejectedInput` with a readable reason.

- :func:`decode_bytes` turns the bytes of a file or HTTP body into ``str``.
- :func:`fix_text` repairs mojibake, entities, normal form, control characters
  and whitespace.
- :func:`html_to_text` returns ``(title, main_text)`` of a page or fragment.
"""

from __future__ import annotations

import codecs
import html as _html
import re
import unicodedata
from functools import lru_cache

from transforms.common.records import RejectedInput

__all__ = ["decode_bytes", "fix_text", "html_to_text"]

# ---------------------------------------------------------------------------
# decode_bytes
# ---------------------------------------------------------------------------

# Longest BOM first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_SNIFF_BYTES = 2048
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_:.+-]+)["']""", re.I)
_CONTENT_TYPE_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)""", re.I)

# Labels that browsers (WHATWG Encoding standard) decode with a superset codec.
_SUPERSETS = {
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "ascii": "cp1252",
    "iso8859_9": "cp1254",
    "iso8859_11": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
}

# Bytes that are never in text: C0 controls except \t \n \v \f \r, ESC and DEL.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
_MAX_CONTROL_FRACTION = 0.05
_MAX_NUL_FRACTION = 0.005


def _codec_name(label: str | None) -> str | None:
    """Python codec for a charset label (``"Windows-1251"``, ``"text/html; charset=koi8-r"``),
    with the WHATWG superset substitutions; ``None`` if unknown."""
    if not label:
        return None
    label = label.strip()
    m = _CONTENT_TYPE_CHARSET.search(label)
    if m:
        label = m.group(1)
    try:
        name = codecs.lookup(label.strip("\"' ").lower()).name
    except LookupError:
        return None
    name = name.replace("-", "_")
    return _SUPERSETS.get(name, name)


def _sniff_declared(data: bytes) -> str | None:
    head = data[:_SNIFF_BYTES]
    m = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return m.group(1).decode("ascii") if m else None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM shows NULs in every other byte (for Latin text)."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    n = len(even)
    even_nul, odd_nul = even.count(0) / n, odd.count(0) / n
    if odd_nul > 0.4 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.4 and odd_nul < 0.05:
        return "utf-16-be"
    return None


# Controls (C0 except whitespace, DEL, C1), the replacement character,
# private-use code points and lone surrogates.
_GARBLED = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff\ud800-\udfff]")


def _looks_garbled(text: str) -> bool:
    """True when more than 5 % of the characters are controls, replacement
    characters, private-use code points or lone surrogates."""
    return bool(text) and len(_GARBLED.findall(text)) > _MAX_CONTROL_FRACTION * len(text)


def _checked(text: str, encoding: str) -> str:
    if _looks_garbled(text):
        raise RejectedInput(f"binary or garbled data (decoded as {encoding}: mostly control characters)")
    return text


# The legacy encodings that web pages, feeds and exported text actually use,
# in order of preference when two decode a text equally well (cp1252 first: the
# most common on the web). Unrestricted, charset-normalizer proposes DOS, Mac
# and rare ISO code pages (cp852 for English with curly quotes, iso8859_10 for
# Polish, cp1250 for French: "très" -> "trčs"); those only count when none of
# these decodes the bytes.
_COMMON_LEGACY = (
    "cp1252", "cp1250", "iso8859_2", "cp1251", "koi8_r", "koi8_u", "iso8859_5", "cp1253",
    "iso8859_7", "cp1254", "cp1257", "iso8859_15", "gb18030", "big5", "cp932", "euc_jp",
    "cp949", "cp1255", "iso8859_8", "cp1256", "cp874",
)
_SAMPLE_BYTES = 4096
_MESS_SLACK = 0.05
_ACCEPTABLE_MESS = 0.2
# Random high bytes score 1.4-1.9 in every encoding; real text in the right one < 0.1.
_MAX_MESS = 1.0


def _sample(data: bytes) -> bytes:
    """Up to 4 KB of the lines that hold non-ASCII bytes: where encodings differ."""
    out, size = [], 0
    for line in data.splitlines():
        if not line.isascii():
            out.append(line)
            size += len(line)
            if size >= _SAMPLE_BYTES:
                break
    return b"\n".join(out)[: _SAMPLE_BYTES * 2]


_NON_ASCII_WORD = re.compile(r"\w*[^\x00-\x7f]\w*")
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "HALFWIDTH": "CJK", "FULLWIDTH": "CJK"}


def _mixed_script_words(text: str) -> int:
    """Words mixing letters of two scripts ("Maكnahmen": German ß read as
    Arabic); a wrong single-byte encoding produces them, real text hardly."""
    mixed = 0
    for word in _NON_ASCII_WORD.findall(text):
        scripts = set()
        for ch in word:
            if ch.isalpha():
                script = unicodedata.name(ch, "?").split(" ", 1)[0]
                scripts.add(_SCRIPT_GROUPS.get(script, script))
        mixed += len(scripts) > 1
    return mixed


def _detect(data: bytes) -> tuple[str, str] | None:
    """Pick among the common legacy encodings that decode ``data``: those whose
    text looks least like mojibake (charset-normalizer's mess ratio, within
    0.05 of the best), then with the fewest words mixing two scripts, then the
    most coherent with some language's letter frequencies, then the more
    common encoding (order of ``_COMMON_LEGACY``).
    When none fits well, charset-normalizer's unrestricted guess may win."""
    import charset_normalizer
    from charset_normalizer.cd import coherence_ratio
    from charset_normalizer.md import mess_ratio

    sample = _sample(data)
    scored = []
    for rank, encoding in enumerate(_COMMON_LEGACY):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        text = sample.decode(encoding, errors="replace")
        scored.append((mess_ratio(text, 1.0), rank, encoding, text))
    best: tuple[float, str] | None = None
    if scored:
        least = min(m for m, *_ in scored)
        close = [(rank, encoding, text) for m, rank, encoding, text in scored if m <= least + _MESS_SLACK]
        if len(close) > 1:
            mixed, coherence = {}, {}
            for rank, encoding, text in close:
                mixed[encoding] = _mixed_script_words(text)
                languages = coherence_ratio(text, 0.1)
                coherence[encoding] = round(languages[0][1], 2) if languages else 0.0
            close.sort(key=lambda c: (mixed[c[1]], -coherence[c[1]], c[0]))
        best = (least, close[0][1])
    if best is not None and best[0] <= _ACCEPTABLE_MESS:
        return data.decode(best[1]), best[1]
    guess = charset_normalizer.from_bytes(data).best()
    if guess is not None and (best is None or mess_ratio(str(guess)[:_SAMPLE_BYTES], 1.0) < best[0]):
        return str(guess), guess.encoding
    if best is not None and best[0] <= _MAX_MESS:
        return data.decode(best[1]), best[1]
    return None


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode the bytes of a text, HTML or XML document to ``str``.

    Order: a byte-order mark (UTF-8/16/32) wins; then strict UTF-8; then the
    declared charset (``declared`` may be a label or a Content-Type value; when it
    is ``None`` an HTML ``<meta charset>`` or XML ``encoding=`` in the first 2 KB
    is used), with the browsers' superset rule (latin-1/ascii -> cp1252); then
    charset-normalizer's guess (ties resolved in favour of cp1252).

    Raises ``RejectedInput`` for binary data: NUL bytes (more than 0.5 % outside
    UTF-16/32; a few stray NULs are dropped), more than 5 % control bytes, or bytes no encoding explains. Empty input
    gives ``""``. The BOM is not part of the result.
    """
    if not data:
        return ""
    data = bytes(data)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data[len(bom):].decode(encoding), encoding)
            except UnicodeDecodeError as exc:
                raise RejectedInput(f"undecodable: {encoding} byte-order mark but invalid {encoding} ({exc.reason})") from None

    nuls = data.count(0)
    if nuls:
        encoding = _utf16_without_bom(data)
        if encoding is not None:
            try:
                return _checked(data.decode(encoding), encoding)
            except UnicodeDecodeError:
                pass
        if nuls > _MAX_NUL_FRACTION * len(data):
            raise RejectedInput(f"binary data: {nuls} NUL bytes")
        # Real web pages carry the odd stray NUL (seen in the wild after an <img>).
        data = data.replace(b"\x00", b"")

    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if controls > _MAX_CONTROL_FRACTION * len(data):
        raise RejectedInput(f"binary data: {controls} of {len(data)} bytes are control characters")

    try:
        return _checked(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass

    codec = _codec_name(declared if declared is not None else _sniff_declared(data))
    if codec and not codec.startswith(("utf_16", "utf_32", "utf_8")):
        try:
            return _checked(data.decode(codec), codec)
        except UnicodeDecodeError:
            pass

    guess = _detect(data)
    if guess is None:
        raise RejectedInput("undecodable: not UTF-8 and no character encoding fits")
    text, encoding = guess
    return _checked(text, encoding)


# ---------------------------------------------------------------------------
# fix_text
# ---------------------------------------------------------------------------

# Only entities with their closing ";" are unescaped: "AT&T", "R&D" and
# "&notice" stay as written (html.unescape alone would turn "&not" into "¬").
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Invisible characters removed outright: soft hyphen, zero-width space, word
# joiner, BOM. ZWJ/ZWNJ (U+200C/D) are kept: Persian, Indic scripts and emoji need them.
_INVISIBLE = "\u00ad\u200b\u2060\ufeff"
# C0/C1 controls other than tab and the line breaks (\n \v \f \r \x85): each
# becomes a space. With these gone, ``str.splitlines`` splits at exactly the
# line breaks \r\n \r \n \v \f \x85 U+2028 U+2029 (its other separators,
# \x1c-\x1e, are among these controls).
_STRAY_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


# Characters only ftfy repairs well (C1 controls, surrogates, Latin ligatures);
# everything else ftfy would change is mojibake, which its own ``is_bad`` finds.
_NEEDS_FTFY = re.compile("[\x80-\x9f\ud800-\udfff\ufb00-\ufb06]")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")  # what ftfy's remove_control_chars drops
_TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


# A cheap gate in front of ftfy's own (costly) badness check: mojibake of UTF-8
# decoded as latin-1/cp1252 puts a lead byte (Â..ô) before a continuation byte
# (U+0080..U+00BF or a cp1252 punctuation mark); decoded as cp1251 it puts Р/С
# before one of cp1251's 0x80..0xBF characters. U+FFFD marks lossy decoding.
_CP1252_CONT = "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
_CP1251_CONT = "\u00a0\u00a4\u00a6\u00a7\u00a9\u00ab-\u00ae\u00b0\u00b1\u00b5-\u00b7\u00bb\u0401-\u040c\u040e\u040f\u0451-\u045c\u045e\u045f\u0490\u0491\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2116\u2122"
# Two searches, each opening with one character class, are twice as fast as one
# search for the alternation (the regex engine skips ahead only to a class).
_MAYBE_CP1252_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][{_CP1252_CONT}]")
_MAYBE_CP1251_MOJIBAKE = re.compile(f"[\u0420\u0421][{_CP1251_CONT}]")


def _maybe_mojibake(s: str) -> bool:
    return bool("\ufffd" in s or _MAYBE_CP1252_MOJIBAKE.search(s) or _MAYBE_CP1251_MOJIBAKE.search(s))


def _is_bad(s: str) -> bool:
    if not _maybe_mojibake(s):
        return False
    from ftfy.badness import is_bad

    return is_bad(s)


@lru_cache(maxsize=1)
def _ftfy_config():  # built lazily: importing ftfy is not free
    import ftfy

    return ftfy.TextFixerConfig(
        unescape_html=False,  # done below, only for complete entities
        fix_encoding=True,
        restore_byte_a0=True,
        replace_lossy_sequences=True,
        decode_inconsistent_utf8=True,
        fix_c1_controls=True,
        fix_latin_ligatures=True,
        fix_character_width=False,  # full-width forms are deliberate in CJK text
        uncurl_quotes=False,  # typographic quotes are correct text, keep them
        fix_line_breaks=True,
        fix_surrogates=True,
        remove_terminal_escapes=True,
        remove_control_chars=True,
        normalization="NFC",
        explain=False,
    )


def _unescape_entity(m: re.Match[str]) -> str:
    return _html.unescape(m.group(0))


def fix_text(s: str) -> str:
    """Repair text for storage and matching.

    - mojibake (UTF-8 read as cp1252/latin-1, e.g. ``CafÃ©`` -> ``Café``) via ftfy
      with conservative settings: quotes, full-width forms are left alone;
    - HTML entities left in plain text (``&amp;``, ``&#8217;``) are unescaped;
      only complete entities ending in ``;`` (so ``AT&T`` is untouched);
    - Unicode NFC; control and invisible characters removed;
    - whitespace: every line break style becomes ``\n``; each non-empty line is a
      paragraph, paragraphs are separated by exactly one ``\n``; runs of spaces,
      tabs and no-break spaces become one space; lines are trimmed.
    """
    if not s:
        return ""
    if (not s.isascii()) and (_NEEDS_FTFY.search(s) or _is_bad(s)):
        import ftfy

        s = ftfy.fix_text(s, _ftfy_config())
    else:  # nothing for ftfy's costly passes to repair: do its cheap ones here
        if "\x1b" in s:
            s = _TERMINAL_ESCAPE.sub("", s)
        s = _CONTROLS.sub("", s)
    for _ in range(2):  # "&amp;eacute;" is escaped twice
        if "&" not in s:
            break
        s = _ENTITY.sub(_unescape_entity, s)
    if not s.isascii():  # ASCII has no invisible characters and is NFC already
        for ch in _INVISIBLE:
            if ch in s:
                s = s.replace(ch, "")
        s = unicodedata.normalize("NFC", s)
    if _STRAY_CONTROLS.search(s):
        s = _STRAY_CONTROLS.sub(" ", s)
    # Per line: whitespace runs (str.split's whitespace is the regex's \s) -> one space, trimmed.
    return "\n".join(filter(None, [" ".join(line.split()) for line in s.splitlines()]))


# ---------------------------------------------------------------------------
# html_to_text
# ---------------------------------------------------------------------------

# Below this many characters of visible text an HTML input counts as a short
# fragment (a feed summary); those fall back to plain text extraction when
# the boilerplate remover finds no "main text" in them.
SHORT_HTML_CHARS = 2000

_DROP_TAGS = ("script", "style", "noscript", "template", "head", "iframe", "svg", "object", "embed")
_BLOCK_TAGS = frozenset(
    "p div br li ul ol dl dt dd h1 h2 h3 h4 h5 h6 blockquote pre table tr td th "
    "article section header footer aside nav main figure figcaption hr address form".split()
)


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>", re.I)


@lru_cache(maxsize=1)
def _html_parser():
    import lxml.html

    return lxml.html.HTMLParser(collect_ids=False, default_doctype=False, remove_comments=True, remove_pis=True)


def _parse(html: str):
    """An lxml document for a page or a fragment (fragments get <html><body>)."""
    import lxml.etree
    import lxml.html

    html = _XML_DECLARATION.sub("", html, count=1)  # lxml refuses str with an encoding declaration
    try:
        return lxml.html.document_fromstring(html, parser=_html_parser())
    except (lxml.etree.ParserError, ValueError):
        return None


def _meta_content(tree, xpath: str) -> str | None:
    for value in tree.xpath(xpath):
        value = fix_text(str(value))
        if value:
            return value
    return None


def _title_of(tree) -> str | None:
    """og:title / twitter:title, else the single <h1>, else <title>."""
    title = _meta_content(
        tree,
        "//meta[@property='og:title' or @name='og:title' or @name='twitter:title']/@content",
    )
    if title:
        return title
    h1 = tree.xpath("//h1")
    if len(h1) == 1:
        title = fix_text(h1[0].text_content())
        if title:
            return title
    return _meta_content(tree, "//title/text()")


def _plain_text(tree) -> str:
    """All visible text of a (small) tree, block elements on their own lines."""
    import copy

    tree = copy.deepcopy(tree)
    for el in tree.xpath("|".join(f"//{t}" for t in _DROP_TAGS)):
        el.drop_tree()
    for el in tree.iter():
        if isinstance(el.tag, str) and el.tag.lower() in _BLOCK_TAGS:
            el.text = "\n" + (el.text or "")
            el.tail = "\n" + (el.tail or "")
    return fix_text(tree.text_content())


# Characters lxml refuses in text nodes (real pages carry them now and then).
_XML_INCOMPATIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FULL_DOCUMENT = re.compile(r"<(?:html|body|head)[\s>]", re.I)
_BULLET = re.compile(r"^[-*•]\s+")
# A "main text" in which at least this share of characters is link texts is a
# navigation page (section front, tag list), not an article.
MAX_LINK_SHARE = 0.8


def _link_share(tree, text: str) -> float:
    """The share of ``text``'s characters on lines that are just a link's text."""
    anchors = {" ".join(a.text_content().split()) for a in tree.iter("a")}
    anchors.discard("")
    if not anchors or not text:
        return 0.0
    linked = sum(len(line) for line in text.split("\n") if _BULLET.sub("", line) in anchors)
    return linked / len(text)


def html_to_text(html: str, url: str | None = None) -> tuple[str | None, str]:
    """``(title, main_text)`` of an HTML page or fragment, boilerplate removed.

    Documents (and long fragments) go through trafilatura (comments excluded;
    navigation, footers, cookie banners and link lists are its boilerplate):
    see docs/extraction.md. A short fragment without ``<html>``/``<body>``
    (under ``SHORT_HTML_CHARS`` of visible text, such as a feed summary) is
    already main text: its visible text is returned as it is; so is a short
    document in which trafilatura finds nothing.
    The title is og:title, else the only ``<h1>``, else ``<title>``.

    Raises ``RejectedInput("no main text in HTML ...")`` for empty, script-only
    or unparseable HTML, for long pages in which no main text is found, and for
    pages whose "main text" is only link texts (navigation pages).
    """
    import trafilatura

    if not html or not html.strip():
        raise RejectedInput("no main text in HTML (empty)")
    tree = _parse(_XML_INCOMPATIBLE.sub("", html))
    if tree is None:
        raise RejectedInput("no main text in HTML (unparseable)")
    title = _title_of(tree)
    if not _FULL_DOCUMENT.search(html[:5000]):
        plain = _plain_text(tree)
        if len(plain) <= SHORT_HTML_CHARS:
            if not plain:
                raise RejectedInput("no main text in HTML")
            return title, plain
    text = trafilatura.extract(
        tree, url=url, include_comments=False, include_tables=True, with_metadata=False
    )
    text = fix_text(text or "")
    if not text:
        plain = _plain_text(tree)
        if plain and len(plain) <= SHORT_HTML_CHARS:
            text = plain
    if not text:
        raise RejectedInput("no main text in HTML")
    if _link_share(tree, text) >= MAX_LINK_SHARE:
        raise RejectedInput("no main text in HTML (only navigation links)")
    return title, text


_NON_LETTERS = re.compile(r"[\W\d_]+")


def count_letters(text: str, enough: int | None = None) -> int:
    """Letters in ``text`` (word characters that are neither digits nor ``_``);
    with ``enough``, counting stops once that many are found (the result is then
    at least ``enough``; most texts have them in their first 64 characters)."""
    if enough is None:
        return len(_NON_LETTERS.sub("", text))
    count, start, step = 0, 0, 64
    while start < len(text):
        count += len(_NON_LETTERS.sub("", text[start : start + step]))
        if count >= enough:
            break
        start, step = start + step, 512
    return count
