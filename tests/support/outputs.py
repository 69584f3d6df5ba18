"""Split what a DoFn's ``process`` yielded into its main outputs and its dead letters."""

from apache_beam.pvalue import TaggedOutput

from transforms.common.stage import DEAD_LETTER


def split_dead_letters(outputs) -> tuple[list, list[dict]]:
    """(main outputs, dead letters); any other tagged output fails the test."""
    kept, dead = [], []
    for item in outputs:
        if isinstance(item, TaggedOutput):
            assert item.tag == DEAD_LETTER
            dead.append(item.value)
        else:
            kept.append(item)
    return kept, dead
