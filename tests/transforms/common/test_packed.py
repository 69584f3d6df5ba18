"""transforms.common.packed: records come back equal, types included, and smaller than pickled."""

from __future__ import annotations

import pickle

from transforms.common.packed import Packer, Unpacker


def _article(i: int) -> dict:
    return {
        "id": f"a{i}",
        "title": "Earthquake of magnitude 6.1 strikes off the coast",
        "text": ("The quake struck at dawn; rescuers searched collapsed buildings in the port city. " * 40) + str(i),
        "published_at": "2026-12-07T10:00:00Z",
        "language": {"code": "en", "confidence": 0.99},
        "topics": [{"id": "disaster/earthquake", "score": 0.8125}],
        "entities": {"places": ["Goma"], "orgs": []},
        "dedup": None,
        "span": (3, 7),  # a tuple stays a tuple
        "weights": [0.1, 1e-300, -0.0],
        "bytes": b"\x00\xff",
        "unicode": "Zürich — 東京",
    }


def test_round_trip_keeps_values_and_types():
    packer, unpacker = Packer(), Unpacker()
    for i in range(3):
        article = _article(i)
        back = unpacker.unpack(packer.pack(article))
        assert back == article
        assert type(back["span"]) is tuple
        assert str(back["weights"][2]) == "-0.0"
        assert list(back) == list(article)  # key order kept: records are written in it


def test_packed_is_bytes_and_smaller_than_the_pickle():
    article = _article(1)
    packed = Packer().pack(article)
    assert isinstance(packed, bytes)
    assert len(packed) * 3 < len(pickle.dumps(article, protocol=pickle.HIGHEST_PROTOCOL))


def test_one_packer_serves_many_records():
    packer, unpacker = Packer(), Unpacker()
    packed = [packer.pack(_article(i)) for i in range(5)]
    assert [unpacker.unpack(p)["id"] for p in reversed(packed)] == ["a4", "a3", "a2", "a1", "a0"]
