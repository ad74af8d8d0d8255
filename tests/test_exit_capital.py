"""The exit cost of every period against hand-worked wind-downs and realised closures."""

import numpy as np

from engine import kernel_inputs as P
from engine.scenario_inputs import prepare
from engine.simulate import simulate
from tests.conftest import make_scenario

YOUNG = {"18-29": 1.0}  # one benefit (300,000 yuan) and one case cost for the first year


def test_static_pool_exit_cost_is_the_notice_by_hand_to_the_fen():
    # A notice counted one period short or long, pending claims paid at benefit instead of
    # full cost, the rush or the members' fee left out, or run-off forgotten: each moves the
    # exit cost by far more than a fen.
    rush, notice = 1.7, 2
    scenario = make_scenario(
        members=200_000,
        plan={"fee": {"rate": 0.08, "per_member_month": 0.5}},
        population={"members": 200_000, "age_mix": YOUNG},
        claims={"claimants_leave": False},
        growth={"curve": "none"},
        termination={"members_pay_notice": False, "notice_periods": notice, "claims_rush": rush},
    )
    ds = simulate(scenario, paths=3, seed=9)
    inputs = prepare(scenario)
    lam = float((inputs.members0[0] * inputs.hazard).sum())  # claims per period, static
    benefit, cost = 300_000.0, 300_000.0 * 1.08
    fee = inputs.par[P.MEMBER_FEE] * 200_000  # members' fees the platform forgoes
    assert fee > 0
    for t in range(0, 20):  # no birthday within the notice
        pending = ds.approved.values[:, t]  # approved now, due next period (lag 1)
        by_hand = pending * cost + notice * fee + rush * lam * cost + rush * lam * benefit
        np.testing.assert_allclose(ds.exit_cost.values[:, t], by_hand, rtol=0, atol=0.005)


def test_xianghubao_wind_down_costs_its_exit_cost_on_average():
    # The 2021-12-28 closure with the notice unpaid: the realised cost of the wind-down
    # (notice periods and run-off) averages the exit cost of the announcement period
    # within 4 standard errors; a wrong ring row, a rush not applied or claimants not
    # leaving in expectation would be many errors off.
    scenario = make_scenario(
        members=300_000,
        population={"members": 300_000, "age_mix": {"18-35": 1.0}},
        run={"years": 2},
        growth={"curve": "constant", "joiners": 2_000, "age_mix": {"18-35": 1.0}},
        termination={"announce_on": "2021-12-28", "members_pay_notice": False,
                     "notice_periods": 2, "claims_rush": 2.0},
    )  # fmt: skip
    ds = simulate(scenario, paths=400, seed=12)
    t = 33  # 2021-12-15, the period of the announcement
    assert (ds.closure_period == t).all()
    realised = ds.liability.values[:, t + 1 :].sum(axis=1)
    gap = realised - ds.exit_cost.values[:, t]
    assert abs(gap.mean()) < 4 * gap.std(ddof=1) / np.sqrt(gap.size)
    assert (ds.exit_cost.values[:, t + 1 :] == 0).all()  # nothing left to announce
