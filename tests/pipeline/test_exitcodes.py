from pipeline import exitcodes
from pipeline.exitcodes import judge


def test_a_run_that_read_something_succeeds_whatever_it_rejected_without_a_ratio():
    assert judge({"articles": 1, "dead_letters": 99}, None) is None


def test_nothing_read_when_every_input_was_rejected_but_not_when_sources_were_empty():
    failure = judge({"articles": 0, "dead_letters": 3}, None)
    assert failure.status == exitcodes.NOTHING_READ and "all 3 inputs were rejected" in str(failure)
    assert judge({"articles": 0, "dead_letters": 0}, None) is None  # e.g. a feed with nothing new


def test_dead_letter_ratio_fails_only_past_the_threshold():
    assert judge({"articles": 6, "dead_letters": 4}, 0.4) is None
    failure = judge({"articles": 6, "dead_letters": 4}, 0.39)
    assert failure.status == exitcodes.TOO_MANY_DEAD_LETTERS
    assert str(failure) == "4 of 10 inputs were rejected (40.0%), over --max-dead-letter-ratio 0.39"
    assert judge({"articles": 0, "dead_letters": 4}, 0.5).status == exitcodes.NOTHING_READ  # 3 before 4


def test_statuses_are_distinct():
    statuses = [exitcodes.OK, exitcodes.FAILED, exitcodes.USAGE, exitcodes.NOTHING_READ,
                exitcodes.TOO_MANY_DEAD_LETTERS, exitcodes.LOCKED]
    assert len(set(statuses)) == len(statuses) and statuses[:3] == [0, 1, 2]
