"""Exit statuses of ``python -m pipeline``: the numbers in one place (README, CONTRACT).

A scheduler can act on them: 0 done; 1 the run failed (earlier outputs untouched,
retry may help); 2 a person must fix the command line, the config, the output
location or a damaged ``--state``; 5 another run holds ``--output`` or ``--state``
(retry later, or pass ``--wait-for-lock``). 3 and 4 are kept for "nothing read" and
"too many dead letters".
"""

OK = 0
FAILED = 1
USAGE = 2
LOCKED = 5
