"""The join tallies of the streaming story composite (transforms/stories/streaming.py), without a pipeline."""

from functools import reduce

from transforms.stories.blockstate import HELD, HELD_MANY, NEW, PROPOSAL, PROPOSED
from transforms.stories.streaming import (
    ARTICLE,
    FREQUENCIES,
    PAYLOAD,
    STORY,
    frequencies_complete,
    held_complete,
    proposals_complete,
    story_complete,
    tally_part,
)


def _tally(*parts):
    return reduce(tally_part, parts, {})


def test_an_article_is_complete_with_a_proposal_from_each_of_its_keys_in_any_order():
    assert not proposals_complete(_tally((PROPOSAL, "p1"), (PROPOSAL, "p2")))  # the article not there yet
    assert not proposals_complete(_tally((PROPOSAL, "p1"), (ARTICLE, 3), (PROPOSAL, "p2")))
    assert proposals_complete(_tally((PROPOSAL, "p1"), (ARTICLE, 3), (PROPOSAL, "p2"), (PROPOSAL, "p3")))
    assert proposals_complete(_tally((ARTICLE, 0)))  # unblocked: nothing to wait for


def test_proposals_that_come_together_count_one_each():
    assert not proposals_complete(_tally((ARTICLE, 4), (PROPOSED, ("p1", "p2")), (PROPOSAL, "p3")))
    assert proposals_complete(_tally((PROPOSED, ("p1", "p2")), (ARTICLE, 4), (PROPOSAL, "p3"), (PROPOSED, ("p4",))))
    assert _tally((PROPOSED, ("p1", "p2", "p3")))[PROPOSAL] == 3


def test_a_block_is_complete_with_an_answer_for_each_member_it_wanted():
    assert not held_complete(_tally((HELD, None)))
    assert not held_complete(_tally((HELD, None), (NEW, ([], 2))))
    assert held_complete(_tally((HELD, None), (NEW, ([], 2)), (HELD, "v")))


def test_answers_that_come_together_count_one_each():
    assert not held_complete(_tally((NEW, ([], 3, b"")), (HELD_MANY, ("v", None))))
    assert held_complete(_tally((HELD_MANY, ("v", None)), (NEW, ([], 3, b"")), (HELD_MANY, ("w",))))
    assert _tally((HELD_MANY, ("v", "w", None)))[HELD] == 3


def test_frequencies_and_stories_wait_for_every_part():
    assert not frequencies_complete(2, _tally((PAYLOAD, "p"), (FREQUENCIES, {})))
    assert frequencies_complete(2, _tally((FREQUENCIES, {}), (PAYLOAD, "p"), (FREQUENCIES, {})))
    assert not story_complete(_tally((ARTICLE, {"id": "a"})))  # an article record does not say what to expect
    assert story_complete(_tally((ARTICLE, {"id": "a"}), (STORY, "s-a")))


def test_a_tally_is_a_new_dict_each_time():
    first = _tally((ARTICLE, 1))
    second = tally_part(first, (PROPOSAL, "p"))
    assert first == {ARTICLE: 1, "expect": 1} and second[PROPOSAL] == 1


def test_every_stateful_step_gets_a_deterministic_key_coder(caplog):
    """Beam picks a stateful step's key coder from its input's type; an untyped input gets the
    pickling fallback and a start-up warning per step that state may be keyed wrongly. With a batch
    run's memory as prior too (the extra inputs are flattened in)."""
    import logging

    import apache_beam as beam
    from apache_beam.transforms import window

    from transforms.stories.streaming import AssignStoriesAcrossWindows

    with caplog.at_level(logging.WARNING):
        p = beam.Pipeline()
        prior = p | "Prior" >> beam.Create([])
        _ = p | beam.Create([]) | AssignStoriesAcrossWindows(window.FixedWindows(60), prior=prior)
    coders = [r.getMessage() for r in caplog.records if "deterministic" in r.getMessage()]
    assert coders == []
