"""The built wheel is a real package: installed into a fresh venv, ``newsbeam`` runs the sample
from another folder with no --config (the configs are package data)."""

import json
import subprocess
import zipfile

import pytest

from tests.support import REPO
from tests.support.cli import read_jsonl
from tests.support.wheel import build_wheel, clean_env, fresh_venv_with

pytestmark = pytest.mark.e2e


def test_wheel_in_a_fresh_venv_runs_the_sample_from_another_folder(tmp_path):
    wheel = build_wheel(tmp_path / "build")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("configs/local.yaml", "configs/topics.yaml", "configs/feeds.yaml", "configs/story_lexicon.yaml",
                    "configs/input_fields.yaml",
                    "configs/__init__.py", "pipeline/main.py", "transforms/io/read.py"):
        assert shipped in names, shipped
    assert not any(n.startswith(("tests/", "bench/", "eval/")) for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    assert "Requires-Python: >=3.11,<3.14" in metadata

    bin_dir = fresh_venv_with(wheel, tmp_path / "venv")
    where = tmp_path / "elsewhere"
    where.mkdir()
    located = subprocess.run(
        [str(bin_dir / "python"), "-c", "import configs, pipeline, transforms; print(pipeline.__file__); print(configs.path('local.yaml'))"],
        cwd=where, env=clean_env(), capture_output=True, text=True, check=True,
    ).stdout.split()
    assert all(path.startswith(str(tmp_path / "venv")) for path in located), located  # not the checkout

    sample = REPO / "data" / "sample"
    out = where / "out"
    result = subprocess.run(
        [str(bin_dir / "newsbeam"), "--input", str(sample / "*.jsonl"), "--input", str(sample / "*.txt"),
         "--input", str(sample / "*.html"), "--output", str(out)],
        cwd=where, env=clean_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    articles = read_jsonl(out / "articles")
    assert len(articles) >= 10 and any(a["topics"] for a in articles)  # the shipped taxonomy was read
    assert any(len(s["article_ids"]) > 1 for s in read_jsonl(out / "stories"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["runner"] == "FnApiRunner" and summary["run"]["config"].startswith(str(tmp_path / "venv"))
    assert summary["run"]["config"].endswith("configs/local.yaml")
