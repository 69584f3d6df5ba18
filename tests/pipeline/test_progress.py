import io
import os
import time

from pipeline import progress
from pipeline.progress import ProgressLine, progress_line, stage_of


def test_line_says_articles_read_rate_and_stage():
    line = progress_line(83.4, {"read": 52300, "enriched": 51900}, "reading and enriching")
    assert line == ("newsbeam: 1:23  52,300 articles read (627/s), 51,900 enriched, 0 resolved  "
                    "[reading and enriching]")
    assert progress_line(12.0, {}, "x").startswith("newsbeam: 12 s  0 articles read (0/s)")
    assert "20 articles read (0.3/s)" in progress_line(60.0, {"read": 20}, "x")


def test_stage_follows_the_checkpoints():
    assert stage_of({}, {}) == "reading and enriching"
    assert stage_of({"read": 10, "enriched": 5}, {"read": 8}) == "reading and enriching"
    assert stage_of({"read": 10, "enriched": 10}, {"read": 10, "enriched": 10}) == "finding duplicates and stories"
    assert stage_of({"read": 20}, {"read": 20}) == "reading and enriching"  # read, not yet enriched
    assert stage_of({"read": 10, "enriched": 10, "resolved": 3}, {}) == "marking duplicates, writing"


def test_line_printed_in_a_log_then_the_folder_removed(monkeypatch):
    monkeypatch.setattr(progress, "FIRST_AFTER", 0.0)
    monkeypatch.setattr(progress, "LOG_EVERY", 0.5)
    monkeypatch.setattr(progress, "TICK", 0.1)
    stream = io.StringIO()
    with ProgressLine(stream) as line:
        with open(os.path.join(line.folder, "read.1.a.count"), "w") as fh:
            fh.write("7")
        time.sleep(1.0)
    assert "7 articles read" in stream.getvalue() and "\r" not in stream.getvalue()
    assert not os.path.exists(line.folder)
