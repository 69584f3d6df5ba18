"""Values users store, pinned as literals.

Article ids, content hashes, shingle hashes, MinHash signatures, band keys and story
ids are kept in users' stores and in the ``--state`` memory of scheduled runs: a
change to any of them makes every stored value incomparable with new ones. These
tests fail on such a change; a deliberate one comes with a new version string
(``ID_VERSION``, ``CONTENT_HASH_VERSION``) and a migration note in CHANGELOG.md.
"""

from __future__ import annotations

import os

import pytest

from tests.support import REPO
from tests.support.fresh import forget_minhash_tables
from transforms.dedup import minhash
from transforms.enrich.normalize import CONTENT_HASH_VERSION, ID_VERSION, article_id, content_hash, normalize_article
from transforms.io.fileformats import read_file
from transforms.stories.records import story_id_for

TEXT = (
    "The European Union imposed a new package of sanctions on Russian banks on Monday, officials in "
    "Brussels said, as ministers met to discuss frozen assets and military aid to Ukraine."
)


@pytest.fixture(autouse=True)
def _computed_not_remembered():
    # the MinHash tables (hash functions, token hashes) start empty: each value is computed here
    forget_minhash_tables()


def test_the_version_strings_behind_ids_and_hashes():
    assert ID_VERSION == "newsbeam-article-v1"
    assert CONTENT_HASH_VERSION == "newsbeam-content-v1"


def test_article_ids():
    assert article_id("o", None, "t", "x") == "cbb8d64cdd148ab00d3e"
    assert article_id("data/a.jsonl#line 1", "https://example.com/a", "Title", "Body text") == "18cc1c78c008eff74422"


def test_content_hash():
    assert content_hash("Title", "Body text. More body text here, by Reuters") == "0610f45ef26bfe196377"


def test_normalized_article_id_and_hash():
    raw = {"origin": "f.jsonl#line 1", "title": "EU sanctions", "text": TEXT,
           "url": "https://news.example.com/a?utm_source=x"}
    article = normalize_article(raw)
    assert (article["id"], article["content_hash"], article["url"]) == (
        "79138f3ef360f46149b7", "00b22d8971d02397a733", "https://news.example.com/a")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/sample/articles.jsonl", [("data/sample/articles.jsonl#line 1", "9fb15f3792593d88464a"),
                                        ("data/sample/articles.jsonl#line 2", "14dc8bbc3e438f50dae2")]),
        ("data/sample/gas-storage.txt", [("data/sample/gas-storage.txt", "e25d02d59c527b96e56c")]),
        ("data/sample/feed.rss", [("data/sample/feed.rss#entry 0", "3de8ee058f881b0d3746"),
                                  ("data/sample/feed.rss#entry 1", "f7b7972a9b1a85df8f3e")]),
    ],
)
def test_ids_of_the_bundled_sample_read_from_the_repo_root(path, expected):
    with open(os.path.join(REPO, path), "rb") as fh:
        raws = [r for r in read_file(path, fh) if isinstance(r, dict)][: len(expected)]
    assert [(r["origin"], normalize_article(r)["id"]) for r in raws] == expected


def test_shingle_hashes():
    assert minhash._token_hash("sanctions") == 5903987492118754179
    assert minhash._ascii_token_hash(b"sanctions") == 5903987492118754179
    assert minhash.shingles(TEXT)[:5].tolist() == [
        386440699858872467, 1258243820705852732, 2199822245133366802, 2367788343946931083, 3679899668172912082]


def test_signature_and_band_keys():
    signature = minhash.Sketcher(num_perm=128, k=5, min_shingles=5)(TEXT)
    assert signature[:4].tolist() == [3101385, 38802360, 152695369, 49369075]
    assert minhash.choose_bands(0.8, 128) == (16, 6)
    assert minhash.band_keys(signature, 16, 6)[:3] == ["0:e06f268fc659a743", "1:9c004c448fbb042c", "2:5ce2c68ccca814fd"]


def test_hash_functions_and_a_signature_under_other_settings():
    # the a and b of the first two hash functions of the default seed (1), which every signature uses
    perms = minhash.permutations(128, 1)
    assert perms.a[:2].tolist() == [15352523889085388433, 16330158103022323865]
    assert perms.b[:2].tolist() == [13574541715813924029, 7998797355223120107]
    # another seed and dedup.near.shingle_k 3: hash functions of another seed, shingles of another width
    assert minhash.Sketcher(num_perm=128, seed=7, k=3, min_shingles=5)(TEXT)[:4].tolist() == [
        75821915, 38979382, 253481001, 79731783]


def test_story_id_is_the_root_article_id_with_its_prefix():
    assert story_id_for("9fb15f3792593d88464a") == "s-9fb15f3792593d88464a"
