"""What a pattern's matches begin with (issue 21, mutation testing of ``topicprefixes.py``): the
pieces a pattern splits into at its leading choices and the exact case-folded prefixes of each, for
every construct the analysis walks (literals, classes and ranges, ``\\d`` / ``\\s``, groups, atomic
groups, lookarounds, branches, greedy / lazy / possessive repeats with their bounds), the limits at
which it gives up (prefix counts, range widths, pieces), the character classes it writes for the
scan and where the trie files a piece. Exact prefixes matter: a missing one makes the scan miss
matches; an extra or shorter one only costs speed, but is what the module promises.

Its ``fresh`` fixture empties the per-process memo of ``_scan_pieces``, so the analysis runs here
(with a memo filled by earlier tests a changed analysis would go unseen)."""

from __future__ import annotations

import re

import pytest

from transforms.enrich import topicprefixes
from transforms.enrich.topicprefixes import _case_class, _fold, _scan_pieces, _stems
from transforms.enrich.topics import REQUIRED_LANGUAGES, Taxonomy, analyse


@pytest.fixture(autouse=True)
def fresh():
    _scan_pieces.cache_clear()
    yield
    _scan_pieces.cache_clear()


def _keys(source: str) -> list[tuple[str, set[str] | None]]:
    return [(piece, None if keys is None else set(keys)) for piece, keys in _scan_pieces(source)]


def _only(source: str) -> set[str] | None:
    (piece, keys), = _keys(source)
    assert piece == source
    return keys


def _hits(pattern: str, text: str) -> list[str]:
    patterns = {lang: ["zzqdummy"] for lang in REQUIRED_LANGUAGES}
    patterns["en"] = [pattern]
    tax = Taxonomy.from_dict({"version": 1, "topics": {"demo": {"description": "demo", "patterns": patterns}}})
    return [h.text for t in analyse(text, "en", tax) for h in t.hits]


# --------------------------------------------------------------------------- a bug found by the run


def test_a_repeat_after_choices_of_unequal_length_keeps_every_prefix():
    """``z(?:ab|c)x{3}``: after ``zab`` one ``x`` fills the prefix, after ``zc`` the repeat had to
    go on; the analysis dropped ``zcx...`` (its repeats stopped once every prefix was full, before
    the fewest repeats, and kept none of them), so the scan never tried the pattern at "zcxxx"."""
    assert _only("z(?:ab|c)x{3}") == {"zabxx", "zcxxx"}
    assert _only("z(?:ab|c)x{2,3}") == {"zabx", "zcxx"}
    assert _only("x{2,3}y") == {"xxx", "xxy"}  # was None (no prefix: tried everywhere)
    assert _hits("z(?:ab|c)x{3}", "zabxxx and zcxxx here") == ["zabxxx", "zcxxx"]


# --------------------------------------------------------------------------- prefixes per construct


def test_literals_give_one_prefix_up_to_the_scan_depth():
    assert topicprefixes.SCAN_DEPTH == 8
    assert _only("oil price") == {"oil pric"}
    assert _only("war") == {"war"}
    assert _only("a") == {"a"}
    assert _only("Kilns") == {"kilns"}  # case-folded
    assert _only("\u017fanction") == {"sanction"}  # the long s folds to s, as the regex engine equates them


def test_zero_width_items_add_nothing():
    assert _only(r"\bwar") == {"war"}
    assert _only("(?=a)abc") == {"abc"}
    assert _only("(?!b)abc") == {"abc"}
    assert _only("^abc$") == {"abc"}


def test_groups_atomic_groups_and_branches():
    assert _only("(?>ab)c") == {"abc"}
    assert _only("z(?:ab|c)d") == {"zab", "zcd"}  # the longest length every prefix reaches
    assert _only("z(?:ab|c)") == {"za", "zc"}  # the longest length every match reaches
    assert _only("gas(?:preis|krise)") == {"gaspreis", "gaskrise"}
    assert _only("(?i:ab)c") == {"abc"}


def test_optional_and_repeated_items():
    assert _only("ab?c") == {"ab", "ac"}
    assert _only("ab??c") == {"ab", "ac"}  # lazy
    assert _only("(?:a|b)+c") == {"aa", "ab", "ac", "ba", "bb", "bc"}
    assert _only("ab*") == {"a"}
    assert _only("x{3}") == {"xxx"}
    assert _only("x{3}y") == {"xxxy"}
    assert _only("x{2}y") == {"xxy"}
    assert _only("ab{0}c") == {"ac"}
    assert _only("a{1,2}b") == {"ab", "aa"}
    assert _only("a{9}") == {"aaaaaaaa"}  # more repeats than the depth: the depth's worth
    assert _only("(?:ab){5}") == {"abababab"}
    assert _only("a++b") == {"aa", "ab"}  # possessive: a repeat like the others
    assert _only("(?:a?){2}b") == {"a", "b"}  # a repeat that can match nothing
    # the repeat stops at its most even when the prefixes are still open: one more [a-h] would make
    # 512 three-character prefixes (over 64, unknown), and "." is unknown
    assert _only("[a-h]{2}x") == {a + b + "x" for a in "abcdefgh" for b in "abcdefgh"}
    assert _only("x.{0}[ab]") == {"xa", "xb"}


def test_classes_ranges_and_categories():
    assert _only("[ab]c") == {"ac", "bc"}
    assert _only("[A-C]x") == {"ax", "bx", "cx"}
    assert _only(r"[\d]") == set(topicprefixes._decimal_digits())
    assert _only(r"[\s]x") == {c + "x" for c in topicprefixes._WHITESPACE}
    digits = _only(r"\d+ troops")
    assert "\u0663" in digits and "\uff15" in digits and "5" in digits and len(digits) == len(topicprefixes._decimal_digits())
    assert _only(r"a\s+b") == {"a" + c for c in topicprefixes._WHITESPACE}
    assert _only(r"[|(] ?vote") == {"|vote", "| vot", "(vote", "( vot"}
    assert _only(r"\w+ism") is None  # \w cannot be listed
    assert _only("[^a]b") is None  # nor a negated class
    assert _only(r"[\w]b") is None  # nor a category other than digits and spaces in a class
    assert _only(r"\Wb") is None
    assert _only(".b") is None


def test_a_range_of_2048_characters_is_listed_and_one_more_is_not():
    assert len(_only("[\u4e00-\u55ff]")) == 2048
    assert _only("[\u4e00-\u5600]") is None


def test_the_number_of_prefixes_is_capped():
    # one character: at most 4096 (two ranges of 2048 characters without case), then unknown
    assert len(_only("[\u4e00-\u55ff\u5600-\u5dff]")) == 4096
    assert _only("[\u4e00-\u55ff\u5600-\u5dff\u6000]") is None
    # longer prefixes: at most 64; past that the one-character prefixes stand
    assert len(_only("[a-h][a-h]")) == 64
    assert _only("[a-h][a-i]") == set("abcdefgh")
    assert _only("[a-h][a-h]x") == {a + b + "x" for a in "abcdefgh" for b in "abcdefgh"}
    assert _only("[a-h](?:[a-h]|x)") == set("abcdefgh")  # 72 at the second character: too many
    assert _only("[a-d](?:[a-p]|x)") == set("abcd")  # 64 + 4 after the branch: too many
    assert topicprefixes._extend(re._parser.parse("[a-h][a-h]"), {""}, 2, 64) == {a + b for a in "abcdefgh" for b in "abcdefgh"}
    with pytest.raises(topicprefixes._Unknown):
        topicprefixes._extend(re._parser.parse("[a-h][a-h]"), {""}, 2, 63)
    with pytest.raises(topicprefixes._Unknown):  # checked after a branch as well
        topicprefixes._extend(re._parser.parse("(?:ab|ac|ad)"), {""}, 2, 2)
    assert topicprefixes._extend(re._parser.parse("(?:ab|ac|ad)"), {""}, 2, 3) == {"ab", "ac", "ad"}


def test_the_callers_limit_holds_inside_groups_branches_and_repeats():
    """``[a-z0-9]b?b`` at two characters: 36 prefixes, then 72 after ``b?`` (36 of one character and
    36 of two), then 36 again after ``b`` (``xb`` extends to ``xb``, already there). Over a limit of
    64 on the way, so the analysis gives up, inside a capturing, flagged or atomic group, a branch or
    a repeat too: those analyse their items with the caller's limit, not the default 4,096 (with
    which the set came back at 36, under the limit, after listing up to 4,096 on the way)."""
    parse = re._parser.parse
    for source in ("[a-z0-9]b?b", "([a-z0-9]b?b)", "(?i:[a-z0-9]b?b)", "(?>[a-z0-9]b?b)", "[a-z0-9]b?b|x", "(?:[a-z0-9]b?b){1}"):
        with pytest.raises(topicprefixes._Unknown):
            topicprefixes._extend(parse(source), {""}, 2, 64)
        assert len(topicprefixes._extend(parse(source), {""}, 2, 72)) == (37 if "|" in source else 36), source


def test_charset_of_a_bare_category():
    """``_charset`` of a digit or space category item (the parser wraps a bare ``\\d`` in a class,
    so only a direct call reaches these lines): all digits, all whitespace, and unknown otherwise."""
    sre = topicprefixes._sre_c
    assert topicprefixes._charset(sre.CATEGORY, sre.CATEGORY_DIGIT) == topicprefixes._decimal_digits()
    assert topicprefixes._charset(sre.CATEGORY, sre.CATEGORY_UNI_SPACE) == topicprefixes._WHITESPACE
    with pytest.raises(topicprefixes._Unknown):
        topicprefixes._charset(sre.CATEGORY, sre.CATEGORY_WORD)


def test_extend_keeps_prefixes_that_are_already_long_enough():
    parsed = re._parser.parse("cd")
    assert topicprefixes._extend(parsed, {"ab", "x"}, 2) == {"ab", "xc"}
    assert topicprefixes._extend(parsed, {"ab"}, 2) == {"ab"}
    assert topicprefixes._extend(re._parser.parse("(?:c|d)"), {"ab", "x"}, 2) == {"ab", "xc", "xd"}
    assert topicprefixes._extend(re._parser.parse("(?:cd)"), {"ab", "x"}, 2) == {"ab", "xc"}
    assert topicprefixes._extend(re._parser.parse("(?>cd)"), {"ab", "x"}, 2) == {"ab", "xc"}
    assert topicprefixes._extend(re._parser.parse("c*d"), {"ab", "x"}, 2) == {"ab", "xc", "xd"}


# --------------------------------------------------------------------------- pieces


def test_leading_choices_split_into_pieces():
    assert _keys("(?:new |fresh )?sanctions|embargo(?:es)?") == [
        ("new sanctions", {"new sanc"}),
        ("fresh sanctions", {"fresh sa"}),
        ("sanctions", {"sanction"}),
        ("embargo(?:es)?", {"embargo"}),
    ]
    assert _keys("(?:very )??big deal") == [("very big deal", {"very big"}), ("big deal", {"big deal"})]
    assert _keys("(?:a|b)c") == [("ac", {"ac"}), ("bc", {"bc"})]
    assert _keys("(?:a|(?:b|c)d)e") == [("ae", {"ae"}), ("bde", {"bde"}), ("cde", {"cde"})]
    assert _keys("a|a") == [("a", {"a"})]  # the same piece once
    assert _keys(r"[|(] ?vote|\(poll\)") == [(r"[|(] ?vote", {"|vote", "| vot", "(vote", "( vot"}), (r"\(poll\)", {"(poll)"})]
    assert _keys(r"a\|b|c") == [(r"a\|b", {"a|b"}), ("c", {"c"})]  # an escaped bar splits nothing
    assert _keys("[]|]x|y") == [("[]|]x", {"]x", "|x"}), ("y", {"y"})]  # nor a bar in a class
    assert _keys("[^]|]x|y") == [("[^]|]x", None), ("y", {"y"})]


def test_repeated_or_possessive_leading_choices_stay_whole():
    assert _keys("(?:a|b)*c") == [("(?:a|b)*c", {"a", "b", "c"})]
    assert _keys("(?:a|b)+c") == [("(?:a|b)+c", {"aa", "ab", "ac", "ba", "bb", "bc"})]
    assert _keys("(?:a|b){2}c") == [("(?:a|b){2}c", {"aac", "abc", "bac", "bbc"})]
    assert _keys("(?:a|b)?+c") == [("(?:a|b)?+c", {"a", "b", "c"})]
    assert _keys("(?:ab)x|y") == [("abx", {"abx"}), ("y", {"y"})]


def test_a_possessive_optional_choice_is_not_distributed():
    """``(?:a|b)?+c``: ``_distribute`` keeps it whole; read as optional it gave ``a+c``, ``b+c`` and
    ``+c`` (not what the source matches; only ``+c`` failing to parse sent the scan back to the whole)."""
    out: list[str] = []
    assert topicprefixes._distribute("(?:a|b)?+c", out) and out == ["(?:a|b)?+c"]
    out = []
    assert topicprefixes._distribute("(?:a|b)??c", out) and out == ["ac", "bc", "c"]
    out = []  # a repeated choice stays whole, and the alternatives after it are still distributed
    assert topicprefixes._distribute("(?:a|b)*c|(?:d|e)f", out) and out == ["(?:a|b)*c", "df", "ef"]
    assert _keys("(?:a|b)*c|d") == [("(?:a|b)*c", {"a", "b", "c"}), ("d", {"d"})]


def test_sources_that_are_not_plain_enough_stay_whole():
    assert _keys("(?#note)a|b") == [("(?#note)a|b", {"a", "b"})]
    assert _keys("(?x) a | b") == [("(?x) a | b", {"a", "b"})]
    assert _keys("(?-x:a)|b") == [("(?-x:a)|b", {"a", "b"})]
    assert _keys("(?:a|b)c|d") == [("ac", {"ac"}), ("bc", {"bc"}), ("d", {"d"})]


def test_the_structure_of_a_source():
    structure = topicprefixes._structure
    assert structure("a|b(c|d)|e") == ([1, 8], {3: 7})
    assert structure(r"a\(|b") == ([3], {})
    assert structure("[(]|b") == ([3], {})
    assert structure("[^(]|b") == ([4], {})
    assert structure("[](]|b") == ([4], {})
    assert structure("[^](]|b") == ([5], {})
    assert structure("a)|b") is None
    assert structure("(a|b") is None
    assert structure("[a|b") is None
    assert structure("a[") is None and structure("a[^") is None  # a class open at the end, not an IndexError
    assert structure("[^]]|x") == ([4], {})  # ']' first after '^' is a literal, the next one closes
    assert structure(r"[\]|]") == ([], {})  # an escaped ']' first in a class closes nothing
    assert structure("(?x)a|b") is None
    assert structure("(?#c)a|b") is None
    assert topicprefixes._alternatives("a|b(c|d)|e") == ["a", "b(c|d)", "e"]
    assert topicprefixes._alternatives("ab") == ["ab"]
    assert topicprefixes._alternatives("|a|") == ["", "a", ""]
    assert topicprefixes._alternatives("(a") is None


def test_at_most_256_pieces():
    words = [f"w{i:03d}" for i in range(258)]
    assert [p for p, _ in _scan_pieces("|".join(words[:256]))] == words[:256]
    assert [p for p, _ in _scan_pieces("|".join(words[:257]))] == ["|".join(words[:257])]
    nested = "(?:(?:" + "|".join(words[:200]) + ")|(?:" + "|".join(words[100:200]) + "))x"  # 300 pieces
    assert [p for p, _ in _scan_pieces(nested)] == [nested]
    out: list[str] = []
    assert topicprefixes._distribute("|".join(words[:256]), out) and out == words[:256]
    assert topicprefixes._distribute("|".join(words[:257]), [])  # the caller counts the last one
    assert not topicprefixes._distribute("|".join(words), [])
    assert not topicprefixes._distribute(nested, [])  # too many inside a choice: not possible either
    assert not topicprefixes._distribute("(?:a|b", [])
    assert not topicprefixes._distribute("(?:a|b)c)", [])


def test_a_piece_that_does_not_parse_alone_keeps_the_pattern_whole():
    # "(b)\\2" alone refers to a group it no longer has; the taxonomy refuses groups, the analysis does not
    assert _keys(r"(a)|(b)\2") == [(r"(a)|(b)\2", {"a", "b"})]


def test_a_source_that_does_not_parse_is_an_error():
    with pytest.raises(re.error):
        _scan_pieces("a(")
    with pytest.raises(re.error):
        _scan_pieces("a[")


# --------------------------------------------------------------------------- case and filing


def test_case_folding_follows_the_regex_engine():
    assert [_fold(c) for c in "Kk\u212aSs\u017fВв\u1c801 "] == ["k", "k", "k", "s", "s", "s", "в", "в", "в", "1", " "]
    assert _fold("\u00df") == "\u00df"


def test_case_classes_match_what_the_engine_equates():
    assert _case_class("k") == "[Kk\u212a]"
    assert _case_class("s") == "[Ss\u017f]"
    assert _case_class(["1"]) == "[1]"
    assert _case_class(["a", "-"]) == r"[\-Aa]"
    assert _case_class([*topicprefixes._decimal_digits(), "a"]) == r"[\dAa]"
    assert _case_class([*topicprefixes._WHITESPACE]) == r"[\s]"
    assert _case_class([*topicprefixes._decimal_digits(), *topicprefixes._WHITESPACE]) == r"[\d\s]"
    assert _case_class([*sorted(topicprefixes._decimal_digits())[1:], "x"]) != r"[\dXx]"  # all digits or none


def test_pieces_are_filed_under_the_common_start_of_their_prefixes():
    assert sorted(_stems(frozenset({"gaspreis", "gaskrise", "oil"}))) == ["gas", "oil"]
    assert _stems(frozenset({"abc"})) == ["abc"]
    assert sorted(_stems(frozenset({"ab", "ac", "b"}))) == ["a", "b"]
    assert _stems(None) == [""]
