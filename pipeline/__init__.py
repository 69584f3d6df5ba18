"""newsbeam's job: options, config, the graph and the entry point (``python -m pipeline``)."""

__version__ = "0.1.0"  # setup.py reads it from here
