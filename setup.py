"""newsbeam: news ingestion on Apache Beam.

Installable with ``pip install -e .`` and usable as Dataflow ``--setup_file``:
the workers install the same pinned dependencies as the launcher.
"""

from setuptools import find_packages, setup

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
]

EXTRAS = {
    "dask": ["dask[distributed]==2026.8.0", "distributed==2026.8.0"],
    "test": [
        "pytest>=8,<10",
        "gcp-storage-emulator==2026.7.19",
        "psutil>=5.9",
        "py-spy>=0.4",
        "ruff>=0.6",
        "hypothesis==6.168.3",  # property-based tests of the input edge (tests/transforms/io/test_input_properties.py)
        "dask[distributed]==2026.8.0",
        "distributed==2026.8.0",
        "mutmut==3.8.1",  # make mutate (tests/mutation/run.py): mutation testing of the core modules
    ],
}

setup(
    name="newsbeam",
    version="0.1.0",
    description="News-monitoring ingestion pipeline on Apache Beam",
    python_requires=">=3.10,<3.13",
    # configs/ is listed for the story lexicon and the input field presets: transforms/stories/lexicon.py
    # and transforms/io/fieldmap.py read them beside the package, so workers that install newsbeam
    # (--setup_file, the Flex Template image) need them there too
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*"]) + ["configs"],
    package_data={"configs": ["story_lexicon.yaml", "input_fields.yaml"]},
    install_requires=REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["newsbeam=pipeline.main:main"]},
)
