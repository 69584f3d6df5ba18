"""valid_unicode, display_path: strings from outside made valid Unicode."""

from __future__ import annotations

import json

from transforms.common.unicode import REPLACEMENT, deep_valid_unicode, display_path, valid_unicode


def test_valid_strings_are_returned_as_they_are() -> None:
    for s in ("", "plain", "Café – „quoted“", "emoji 😀 and 中文"):
        fixed, replaced = valid_unicode(s)
        assert fixed is s and replaced == 0


def test_lone_surrogates_become_replacement_characters() -> None:
    lone_high = json.loads('"a\\ud800b"')
    half_emoji = json.loads('"smile \\ud83d!"')
    lone_low = json.loads('"\\ude00 end"')
    assert valid_unicode(lone_high) == (f"a{REPLACEMENT}b", 1)
    assert valid_unicode(half_emoji) == (f"smile {REPLACEMENT}!", 1)
    assert valid_unicode(lone_low) == (f"{REPLACEMENT} end", 1)
    for s in (lone_high, half_emoji, lone_low):
        valid_unicode(s)[0].encode("utf-8")  # encodable: no later step can crash on it


def test_a_pair_split_into_two_code_points_is_joined() -> None:
    split_pair = "\ud83d\ude00"  # what a UTF-16 surrogatepass decode leaves
    assert valid_unicode(split_pair) == ("😀", 0)
    assert valid_unicode("x\ud83d\ude00\ud800")[0] == f"x😀{REPLACEMENT}"


def test_same_input_same_output_every_time() -> None:
    s = "a\ud800b\udfffc" * 100
    assert len({valid_unicode(s) for _ in range(20)}) == 1


def test_deep_valid_unicode_fixes_keys_and_nested_values() -> None:
    tree = {"k\ud800": ["v\udc00", {"n": ("\ud83d",)}], "ok": 1}
    assert deep_valid_unicode(tree) == {f"k{REPLACEMENT}": [f"v{REPLACEMENT}", {"n": (REPLACEMENT,)}], "ok": 1}


def test_display_path_escapes_bytes_that_are_not_utf8() -> None:
    name = b"/data/caf\xe9 \xff.jsonl".decode("utf-8", "surrogateescape")  # what os.listdir gives
    assert display_path(name) == "/data/caf\\xe9 \\xff.jsonl"
    assert display_path(b"/data/caf\xe9.jsonl") == "/data/caf\\xe9.jsonl"
    assert display_path("/data/café.jsonl") == "/data/café.jsonl"
    assert display_path("/data/\ud800.jsonl") == f"/data/{REPLACEMENT}.jsonl"  # no byte behind it
