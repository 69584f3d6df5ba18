"""The exit statuses of ``newsbeam`` / ``python -m pipeline``, in one place, and the rule that
turns a finished run's summary into one (README "Exit status", docs/cli.md).

A scheduler can act on them: 2 means fix the command line or config (nothing was touched), 3
means the sources gave nothing (a mistyped pattern, every feed down), 4 means too much was
rejected, 1 means the runner failed.
"""

from __future__ import annotations

OK = 0  # the run finished (some inputs may be in dead_letter/)
FAILED = 1  # the run itself failed: the runner's error
USAGE = 2  # bad command line, config, runner or output location; checked before any output is touched
NOTHING_READ = 3  # no input pattern matched a file, or every input and feed was rejected
TOO_MANY_DEAD_LETTERS = 4  # the dead-letter ratio passed --max-dead-letter-ratio
LOCKED = 5  # another run holds --output or --state (pipeline/lock.py); --wait-for-lock waits instead


class RunError(Exception):
    """A run that ends with a non-zero status and a one-line message for a person."""

    def __init__(self, status: int, message: str, summary: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.summary = summary  # the finished run's summary, printed before the message


def judge(summary: dict, max_dead_letter_ratio: float | None) -> RunError | None:
    """The failure a finished batch run's counts amount to, or None when it succeeded.

    Nothing read: no article came out and something was rejected (every pattern matched
    nothing, every file was bad, every feed failed). A run whose sources were all readable
    but empty (a feed with no new entries) has read nothing wrong and succeeds.
    """
    articles, dead = summary.get("articles", 0), summary.get("dead_letters", 0)
    if articles == 0 and dead > 0:
        return RunError(NOTHING_READ, f"nothing could be read: all {dead} inputs were rejected (see dead_letter/)")
    inputs = articles + dead
    if max_dead_letter_ratio is not None and inputs and dead / inputs > max_dead_letter_ratio:
        return RunError(
            TOO_MANY_DEAD_LETTERS,
            f"{dead} of {inputs} inputs were rejected ({dead / inputs:.1%}), "
            f"over --max-dead-letter-ratio {max_dead_letter_ratio:g}",
        )
    return None
