"""Build newsbeam's wheel from a copy of the sources and install it into a fresh venv, offline.

The venv gets newsbeam from the wheel only; its dependencies come from the venv running the
tests, added as a plain path at the end of ``sys.path`` (a ``.pth`` line: that folder's own
``.pth`` files, such as an editable install of newsbeam, are not run), so nothing is downloaded.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

from tests.support import REPO

SOURCES = ("setup.py", "README.md", "pipeline", "transforms", "configs")


def clean_env() -> dict[str, str]:
    """The environment without anything that points Python at the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}


def build_wheel(work: pathlib.Path) -> pathlib.Path:
    """``pip wheel`` of a copy of the sources (the checkout gets no build/ or egg-info)."""
    src = work / "src"
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(work / "dist"), str(src)],
        check=True, capture_output=True, text=True, env=clean_env(), cwd=work, timeout=600,
    )
    (wheel,) = (work / "dist").glob("newsbeam-*.whl")
    return wheel


def fresh_venv_with(wheel: pathlib.Path, where: pathlib.Path) -> pathlib.Path:
    """A new venv at ``where`` with ``wheel`` installed; returns its ``bin/`` folder."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, text=True, env=clean_env(), timeout=600,
    )
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True, env=clean_env()).stdout.strip()
    pathlib.Path(site, "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return where / "bin"
