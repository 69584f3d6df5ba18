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
