"""Flex Template entry point: ``python deploy/flex_main.py --input=... --output=... [--incremental=true]``.

Dataflow's launcher passes every template parameter as ``--name=value``; boolean
parameters therefore arrive as ``--incremental=true``. This file turns those into
newsbeam's flags and runs the same ``pipeline.main`` as the command line.
"""

from __future__ import annotations

import sys

BOOLEAN_FLAGS = ("incremental", "allow_private_networks", "allow-private-networks")
TRUE = ("true", "1", "yes", "on")


def translate(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        if eq and name.lstrip("-") in BOOLEAN_FLAGS:
            if value.strip().lower() in TRUE:
                out.append(name)
            continue
        out.append(arg)
    return out


if __name__ == "__main__":
    from pipeline.main import main

    sys.exit(main(translate(sys.argv[1:])))
