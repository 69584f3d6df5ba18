"""The failure paths of reading: a pattern the filesystems cannot match and a file whose
read fails half-way each become a dead letter with the reason, and what was read before
the failure is kept (conservation: nothing vanishes, nothing raises)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from tests.support.outputs import split_dead_letters
from transforms.io import read
from transforms.io.read import ReadFileFn


def test_a_pattern_no_filesystem_can_match_is_a_dead_letter_not_an_error():
    articles, dead = split_dead_letters(read._MatchPattern().process("nosuchscheme://bucket/*.jsonl"))
    assert articles == []
    assert [(d["source"], d["stage"]) for d in dead] == [("nosuchscheme://bucket/*.jsonl", "read")]
    assert dead[0]["error"].startswith("cannot match 'nosuchscheme://bucket/*.jsonl': ValueError")


def test_a_pattern_that_matches_nothing_is_a_dead_letter(tmp_path: Path):
    pattern = str(tmp_path / "*.jsonl")
    articles, dead = split_dead_letters(read._MatchPattern().process(pattern))
    assert articles == [] and [d["error"] for d in dead] == [f"no file matches '{pattern}'"]


class _FailingAfter:
    """A real file's stream that fails with EIO once ``limit`` bytes were read (a disk or
    network error half-way through the file)."""

    def __init__(self, stream, limit: int) -> None:
        self._stream, self._left = stream, limit

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            raise OSError(errno.EIO, "Input/output error")
        data = self._stream.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()


def test_a_read_failing_half_way_keeps_the_articles_before_and_dead_letters_the_rest(tmp_path: Path, monkeypatch):
    lines = [json.dumps({"id": str(i), "text": f"Article number {i} about the harbour and its new quay."}) for i in range(2000)]
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    real_open = FileSystems.open
    monkeypatch.setattr(FileSystems, "open", lambda p, **kw: _FailingAfter(real_open(p, **kw), path.stat().st_size // 2))

    articles, dead = split_dead_letters(ReadFileFn(max_article_bytes=1 << 20, max_file_bytes=1 << 30).process(str(path)))

    assert 0 < len(articles) < len(lines)
    assert [a["external_id"] for a in articles] == [str(i) for i in range(len(articles))]  # in order, none lost
    assert len(dead) == 1 and dead[0]["source"] == str(path) and dead[0]["stage"] == "read"
    assert dead[0]["error"] == f"read failed after {len(articles)} articles: OSError: [Errno 5] Input/output error"


def test_a_file_that_cannot_be_opened_is_a_dead_letter(tmp_path: Path):
    missing = str(tmp_path / "gone.jsonl")  # matched, then removed before it was read
    articles, dead = split_dead_letters(ReadFileFn(max_article_bytes=1 << 20, max_file_bytes=1 << 30).process(missing))
    assert articles == [] and len(dead) == 1
    assert dead[0]["source"] == missing and dead[0]["error"].startswith("cannot open file: ")
