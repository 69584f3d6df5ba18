"""transforms.enrich.text: decoding, text repair, HTML main-text extraction."""

from __future__ import annotations

import codecs
import random

import pytest

from transforms.common.records import RejectedInput
from transforms.enrich.text import SHORT_HTML_CHARS, decode_bytes, fix_text, html_to_text

RUSSIAN = "Правительство объявило о новых мерах поддержки экономики и снижении налогов."
FRENCH = "Le garçon a dit « bonjour » — c’était très sympa, à côté de l’église. " * 3
GERMAN = "Müller aß Käse in München; die Straße war voller Grüße."
POLISH = "Zażółć gęślą jaźń. Rząd ogłosił nowe przepisy dotyczące źródeł energii."

# ---------------------------------------------------------------------------
# decode_bytes
# ---------------------------------------------------------------------------


def test_plain_utf8():
    assert decode_bytes("Grüße, 東京, Київ".encode()) == "Grüße, 東京, Київ"


def test_empty_bytes_give_empty_text():
    assert decode_bytes(b"") == ""


@pytest.mark.parametrize(
    "bom, codec",
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_byte_order_marks(bom, codec):
    text = "Grüße aus Köln — " + RUSSIAN
    assert decode_bytes(bom + text.encode(codec)) == text


def test_utf16_with_bom_via_python_codec():
    assert decode_bytes("Ceasefire talks resume in Doha.".encode("utf-16")) == "Ceasefire talks resume in Doha."


def test_utf16_without_bom_is_recognised_from_its_nul_pattern():
    text = "Ceasefire talks resume in Doha on Monday."
    assert decode_bytes(text.encode("utf-16-le")) == text
    assert decode_bytes(text.encode("utf-16-be")) == text


def test_cp1252_smart_quotes():
    text = "He said “we will not back down” – it’s the minister’s final word… €5bn"
    assert decode_bytes(text.encode("cp1252")) == text


def test_cp1252_french_is_not_taken_for_central_european():
    # charset-normalizer alone ranks cp1250 first here and yields "trčs".
    assert decode_bytes(FRENCH.encode("cp1252")) == FRENCH


def test_latin1_german():
    assert decode_bytes(GERMAN.encode("latin-1")) == GERMAN


@pytest.mark.parametrize("codec", ["koi8-r", "cp1251"])
def test_russian_legacy_encodings(codec):
    assert decode_bytes(RUSSIAN.encode(codec)) == RUSSIAN


def test_iso_8859_2_polish():
    assert decode_bytes(POLISH.encode("iso-8859-2")) == POLISH


def test_declared_charset_is_used():
    data = "Привет".encode("koi8-r")  # far too short to detect reliably
    assert decode_bytes(data, "koi8-r") == "Привет"
    assert decode_bytes(data, "text/html; charset=KOI8-R") == "Привет"


def test_declared_latin1_means_cp1252_like_browsers():
    assert decode_bytes("“quoted”".encode("cp1252"), "iso-8859-1") == "“quoted”"


def test_html_meta_charset_is_sniffed():
    page = b'<html><head><meta charset="koi8-r"></head><body>' + "Привет".encode("koi8-r") + b"</body></html>"
    assert "Привет" in decode_bytes(page)


def test_http_equiv_content_type_is_sniffed():
    page = (
        b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        b"</head><body>" + "Мир".encode("cp1251") + b"</body></html>"
    )
    assert "Мир" in decode_bytes(page)


def test_xml_declaration_is_sniffed():
    feed = b'<?xml version="1.0" encoding="windows-1251"?><rss><title>' + "Мир".encode("cp1251") + b"</title></rss>"
    assert "<title>Мир</title>" in decode_bytes(feed)


def test_wrong_declaration_does_not_beat_valid_utf8():
    assert decode_bytes("Grüße".encode(), "koi8-r") == "Grüße"


def test_unknown_declared_charset_is_ignored():
    assert decode_bytes(GERMAN.encode("latin-1"), "x-no-such-charset") == GERMAN


def _random_bytes(seed: int, low: int, n: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(low, 256) for _ in range(n))


@pytest.mark.parametrize(
    "data",
    [
        _random_bytes(1, 0, 4000),
        _random_bytes(2, 1, 4000),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
        b"\x1f\x8b\x08\x00" + _random_bytes(3, 0, 2000),
        b"\x00" * 100,
        b"\x01\x02\x03\x04\x05\x06" * 50,
    ],
    ids=["random", "random-no-nul", "png", "gzip", "nuls", "controls"],
)
def test_binary_garbage_is_rejected(data):
    with pytest.raises(RejectedInput):
        decode_bytes(data)


def test_a_few_stray_nuls_in_a_real_page_are_dropped():
    page = b"<html><body><p>" + b"Real news text. " * 200 + b"\x00\x00\x00</p></body></html>"
    out = decode_bytes(page)
    assert "\x00" not in out and out.count("Real news text.") == 200


def test_rejection_reason_is_readable():
    with pytest.raises(RejectedInput, match="binary"):
        decode_bytes(b"\x00\x01\x02\x03" * 100)


# ---------------------------------------------------------------------------
# fix_text
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "broken, fixed",
    [
        ("CafÃ©", "Café"),
        ("The minister said â€œnoâ€\x9d", "The minister said “no”"),
        ("itâ€™s", "it’s"),
        ("MÃ¼ller in MÃ¼nchen", "Müller in München"),
    ],
)
def test_mojibake_is_repaired(broken, fixed):
    assert fix_text(broken) == fixed


def test_correct_text_is_left_alone():
    for text in ("“Quoted” and ‘single’ — dashes…", RUSSIAN, "東京都の発表によると", "naïve café", POLISH):
        assert fix_text(text) == text


def test_entities_in_plain_text_are_unescaped():
    assert fix_text("Tom &amp; Jerry&#8217;s &quot;show&quot; &eacute;t&eacute;") == "Tom & Jerry’s \"show\" été"


def test_double_escaped_entity():
    assert fix_text("Fish &amp;amp; chips") == "Fish & chips"


def test_ampersands_that_are_not_entities_stay():
    assert fix_text("AT&T and R&D &notice Q&A") == "AT&T and R&D &notice Q&A"


def test_nfc():
    assert fix_text("e\u0301te\u0301") == "été"


def test_control_and_invisible_characters_are_removed():
    assert fix_text("a\x07b\x1bc zero\u200bwidth soft\u00adhyphen\ufeff") == "abc zerowidth softhyphen"


def test_zero_width_joiners_are_kept():
    assert fix_text("می\u200cخواهم") == "می\u200cخواهم"


def test_whitespace_is_normalised_to_paragraph_lines():
    messy = "  First\t\tparagraph  here. \r\n\r\n\n  Second\u00a0\u00a0one.\u2029Third\x0cpara.  \n \n"
    assert fix_text(messy) == "First paragraph here.\nSecond one.\nThird\npara."  # \f is a page break


def test_empty_and_blank():
    assert fix_text("") == ""
    assert fix_text(" \n\t \u00a0") == ""


@pytest.mark.parametrize(
    "messy, clean",
    [
        ("one\x00two\x1cthree\x1dfour\x1efive\x1fsix", "onetwothreefourfivesix"),  # controls, not line breaks
        ("tab\tand\x0bvertical\x0cform\u2028line", "tab andvertical\nform\nline"),
        ("caf\u00e9\x00bar \u2003 baz\x85", "cafébar baz…"),  # C1 NEL is cp1252's ellipsis
        ("zero&#x200b;width soft&shy;hyphen &#8232;x", "zerowidth softhyphen\nx"),  # invisible once unescaped
        ("plain ascii,  two   spaces.\n\n  Next. ", "plain ascii, two spaces.\nNext."),
    ],
)
def test_controls_separators_and_escaped_invisibles(messy, clean):
    assert fix_text(messy) == clean


def test_fix_text_is_idempotent_on_its_own_output():
    messy = "Caf\u00c3\u00a9  &amp;\u00a0bar\r\n\u200b\n e\u0301t\u00e9 \x1c x\u3000y"
    once = fix_text(messy)
    assert once == "Café & bar\nété x y"
    assert fix_text(once) == once


# ---------------------------------------------------------------------------
# html_to_text
# ---------------------------------------------------------------------------

ARTICLE_PARAGRAPHS = [
    "The finance ministers of twelve countries agreed on Tuesday to extend the freeze on central bank "
    "assets for another six months, officials said after a late-night meeting in Brussels.",
    "The decision follows weeks of negotiations over how the proceeds of the frozen funds should be "
    "used, with several delegations pressing for a faster timetable for reconstruction aid.",
    "“We have a responsibility to keep the pressure on,” the chair of the meeting told reporters, "
    "adding that the legal questions would be settled by the end of the year.",
    "Critics said the extension did little to address the underlying dispute, and warned that the "
    "courts could still overturn parts of the arrangement before it takes full effect.",
]

PAGE = f"""<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Ministers extend asset freeze | Example Daily</title>
<meta property="og:title" content="Ministers extend asset freeze by six months">
<script>window.dataLayer = [];</script>
<style>body {{ font-family: serif; }}</style>
</head><body>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience.
 <button>Accept all cookies</button> <a href="/privacy">Privacy settings</a></div>
<header><nav class="main-nav"><ul>
 <li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/business">Business</a></li>
 <li><a href="/sport">Sport</a></li><li><a href="/subscribe">Subscribe now</a></li></ul></nav></header>
<main><article>
<h1>Ministers extend asset freeze by six months</h1>
<p class="byline">By Ana Example, 15 March 2025</p>
{''.join(f'<p>{p}</p>' for p in ARTICLE_PARAGRAPHS)}
</article>
<aside class="related"><h2>Related stories</h2><ul>
 <li><a href="/a">Markets slide as talks stall</a></li>
 <li><a href="/b">Ten things to know about sanctions</a></li></ul></aside>
<section id="comments" class="comments"><h2>Comments</h2>
 <div class="comment"><p>Reader99: This is a disgrace and everyone knows it, total nonsense.</p></div></section>
</main>
<footer class="site-footer"><p>© 2025 Example Daily. All rights reserved.</p>
 <a href="/terms">Terms of use</a> <a href="/contact">Contact us</a></footer>
<script>trackPageView();</script>
</body></html>"""


def test_realistic_page_gives_title_and_main_text():
    title, text = html_to_text(PAGE, "https://example.com/world/asset-freeze")
    assert title == "Ministers extend asset freeze by six months"
    for paragraph in ARTICLE_PARAGRAPHS:
        assert paragraph in text


@pytest.mark.parametrize(
    "boilerplate",
    [
        "Accept all cookies",
        "We use cookies",
        "Subscribe now",
        "Related stories",
        "Markets slide as talks stall",
        "Reader99",
        "All rights reserved",
        "Terms of use",
        "trackPageView",
        "font-family",
    ],
)
def test_realistic_page_boilerplate_is_removed(boilerplate):
    _, text = html_to_text(PAGE)
    assert boilerplate not in text


def test_paragraphs_are_separate_lines():
    _, text = html_to_text(PAGE)
    lines = text.split("\n")
    assert all(p in lines for p in ARTICLE_PARAGRAPHS)


def test_title_falls_back_to_h1_then_title_tag():
    body = "".join(f"<p>{p}</p>" for p in ARTICLE_PARAGRAPHS)
    title, _ = html_to_text(f"<html><head><title>Tab title</title></head><body><h1>Heading</h1>{body}</body></html>")
    assert title == "Heading"
    title, _ = html_to_text(f"<html><head><title>Tab &amp; title</title></head><body>{body}</body></html>")
    assert title == "Tab & title"
    title, _ = html_to_text(f"<html><body>{body}</body></html>")
    assert title is None


@pytest.mark.parametrize(
    "fragment, expected",
    [
        ("<p>Police said on Monday that three people were hurt.</p>", "Police said on Monday that three people were hurt."),
        ("<div><p>Only one line of summary.</p></div>", "Only one line of summary."),
        (
            "Storms closed <b>two</b> airports.<br>Flights resume <a href='/x'>tomorrow</a>.",
            "Storms closed two airports.\nFlights resume tomorrow.",
        ),
        ("Plain summary text without any tags at all.", "Plain summary text without any tags at all."),
        ("<p>Talks &amp; votes &#8211; today.</p>", "Talks & votes – today."),
    ],
)
def test_short_fragments_keep_their_text(fragment, expected):
    assert html_to_text(fragment)[1] == expected


def test_xml_declaration_in_str_is_accepted():
    html = '<?xml version="1.0" encoding="utf-8"?><html><body><p>A short note about the vote.</p></body></html>'
    assert html_to_text(html)[1] == "A short note about the vote."


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n ",
        "<html><head><script>var a = 1;</script></head><body><script>document.write('x')</script></body></html>",
        "<html><body><div></div><style>p { color: red }</style></body></html>",
        "<!-- only a comment -->",
    ],
    ids=["empty", "blank", "script-only", "empty-body", "comment"],
)
def test_pages_without_text_are_rejected(html):
    with pytest.raises(RejectedInput, match="no main text in HTML"):
        html_to_text(html)


def test_long_page_of_pure_navigation_is_rejected():
    links = "".join(f'<li><a href="/s{i}">Section number {i}</a></li>' for i in range(400))
    page = f"<html><body><nav><ul>{links}</ul></nav></body></html>"
    assert len(page) > SHORT_HTML_CHARS
    with pytest.raises(RejectedInput, match="no main text in HTML"):
        html_to_text(page)


@pytest.mark.parametrize(
    "text, codec",
    [
        ("中华人民共和国国务院今天发布了新的经济政策，支持中小企业发展。", "gb18030"),
        ("東京都は本日、新しい経済対策を発表しました。", "cp932"),
        ("서울시는 오늘 새로운 경제 정책을 발표했습니다.", "cp949"),
        ("Η κυβέρνηση ανακοίνωσε νέα μέτρα για την οικονομία.", "cp1253"),
        ("أعلنت الحكومة اليوم عن إجراءات جديدة", "cp1256"),
        ("Україна отримає нову допомогу від партнерів, її обсяг зріс.", "koi8-u"),
    ],
)
def test_other_legacy_encodings(text, codec):
    assert decode_bytes(text.encode(codec)) == text


def test_random_high_bytes_are_rejected():
    with pytest.raises(RejectedInput, match="undecodable"):
        decode_bytes(_random_bytes(4, 128, 600))


def test_control_characters_inside_markup_do_not_break_extraction():
    html = "<html><body><div>\x0bVertical\x08 tab</div><p>Police said three people were hurt\x1b.</p></body></html>"
    assert "Police said three people were hurt." in html_to_text(html)[1]


def test_cp1252_german_is_not_read_as_arabic():
    # cp1256 maps ß/ä to Arabic letters and keeps ü/ö: "Maكnahmen", "Plنne".
    text = "Die Regierung kündigte am Montag neue Maßnahmen an. „Wir müssen jetzt handeln“, sagte die Ministerin."
    assert decode_bytes(text.encode("cp1252")) == text


@pytest.mark.parametrize(
    "broken, fixed",
    [
        ("РџСЂРёРІРµС‚ РјРёСЂ", "Привет мир"),  # UTF-8 read as cp1251
        ("Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "привет"),  # UTF-8 read as latin-1
        ("The â€œquotedâ€\x9d word", "The “quoted” word"),  # UTF-8 read as cp1252
    ],
)
def test_mojibake_behind_the_cheap_gate_is_still_repaired(broken, fixed):
    assert fix_text(broken) == fixed


@pytest.mark.parametrize(
    "clean",
    ["Россия и Рим: переговоры «в Женеве» — 15 марта", "Zürich, Kraków, Łódź – «Café» №5", "Ελλάδα και Κύπρος"],
)
def test_clean_non_ascii_text_passes_unchanged(clean):
    assert fix_text(clean) == clean
