"""Closure below the minimum is judged on the sharing members (engine.kernel).

A hand-built pool: 1,000 members, half of them in the 6-period waiting period, no claimant
leaving, no exits, no joiners, so every count is known: 520 share in period 0 and 80 more
finish their wait each period (600 share from the end of period 0), while all 1,000 stay
members. With ``waiting_members_share = false`` only those past their wait share.

Bug it guards: closure tested on all members instead of the sharing members, which leaves a
plan with 1,000 members of whom 600 share open under a minimum of 800.
"""

import numpy as np

from engine import kernel
from engine.simulate import simulate
from tests.conftest import make_scenario


def _run(min_members: int, waiting_share: bool):
    scenario = make_scenario(
        "xianghubao",
        1000,
        population={"waiting_share": 0.5},
        claims={"claimants_leave": False},
        termination={"min_members": min_members},
        waiting_members_share=waiting_share,
        run={"paths": 3, "years": 0.5},
    )
    return simulate(scenario, seed=1, threads=1)


def test_closure_counts_only_sharing_members_when_waiting_members_do_not_share():
    pool = _run(0, waiting_share=False)  # the same pool without a minimum
    np.testing.assert_array_equal(pool.sharing.values[:, :3], [[520, 600, 680]] * 3)
    assert (pool.members.values == 1000).all()
    ds = _run(800, waiting_share=False)
    assert (ds.members.values[:, 0] == 1000).all()  # 1,000 members >= 800 ...
    assert (ds.closure_period.values == 0).all()  # ... but 600 sharing < 800: closed
    assert (ds.closure_cause.values == kernel.CAUSE_MEMBERS).all()


def test_waiting_members_count_when_they_share_and_a_lower_minimum_stays_open():
    sharing = _run(800, waiting_share=True)
    assert (sharing.sharing.values == 1000).all()
    assert (sharing.closure_period.values == -1).all()  # 1,000 sharing >= 800
    lower = _run(600, waiting_share=False)  # 600 sharing is not below 600
    assert (lower.closure_period.values == -1).all()
    assert (_run(601, waiting_share=False).closure_period.values == 0).all()
