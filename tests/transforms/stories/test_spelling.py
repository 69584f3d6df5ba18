"""Transliteration and phonetic word keys (transforms/stories/spelling.py)."""

from transforms.stories.spelling import transliterate, word_key


def test_transliteration_makes_ukrainian_russian_and_english_names_meet():
    assert transliterate("Зеленський", "uk") == "Zelenskyy"
    assert transliterate("Зеленский", "ru") == "Zelenskiy"
    assert transliterate("Харків") == "Kharkiv"  # і marks Ukrainian rules when no language is given
    assert transliterate("Paris reste Paris") == "Paris reste Paris"
    keys = {word_key(transliterate(w, lang)) for w, lang in
            [("Зеленський", "uk"), ("Зеленский", "ru"), ("Зеленського", "uk"), ("Zelensky", "en"), ("Zelenskyy", "en")]}
    assert keys == {"selensk"}


def test_transliterating_chunk_by_chunk_is_translating_the_whole_text(monkeypatch):
    from transforms.stories import spelling

    texts = [("Київ, 15 березня:  «збитки»\nЗеленський  ", "uk"), ("Москва и Санкт-Петербург ", "ru"),
             ("Харків Харків", None), ("", "ru"), (" ", "uk"), ("Ґ", "uk")]
    monkeypatch.setattr(spelling, "_CHUNKS_MAX", 2)  # the tables start over several times
    for text, language in texts:
        rules = language or ("uk" if any(ch in spelling._UK_ONLY for ch in text.lower()) else "ru")
        table = spelling._TABLE_UK if rules == "uk" else spelling._TABLE_RU
        assert spelling.transliterate(text, language) == text.translate(table), text
        assert len(spelling._CHUNKS[rules]) <= 2
