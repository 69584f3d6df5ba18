"""The soak's stop plan (tests/soak.py): drawn from the seed, never fewer than 3 drains and 3 forced stops."""

from __future__ import annotations

import random

from tests.soak import stop_plan


def test_the_stop_plan_follows_the_seed_and_always_has_three_drains_and_three_forced_stops():
    assert stop_plan(random.Random(18), 1800, (120, 240), 0.25) == stop_plan(random.Random(18), 1800, (120, 240), 0.25)
    for seed in range(50):
        for seconds, every, ratio in ((1800, (120, 240), 0.25), (120, (60, 180), 0.0), (1800, (60, 90), 1.0)):
            plan = stop_plan(random.Random(seed), seconds, every, ratio)
            kinds = [kind for _, kind in plan]
            assert kinds.count("drain") >= 3 and kinds.count("force") >= 3, (seed, seconds, plan)
            offsets = [t for t, _ in plan]
            assert offsets == sorted(offsets) and offsets[-1] < max(seconds - 60, 60)
