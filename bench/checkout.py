"""Another checkout's code beside this one, in one process, for the cost comparisons
(:mod:`bench.topiccost`, :mod:`bench.storycost`, :mod:`bench.stagecost`).

:func:`imported_from` swaps the ``transforms`` package in ``sys.modules``: inside the block,
``import transforms...`` imports the checkout at ``root``; after it, the modules imported stay
usable through the references taken, and the next checkout imports its own.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator


def _forget_transforms() -> None:
    for name in [n for n in sys.modules if n == "transforms" or n.startswith("transforms.")]:
        del sys.modules[name]


@contextlib.contextmanager
def imported_from(root: str) -> Iterator[None]:
    """``transforms`` imported from the checkout at ``root`` inside the block."""
    _forget_transforms()
    sys.path.insert(0, root)
    try:
        yield
    finally:
        sys.path.remove(root)
        _forget_transforms()


def story_blocks(mods: dict[str, Any], feats: list, params: Any) -> dict[str, list]:
    """Document frequencies, then each article's block keys and member, as the story step files
    them: ``{block key: [members]}``, with a checkout's own ``stories.vectors`` and ``stories.blocks``
    (a checkout older than a shared function still runs)."""
    df, n = mods["stories.vectors"].document_frequencies(feats)
    blocks: dict[str, list] = {}
    for f in feats:
        keys, member = mods["stories.blocks"].block_features(f, df, n, params)
        for key in keys:
            blocks.setdefault(key, []).append(member)
    return blocks
