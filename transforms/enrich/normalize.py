"""RawArticle -> Article: canonical URL, source, dates, repaired text, ids.

Pure functions first (tested without Beam), then the composite
:class:`NormalizeArticles`. Counters (namespace ``newsbeam.normalize``, from
:class:`~transforms.common.stage.GuardedMap`): ``in``, ``out``, ``rejected``.

Decisions (see also docs/extraction.md):

- ``canonical_url`` drops a leading ``www.``: the canonical URL is an identity
  key (exact-duplicate marking compares it), and ``www.x.com/a`` and ``x.com/a``
  are the same article in practice. Hosts are stored in ASCII (punycode).
- ``article_id`` hashes a versioned string of the origin, canonical URL, title
  and text, so the same input gives the same id on every run and runner.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import hashlib
import ipaddress
import re
import unicodedata
import warnings
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import apache_beam as beam

from transforms.common.stage import GuardedMap, guarded, run_length
from transforms.common.records import RejectedInput
from transforms.common.unicode import valid_unicode
from transforms.enrich.text import count_letters, fix_text, html_to_text

__all__ = [
    "canonical_url",
    "source_domain",
    "parse_date",
    "date_and_reason",
    "article_id",
    "content_hash",
    "strip_bylines",
    "normalize_article",
    "NormalizeArticles",
    "STAGE",
    "MIN_LETTERS",
]

STAGE = "normalize"
MIN_LETTERS = 20
ID_VERSION = "newsbeam-article-v1"
CONTENT_HASH_VERSION = "newsbeam-content-v1"
TITLE_FREE_CHARS = 150  # content_hash ignores titles of texts at least this long

# ---------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------

_TRACKING_PARAMS = frozenset(
    """
    fbclid gclid gclsrc dclid gbraid wbraid msclkid yclid twclid ttclid li_fat_id igshid
    mc_cid mc_eid _ga _gl _hsenc _hsmi __hstc __hssc __hsfp hsctatracking mkt_tok
    ref_src ref_url spm scm ncid ocid xtor sr_share soc_src soc_trk at_medium at_campaign
    at_custom1 at_custom2 at_custom3 at_custom4 cmpid oly_anon_id oly_enc_id vero_id vero_conv
    wickedid rb_clickid s_kwcid ef_id trk trkcampaign smid smtyp utm
    """.split()
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "__s")
# Characters left as they are in a path / query value; everything else is %-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_PCT = re.compile(r"%[0-9a-fA-F]{2}")
_HOST_OK = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WWW = re.compile(r"^www\d?\.")
_MOBILE = re.compile(r"^(?:www\d?|m|mobile|amp)\.")


def _is_tracking(key: str) -> bool:
    k = key.lower()
    return k in _TRACKING_PARAMS or k.startswith(_TRACKING_PREFIXES)


def _ascii_host(host: str) -> str | None:
    host = host.strip().rstrip(".").lower()
    if not host:
        return None
    if host.startswith("[") or ":" in host:  # IPv6 literal
        try:
            return f"[{ipaddress.IPv6Address(host.strip('[]')).compressed}]"
        except ValueError:
            return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOST_OK.match(host) else None


def _upper_escapes(s: str) -> str:
    return _PCT.sub(lambda m: m.group(0).upper(), s)


def canonical_url(url: str | None) -> str | None:
    """The canonical form of an http(s) URL, or ``None`` when there is none.

    Scheme and host lower-cased; host in ASCII (IDN -> punycode), a leading
    ``www.`` removed, trailing dot removed; default ports dropped; user info and
    fragment dropped; tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ...)
    dropped and the rest sorted by name (values of a repeated name keep their
    order); non-ASCII in path and query %-encoded, escapes upper-cased; an
    empty path becomes ``/``. The path is otherwise untouched (no trailing-slash
    or dot-segment games). ``//host/path`` is taken as https. Anything that is not
    http(s) or does not parse gives ``None``.
    """
    if not url or not isinstance(url, str):
        return None
    url = valid_unicode(url)[0].strip()  # quote() would raise on a lone surrogate
    if url.startswith("//"):
        url = "https:" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = _ascii_host(parts.hostname)
    if host is None:
        return None
    host = _WWW.sub("", host)
    if "." not in host and not host.startswith("[") and host != "localhost":
        return None
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _upper_escapes(quote(parts.path, safe=_PATH_SAFE)) or "/"
    query = ""
    if parts.query:
        pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
        pairs.sort(key=lambda kv: kv[0])
        query = urlencode(pairs, quote_via=quote, safe="-._~")
    return urlunsplit((scheme, netloc, path, query, ""))


def source_domain(url: str | None, fallback: str | None = None) -> str | None:
    """The outlet's host for ``url`` without ``www.``/``m.``/``amp.`` (``bbc.co.uk``,
    ``edition.cnn.com``); without a usable URL, ``fallback`` (a URL, a domain or
    an outlet name as given) in the same form; ``None`` if neither gives one."""
    for is_fallback, candidate in ((False, url), (True, fallback)):
        if not candidate or not isinstance(candidate, str) or not candidate.strip():
            continue
        candidate = candidate.strip()
        as_url = candidate if "//" in candidate else "https://" + candidate
        canon = canonical_url(as_url) if " " not in candidate else None
        if canon:
            host = urlsplit(canon).hostname or ""
            stripped = _MOBILE.sub("", host)
            return stripped if "." in stripped else host
        if is_fallback:
            name = " ".join(fix_text(candidate).split())
            return name or None
    return None


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------

_H = 3600
# Unambiguous zone abbreviations seen in feeds. IST (India/Ireland/Israel) and
# CST (US/China) stay out except where RFC 822 fixes their meaning (CST = US).
_TZ_OFFSETS = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0,
    "EST": -5 * _H, "EDT": -4 * _H, "CST": -6 * _H, "CDT": -5 * _H,
    "MST": -7 * _H, "MDT": -6 * _H, "PST": -8 * _H, "PDT": -7 * _H,
    "AKST": -9 * _H, "AKDT": -8 * _H, "HST": -10 * _H,
    "BST": 1 * _H, "WEST": 1 * _H, "CET": 1 * _H, "CEST": 2 * _H, "MEZ": 1 * _H, "MESZ": 2 * _H,
    "EET": 2 * _H, "EEST": 3 * _H, "MSK": 3 * _H, "JST": 9 * _H, "KST": 9 * _H,
    "HKT": 8 * _H, "SGT": 8 * _H, "AWST": 8 * _H, "ACST": 9 * _H + 1800, "AEST": 10 * _H,
    "AEDT": 11 * _H, "NZST": 12 * _H, "NZDT": 13 * _H,
}
_TZINFOS = {name: dt.timezone(dt.timedelta(seconds=off)) for name, off in _TZ_OFFSETS.items()}
_EPOCH = re.compile(r"^\d{9,13}(?:\.\d+)?$")
_DOTTED_DMY = re.compile(r"^\s*\d{1,2}\.\d{1,2}\.\d{2,4}\b")
_LABEL = re.compile(r"^\s*(?:published|updated|posted|date|last modified)(?:\s+on)?\s*[:\-]?\s*", re.I)
_MIN_YEAR = 1990
_MAX_FUTURE = dt.timedelta(days=2)
_DEFAULT = dt.datetime(2000, 1, 1)


def _to_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


_RFC822 = re.compile(r"^(?:[A-Za-z]{3},?\s+)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s")
# "2:30:00 PM": not RFC 822, and email.utils drops the PM (12 hours off); dateutil reads it
_AM_PM = re.compile(r"\d\s*[AP]\.?M\b", re.I)


def _parse_rfc822(value: str) -> dt.datetime | None:
    """RFC 822/2822 (feeds). email.utils knows only the US zone names; the
    others in ``_TZ_OFFSETS`` are applied here; an unknown name counts as UTC."""
    try:
        fields = email.utils.parsedate_tz(value)
    except (TypeError, ValueError, IndexError):
        return None
    if fields is None:
        return None
    zone = value.rsplit(None, 1)[-1].upper()
    offset = _TZ_OFFSETS.get(zone, fields[9] or 0)
    try:
        stamp = dt.datetime(*fields[:6], tzinfo=dt.timezone(dt.timedelta(seconds=offset)))
    except (ValueError, OverflowError):
        return None
    return stamp


class _NotADate(ValueError):
    """A value that parsed to no plausible date; the message is the reason."""


_DIGIT_RUNS = re.compile(r"\d+")


def _year_written(value: str, year: int) -> bool:
    """dateutil fills what a value lacks from a default (``-1`` -> 2000-01-01,
    ``March 15`` -> 2000-03-15): its result counts only when the year is written."""
    runs = _DIGIT_RUNS.findall(value)
    return str(year) in runs or (f"{year % 100:02d}" in runs and len(runs) >= 3)


def _parse_any(value: str) -> dt.datetime:
    if _EPOCH.match(value):
        seconds = float(value)
        if len(value.split(".")[0]) == 13:  # milliseconds
            seconds /= 1000
        return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        pass
    if _RFC822.match(value) and not _AM_PM.search(value):
        parsed = _parse_rfc822(value)
        if parsed is not None:
            return parsed
    from dateutil import parser as date_parser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UnknownTimezoneWarning: the zone is then ignored (UTC)
        try:
            parsed = date_parser.parse(
                value, tzinfos=_TZINFOS, default=_DEFAULT, dayfirst=bool(_DOTTED_DMY.match(value))
            )
        except (ValueError, OverflowError, TypeError):
            raise _NotADate("not a date") from None
    if not _year_written(value, parsed.year):
        raise _NotADate("not a date (no year in it)")
    return parsed


def _shown(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def date_and_reason(value: Any, *, now: dt.datetime | None = None) -> tuple[str | None, str | None]:
    """``(published_at, None)`` for a plausible date, ``(None, reason)`` for a value
    that is not one (the reason readable, quoting at most 40 characters of the value),
    ``(None, None)`` for no value. See :func:`parse_date`. Never raises."""
    if value is None:
        return None, None
    value = " ".join(str(value).split())
    value = _LABEL.sub("", value)
    if not value:
        return None, None
    try:
        parsed = _to_utc(_parse_any(value))
    except _NotADate as exc:
        return None, f"{_shown(value)} is {exc}"
    except (ValueError, OverflowError, OSError, TypeError) as exc:
        if "offset" in str(exc) or "utcoffset" in str(exc):
            return None, f"{_shown(value)} has a UTC offset out of range"
        return None, f"{_shown(value)} is not a date ({'out of range' if 'range' in str(exc) else 'unreadable'})"
    reference = _to_utc(now) if now is not None else dt.datetime.now(dt.timezone.utc)
    if parsed.year < _MIN_YEAR:
        return None, f"{_shown(value)} is before {_MIN_YEAR}"
    if parsed > reference + _MAX_FUTURE:
        return None, f"{_shown(value)} is more than {_MAX_FUTURE.days} days in the future"
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ"), None


def parse_date(value: str | None, *, now: dt.datetime | None = None) -> str | None:
    """A publication date as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or ``None``.

    Understands RFC 822 feed dates (``Sat, 15 Mar 2025 14:30:00 GMT``, ``EST``,
    ``+0100``), ISO 8601 with or without zone, epoch seconds (or milliseconds),
    and common forms (``March 15, 2025``, ``15.03.2025 14:30`` - dotted dates are
    day-first, ``2025/03/15``). A date without a zone is taken as UTC; a date
    without a time is midnight. English month names only.

    Returns ``None`` for unparseable values (a bare ``-1``, a date without a year,
    an offset such as ``+99:99``) and for implausible ones: before 1990, or more
    than 2 days after ``now`` (default: the current time).
    :func:`date_and_reason` also says why. Never raises.
    """
    return date_and_reason(value, now=now)[0]


# ---------------------------------------------------------------------------
# Ids and content keys
# ---------------------------------------------------------------------------

_ENTRY_SUFFIX = re.compile(r"#entry \d+$")


def _digest(*fields: str) -> str:
    canonical = "\x1f".join(unicodedata.normalize("NFC", f) for f in fields)
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=10).hexdigest()


def article_id(origin: str, url: str | None, title: str, text: str) -> str:
    """A 20-hex-character id, the same for the same input on every run and runner.

    BLAKE2b over a versioned string of ``origin``, canonical ``url``, ``title``
    and ``text`` (never Python's ``hash()``). For a feed entry with a URL the
    ``#entry N`` position is left out of the origin, so an article keeps its id
    when newer entries push it down the feed.
    """
    origin = origin or ""
    if url:
        origin = _ENTRY_SUFFIX.sub("", origin)
    return _digest(ID_VERSION, origin, url or "", title or "", text or "")


_AGENCIES = r"(?:Reuters|AP|AFP|dpa|DPA|Bloomberg|UPI|ANSA|EFE|Xinhua|Kyodo|Yonhap|PAP|TASS|Interfax|Ukrinform|IANS|PTI|CNN|BBC)"
# "LONDON (Reuters) -", "KYIV, Ukraine (AP) —", "PARIS, 15 March (AFP) -", "BERLIN, dpa -"
_DATELINE = re.compile(
    r"^[^\n]{0,60}?\(\s*" + _AGENCIES + r"[^)\n]{0,30}\)\s*[-–—:]+\s*"
    r"|^[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ .'’-]{1,30}(?:,[^\n,()]{1,30}){0,2}\s*[-–—]+\s+"
)
_BYLINE = re.compile(r"^(?:by|von|par|por|di|door|av|przez)\s+[^\n]{2,80}\n", re.I)
_CREDIT_TAIL = re.compile(r"\n\(?(?:reporting|writing|editing|additional reporting) by[^\n]*$", re.I)


_WORD = re.compile(r"[^\W_]+")
# ASCII bytes that are not letters or digits -> space; bytes >= 0x80 (parts of
# UTF-8 sequences) unchanged.
_ASCII_NON_ALNUM_TO_SPACE = bytes(b if b >= 0x80 or chr(b).isalnum() else 0x20 for b in range(256))


def _fold(s: str) -> str:
    """NFKC, case-folded, every run of non-alphanumeric characters one space
    (that is: the runs of letters and digits, joined by single spaces)."""
    s = unicodedata.normalize("NFKC", s).casefold()
    # Fast path, same result as " ".join(_WORD.findall(s)): ASCII punctuation
    # becomes whitespace at byte level, str.split() cuts at it; when every
    # character left is alphanumeric (str.isalnum is the regex's "\w but not _")
    # the words are final.
    words = s.encode("utf-8", "surrogatepass").translate(_ASCII_NON_ALNUM_TO_SPACE).decode("utf-8", "surrogatepass").split()
    if s.isascii() or "".join(words).isalnum():
        return " ".join(words)
    return " ".join(_WORD.findall(s))


def strip_bylines(text: str) -> str:
    """``text`` without a leading byline (``By Jane Doe``), dateline
    (``LONDON (Reuters) -``) or trailing agency credits (``(Reporting by ...)``)."""
    text = text.strip()
    for _ in range(2):
        stripped = _BYLINE.sub("", text, count=1)
        stripped = _DATELINE.sub("", stripped, count=1)
        if stripped == text:
            break
        text = stripped
    return _CREDIT_TAIL.sub("", text)


def content_hash(title: str, text: str) -> str:
    """The exact-duplicate key of an article's content (20 hex characters).

    Title and text are NFKC-normalised, case-folded, with punctuation, symbols
    and whitespace folded to single spaces, after leading bylines/datelines
    (``LONDON (Reuters) -``, ``By Jane Doe``) and trailing ``(Reporting by ...)``
    credits are removed: copies that differ only in such things share the key.

    The title counts only for short texts (under ``TITLE_FREE_CHARS`` folded
    characters, e.g. feed summaries, where the headline is most of the
    content): syndicated copies of an article often carry another headline.
    """
    body = _fold(strip_bylines(text or ""))
    head = _fold(title or "") if len(body) < TITLE_FREE_CHARS else ""
    return _digest(CONTENT_HASH_VERSION, head, body)


# ---------------------------------------------------------------------------
# normalize_article
# ---------------------------------------------------------------------------

_HTML_MARKUP = re.compile(
    r"<(?:p|div|br|a|span|html|body|article|section|b|i|em|strong|ul|ol|li|h[1-6]|img|table|figure|blockquote)\b[^>]*>",
    re.I,
)
_LANG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")


def _looks_like_html(text: str) -> bool:
    return bool(_HTML_MARKUP.search(text[:5000]))


def _one_line(s: str | None) -> str:
    if not s:
        return ""
    if "<" in s and _looks_like_html(s):
        from lxml import html as lxml_html

        try:
            s = lxml_html.fragment_fromstring(s, create_parent="div").text_content()
        except Exception:  # noqa: BLE001 - keep the markup-bearing title as text
            pass
    return " ".join(fix_text(s).split())


def _language(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    m = _LANG.match(value.strip())
    return m.group(1).lower() if m else None


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    boundary = max(cut.rfind("\n"), cut.rfind(" "))
    return cut[:boundary].rstrip() if boundary > limit // 2 else cut


def normalize_article(
    raw: dict, *, now: dt.datetime | None = None, max_text_chars: int = 200_000
) -> dict:
    """A RawArticle (see :mod:`transforms.common.records`) -> an Article dict with
    ``id, url, source, title, text, published_at, language, origin, external_id,
    content_hash``.

    The text is the raw ``text`` repaired with :func:`fix_text` (extracted with
    :func:`html_to_text` when it is really HTML), else the main text of ``html``;
    it is cut at a word boundary to ``max_text_chars``. The title is the given one,
    else the page's. ``language`` is the declared primary subtag (``en-US`` ->
    ``en``) or ``None``; detection is a later stage.

    A date that is not one (``+99:99``, ``-1``, before 1990) leaves ``published_at``
    null and says why in ``warnings`` (a list, present only when there is something to
    say; the reader's own notes, such as replaced invalid characters, come first):
    an article is never rejected for its date.

    Raises ``RejectedInput`` when no text remains or it has fewer than
    ``MIN_LETTERS`` letters.
    """
    if not isinstance(raw, dict):
        raise RejectedInput(f"not a RawArticle record ({type(raw).__name__})")
    origin = str(raw.get("origin") or "")
    raw_url = raw.get("url") if isinstance(raw.get("url"), str) else None
    title = _one_line(raw.get("title") if isinstance(raw.get("title"), str) else None)
    slack = max_text_chars * 4  # repairing text that is cut afterwards is wasted work

    body = raw.get("text")
    text = ""
    if isinstance(body, str) and body.strip():
        if _looks_like_html(body):
            page_title, text = html_to_text(body[: slack * 5], raw_url)
            title = title or _one_line(page_title)
        else:
            text = fix_text(body[:slack])
    elif isinstance(raw.get("html"), str) and raw["html"].strip():
        page_title, text = html_to_text(raw["html"][: slack * 5], raw_url)
        title = title or _one_line(page_title)
    if not text:
        raise RejectedInput("empty text after normalisation")
    text = _truncate(text, max_text_chars)
    letters = count_letters(text, MIN_LETTERS)
    if letters < MIN_LETTERS:
        raise RejectedInput(f"text too short: {letters} letters, at least {MIN_LETTERS} needed")

    url = canonical_url(raw_url)
    external_id = raw.get("external_id")
    published_at, date_problem = date_and_reason(raw.get("published"), now=now)
    article = {
        "id": article_id(origin, url, title, text),
        "url": url,
        "source": source_domain(raw_url, raw.get("source") if isinstance(raw.get("source"), str) else None),
        "title": title,
        "text": text,
        "published_at": published_at,
        "language": _language(raw.get("language")),
        "origin": origin,
        "external_id": None if external_id is None else valid_unicode(str(external_id))[0],
        "content_hash": content_hash(title, text),
    }
    notes = [w for w in raw.get("warnings") or () if isinstance(w, str)]
    if date_problem:
        notes.append(f"published_at: {date_problem}, left null")
    if notes:
        article["warnings"] = notes
    return article


class NormalizeArticles(beam.PTransform):
    """RawArticles -> ``(articles, dead_letters)`` via :func:`normalize_article`.

    Counters in ``newsbeam.normalize``: ``in``, ``out``, ``rejected``.
    """

    def __init__(self, *, now: dt.datetime | None = None, max_text_chars: int = 200_000, label: str | None = None):
        super().__init__(label)
        self._fn = functools.partial(normalize_article, now=now, max_text_chars=max_text_chars)

    def expand(self, pcoll: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        return guarded("Normalize", pcoll, GuardedMap(STAGE, self._fn, batch_size=run_length()))
