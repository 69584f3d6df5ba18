"""Checksums of state files: sealed JSON records and data files."""

import json

import pytest

from transforms.state.integrity import StateError, check_sealed, file_checksum, load_sealed, seal


def test_sealed_records_round_trip_and_edits_are_caught():
    record = seal({"run_id": "r", "files": [{"path": "a", "size": 1}]})
    assert load_sealed(json.dumps(record).encode(), "m.json", "fix it") == record
    assert check_sealed({"run_id": "old"}, "m.json", "x") == {"run_id": "old"}  # written before checksums
    edited = {**record, "run_id": "s"}
    with pytest.raises(StateError, match=r"m.json is damaged \(its checksum does not match its content\); fix it"):
        check_sealed(edited, "m.json", "fix it")
    with pytest.raises(StateError, match="not JSON"):
        load_sealed(b'{"run_id": "r", "fil', "m.json", "fix it")
    with pytest.raises(StateError, match="not a JSON object"):
        load_sealed(b"[1, 2]", "m.json", "fix it")


def test_file_checksum_changes_with_the_content(tmp_path):
    path = tmp_path / "shard"
    path.write_bytes(b"abc")
    first = file_checksum(str(path))
    assert first.startswith("sha256:") and first == file_checksum(str(path))
    path.write_bytes(b"abd")
    assert file_checksum(str(path)) != first
