"""Spellings made comparable across languages and scripts, for story features.

Cyrillic is transliterated (Ukrainian or Russian rules, tables in
``configs/story_lexicon.yaml``), accents are dropped and spelling variants folded
into a short phonetic key, so ``Зеленський``, ``Зеленского`` and ``Zelenskyy``
become one feature without any translation.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from transforms.stories.lexicon import lexicon

_UK_ONLY = lexicon().ukrainian_letters
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def _table(mapping: dict[str, str]) -> dict[int, str]:
    table = {}
    for k, v in mapping.items():
        table[ord(k)] = v
        if k.upper() != k:
            table[ord(k.upper())] = v[:1].upper() + v[1:] if v else ""
    return table


_TABLE_UK = _table(lexicon().cyrillic_uk)
_TABLE_RU = _table(lexicon().cyrillic_ru)


class _Chunks(dict):
    """``chunk -> chunk.translate(table)``, worked out once per chunk and kept, up to
    ``_CHUNKS_MAX`` chunks (then the table starts over). ``str.translate`` with a dict
    looks every character up in a Python dict; a text's space-separated chunks repeat,
    and a chunk seen before costs one C-level dict hit."""

    def __init__(self, table: dict[int, str]) -> None:
        super().__init__()
        self.table = table

    def __missing__(self, chunk: str) -> str:
        if len(self) >= _CHUNKS_MAX:
            self.clear()
        value = self[chunk] = chunk.translate(self.table)
        return value


_CHUNKS_MAX = 200_000
# translating chunk by chunk is translating the text when the space is left as it is
_CHUNKS = {lang: _Chunks(table) for lang, table in (("uk", _TABLE_UK), ("ru", _TABLE_RU)) if ord(" ") not in table}


def transliterate(text: str, language: str | None = None) -> str:
    """Cyrillic (Ukrainian or Russian rules) to Latin, case kept; other scripts untouched.

    ``language`` picks the rules (``uk``: г -> h, и -> y; otherwise Russian);
    unknown languages are Ukrainian when the text has і/ї/є/ґ.
    """
    if text.isascii() or not _CYRILLIC.search(text):  # isascii: no scan of the text
        return text
    if language not in ("uk", "ru"):
        language = "uk" if any(ch in _UK_ONLY for ch in text.lower()) else "ru"
    chunks = _CHUNKS.get(language)
    if chunks is None:
        return text.translate(_TABLE_UK if language == "uk" else _TABLE_RU)
    return " ".join(map(chunks.__getitem__, text.split(" ")))  # faster than translate (docs/performance.md)


_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ı": "i"})
_SKELETON_RULES = (
    ("shch", "s"), ("sch", "s"), ("sh", "s"), ("ch", "8"), ("kh", "h"), ("zh", "z"), ("ph", "f"),
    ("ck", "k"), ("dh", "d"), ("tz", "s"), ("ts", "s"), ("q", "k"), ("x", "ks"), ("c", "k"), ("8", "c"),
    ("w", "v"), ("y", "i"), ("j", "i"), ("z", "s"),
)
_DOUBLE = re.compile(r"(.)\1+")
KEY_CHARS = 7


@lru_cache(maxsize=200_000)
def word_key(word: str) -> str:
    """The phonetic key of one (already transliterated) word: lowercase ASCII,
    spelling variants folded, at most ``KEY_CHARS`` letters."""
    w = unicodedata.normalize("NFKD", word.lower().translate(_FOLD))
    w = "".join(ch for ch in w if "a" <= ch <= "z")
    for old, new in _SKELETON_RULES:
        if old in w:
            w = w.replace(old, new)
    w = _DOUBLE.sub(r"\1", w)
    if len(w) > 4:
        w = w.rstrip("aeiouh") or w
    return w[:KEY_CHARS]


def norm_token(token: str) -> str:
    """Lowercase, transliterated, accent-free spelling of a token (before the key)."""
    return fold_token(transliterate(token))


@lru_cache(maxsize=200_000)
def fold_token(token: str) -> str:
    """Lowercase, accent-free spelling of an already transliterated token."""
    t = unicodedata.normalize("NFKD", token.lower().translate(_FOLD))
    return "".join(ch for ch in t if ch.isalnum() or ch in "-.")
