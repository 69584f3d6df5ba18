"""The story lexicon data file and its loader (transforms/stories/lexicon.py).

The tables moved from code into ``configs/story_lexicon.yaml``; the digests below
were computed from the tables as the code held them before the move, so the file
and the loader must give exactly those tables (order, types and duplicates kept).
"""

import hashlib
import json
import fnmatch
import os

import pytest
import yaml

from tests.support import REPO
from transforms.stories import features, spelling
from transforms.stories.lexicon import LEXICON_PATH, LexiconError, lexicon, parse_lexicon, read_lexicon

# sha256 of _canonical() of the tables in transforms/stories/cluster.py before the move
TABLES_DIGEST = "4221235ba97ae345d15b425d908b6311ceef144f9ec3446f4d4a68e360c304ff"
# sha256 of _compiled() of the word lists it compiled (concepts, months, scales, percent) and its stopwords
COMPILED_DIGESTS = {
    "_CONCEPTS": "ffc6fb175c16c03faf526733564d26201cfd18a03451e8572ae331803d6961ed",
    "_MONTH_LEX": "476ebbd3f0144a6f0b42e916b641470b2233ed63a70ebe1555e7c305588ce5b7",
    "_SCALE_LEX": "07ca9c5dc1ecc04b080afddcaf8dcf087c227db7bd651db3127208b31603b9db",
    "_PERCENT_LEX": "dec64e7bd6deaa437e8c1851020a35b5738b2b5dac370942725f9c830740bc82",
}
STOPWORDS_DIGEST = "b463b8d42cf4bf532924dbe84ae5324d62d9a042171fcdc8fe9f69d005582bb6"


def _sha(doc) -> str:
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False).encode()).hexdigest()


def _canonical(lex) -> str:
    return _sha([
        list(lex.concepts.items()), list(lex.months.items()), [[repr(k), v] for k, v in lex.scales.items()],
        list(lex.percent), list(lex.stopwords), list(lex.cyrillic_uk.items()), list(lex.cyrillic_ru.items()),
        sorted(lex.ukrainian_letters),
    ])


def _compiled(table) -> str:
    exact, prefix, longest = table
    return _sha([sorted(exact.items(), key=str), sorted(prefix.items(), key=str), longest])


def test_the_file_gives_the_tables_the_code_held_before():
    lex = lexicon()
    assert _canonical(lex) == TABLES_DIGEST
    assert {name: _compiled(getattr(features, name)) for name in COMPILED_DIGESTS} == COMPILED_DIGESTS
    assert _sha(sorted(features._STOPWORDS)) == STOPWORDS_DIGEST


def test_a_few_entries_and_the_counts_literally():
    lex = lexicon()
    assert len(lex.concepts) == 94 and sum(map(len, lex.concepts.values())) == 1100
    assert list(lex.concepts)[:3] == ["earthquake", "magnitude", "tsunami"] and list(lex.concepts)[-1] == "washington"
    assert lex.concepts["earthquake"] == (
        "earthquake*", "quake*", "séisme*", "seisme*", "tremblement*", "erdbeben*", "terremoto*", "sismo*", "sisma*",
        "trzęsieni*", "землетрус*", "землетрясени*", "aardbeving*", "aardschok*",
    )
    assert lex.concepts["nato"] == ("nato", "otan", "нато")
    assert lex.concepts["attack"].count("offensiv*") == 2  # kept as it was
    assert list(lex.months) == list(range(1, 13)) and sum(map(len, lex.months.values())) == 107
    assert lex.months[3] == ("march", "mars", "märz", "marzo", "marc*", "берез*", "март*", "maart", "mar")
    assert list(lex.scales) == [1e3, 1e6, 1e9, 1e12] and all(type(k) is float for k in lex.scales)
    assert sum(map(len, lex.scales.values())) == 36
    assert lex.scales[1e9] == ("billion*", "bn", "milliard*", "mrd", "mld", "miliard*", "мільярд*", "млрд",
                               "миллиард*", "miljard*")
    assert lex.percent == ("percent*", "per", "pour", "prozent*", "por", "procent*", "proc", "відсот*", "процент*",
                           "pct")
    assert len(lex.stopwords) == 434 and len(set(lex.stopwords)) == 419 and len(features._STOPWORDS) == 416
    assert lex.stopwords[:3] == ("the", "and", "for") and lex.stopwords[-1] == "zei"
    assert len(lex.cyrillic_uk) == len(lex.cyrillic_ru) == 40
    assert (lex.cyrillic_uk["г"], lex.cyrillic_ru["г"], lex.cyrillic_uk["и"], lex.cyrillic_ru["и"]) == ("h", "g", "y", "i")
    assert lex.cyrillic_uk["щ"] == "shch" and lex.cyrillic_uk["ь"] == lex.cyrillic_uk["ʼ"] == ""
    assert lex.ukrainian_letters == set("іїєґ")
    assert len(spelling._TABLE_UK) == len(spelling._TABLE_RU) == 77
    assert (len(features._CONCEPTS[0]), len(features._CONCEPTS[1]), features._CONCEPTS[2]) == (223, 815, 16)


def test_the_file_is_found_beside_the_package_and_read_once():
    assert LEXICON_PATH == os.path.join(str(REPO), "configs", "story_lexicon.yaml")
    assert lexicon() is lexicon()
    assert read_lexicon(LEXICON_PATH) == lexicon()


def test_setup_py_installs_the_file_where_the_loader_looks():
    """Workers import the installed package (--setup_file, the Flex Template image):
    the file must be installed at the same place beside ``transforms/`` as in the tree."""
    import setuptools  # noqa: F401  (distutils from setuptools)
    from distutils.core import run_setup

    where = os.path.relpath(LEXICON_PATH, os.path.dirname(os.path.dirname(os.path.dirname(spelling.__file__))))
    package, name = os.path.split(where)
    dist = run_setup(os.path.join(str(REPO), "setup.py"), stop_after="config")
    assert package in dist.packages and any(fnmatch.fnmatch(name, pattern) for pattern in dist.package_data[package])


def _document():
    with open(LEXICON_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda d: d["concepts"]["earthquake"].insert(1, 5), "'concepts.earthquake[1]'"),
        (lambda d: d["concepts"]["flood"].append("two words"), "'concepts.flood[15]'"),
        (lambda d: d["concepts"]["storm"].append("*"), "'concepts.storm[23]'"),
        (lambda d: d["concepts"].update({"empty": []}), "'concepts.empty'"),
        (lambda d: d["months"].update({13: ["smarch"]}), "'months.13'"),
        (lambda d: d["scales"].update({"lots": ["lots"]}), "'scales.lots'"),
        (lambda d: d["percent"].append(None), "'percent[10]'"),
        (lambda d: d["stopwords"].update({"en": ["the"]}), "'stopwords.en'"),
        (lambda d: d["transliteration"]["common"].update({"ab": "x"}), "'transliteration.common.ab'"),
        (lambda d: d["transliteration"]["uk"].update({"г": False}), "'transliteration.uk.г'"),
        (lambda d: d["transliteration"].pop("ru"), "'transliteration' lacks ru"),
        (lambda d: d.update({"version": 2}), "'version'"),
        (lambda d: d.update({"extra": 1}), "the top level has unknown extra"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_file_and_the_key(tmp_path, change, key):
    doc = _document()
    change(doc)
    path = tmp_path / "story_lexicon.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(LexiconError) as err:
        read_lexicon(str(path))
    assert str(err.value).startswith(f"{path}: ") and key in str(err.value)


def test_a_missing_or_unreadable_file_is_one_clear_error(tmp_path):
    with pytest.raises(LexiconError, match="story lexicon not found"):
        read_lexicon(str(tmp_path / "nowhere.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nconcepts: [unclosed\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"bad.yaml: not valid YAML at line \d"):
        read_lexicon(str(bad))
    with pytest.raises(LexiconError, match="the top level must be a mapping"):
        parse_lexicon(["a list"], "x.yaml")


def test_the_document_as_read_round_trips_through_the_checks():
    assert parse_lexicon(_document(), "doc") == lexicon()
