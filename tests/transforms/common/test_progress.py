import os

from transforms.common import progress
from transforms.common.progress import _CountFn, read_counts


def test_counts_written_per_instance_and_added_up(tmp_path):
    fns = [_CountFn(str(tmp_path), "read"), _CountFn(str(tmp_path), "read"), _CountFn(str(tmp_path), "enriched")]
    for fn, n in zip(fns, (3, 4, 5)):
        fn.setup()
        assert [e for i in range(n) for e in fn.process(i)] == list(range(n))  # passes elements through
        fn.finish_bundle()
    (tmp_path / "read.9.x.count.tmp").write_text("100")  # a file being replaced: not counted
    assert read_counts(str(tmp_path)) == {"read": 7, "enriched": 5}


def test_flushes_while_a_long_bundle_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "FLUSH_SECONDS", 0.0)
    fn = _CountFn(str(tmp_path), "read")
    fn.setup()
    for i in range(64):
        list(fn.process(i))
    assert read_counts(str(tmp_path)) == {"read": 64}


def test_a_vanished_folder_never_fails_the_run(tmp_path):
    fn = _CountFn(str(tmp_path / "gone"), "read")
    fn.setup()
    list(fn.process(1))
    fn.finish_bundle()
    fn.teardown()
    assert read_counts(str(tmp_path / "gone")) == {} and not os.path.exists(tmp_path / "gone")
