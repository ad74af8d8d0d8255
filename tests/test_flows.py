"""The scenario layer: joiners, exits, adverse selection, closure and run-off, accounts."""

import numpy as np
import pytest
import xarray as xr

from engine.results import COMPONENTS, closure_summary, tail_components
from engine.scenario import load_scenario
from engine.scenario_inputs import joiners_expected, prepare
from engine.simulate import simulate
from tests.conftest import make_scenario

NO_CLAIMS = {"incidence": {"multiplier": 0.0}}


def within(x, mean, se, k=4.0):
    assert abs(x - mean) <= k * se, (x, mean, se)


def test_flows_switched_off_change_nothing():
    base = make_scenario(members=400_000, deduction={"failure_rate": 0.01}, run={"years": 2})
    off = base.replace(
        growth={"curve": "constant", "joiners": 0.0},
        exits={"base_rate": 0.0, "price_rate": 0.0},
        selection={"price_sensitivity": 2.0},
        platform={"fixed_cost": 0.0},
    )
    a, b = simulate(base, paths=10, seed=8), simulate(off, paths=10, seed=8)
    for var in a.data_vars:
        np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)


@pytest.mark.parametrize(
    "growth",
    [
        {"curve": "constant", "joiners": 5_000},
        {"curve": "decay", "joiners": 8_000, "half_life_years": 0.5},
        {"curve": "logistic", "capacity": 2_000_000, "midpoint_years": 0.5, "rate_per_year": 3},
        {"curve": "table", "table": [100, 2_000, 30_000]},
    ],
)
def test_joiners_match_the_growth_curve(growth):
    scenario = make_scenario(members=100_000, growth=growth, **NO_CLAIMS)
    ds = simulate(scenario, paths=400, seed=3)
    expected = joiners_expected(scenario)
    mean = ds.joiners.mean("path").values
    se = np.sqrt(np.maximum(expected, 1e-12) / ds.sizes["path"])
    assert (np.abs(mean - expected) <= 4 * se + 1e-9).all()
    # joiners wait through their first W periods; at the end of period W - 1 they are eligible
    w = scenario.plan.waiting_periods
    assert (ds.waiting[:, : w - 1] == ds.joiners.cumsum("period")[:, : w - 1]).all()
    assert (ds.eligible[:, w - 1] == 100_000 + ds.joiners[:, 0]).all()


def test_joiners_follow_the_age_mix_and_impaired_share():
    scenario = make_scenario(
        members=0,
        growth={"curve": "constant", "joiners": 50_000},
        selection={"joiner_impaired_share": 0.2},
        run={"years": 0.5},
        **NO_CLAIMS,
    )
    ds = simulate(scenario, paths=100, seed=2)
    total = ds.joiners.sum("period").values
    frac = ds.impaired.isel(period=-1).values / ds.members.isel(period=-1).values
    within(frac.mean(), 0.2, frac.std(ddof=1) / np.sqrt(frac.size))
    np.testing.assert_array_equal(ds.members.isel(period=-1).values, total)


def test_base_exits_match_the_hazard():
    scenario = make_scenario(
        members=1_000_000,
        exits={"base_rate": 0.24},
        claims={"claimants_leave": False},
        run={"years": 0.25},
        **NO_CLAIMS,
    )
    ds = simulate(scenario, paths=300, seed=4)
    p = -np.expm1(-0.24 / 24)
    first = ds.exits.isel(period=0).values
    n = 1_000_000
    within(first.mean(), n * p, np.sqrt(n * p * (1 - p) / first.size))
    # survival over the quarter: E[members] = n (1 - p)^t
    t = ds.sizes["period"]
    last = ds.members.isel(period=-1).values
    s = (1 - p) ** t
    within(last.mean(), n * s, np.sqrt(n * s * (1 - s) / last.size))


def _price_scenario(elasticity_impaired, impaired_share=0.3):
    # E互助 charges 0.5 yuan a period and no cases occur: the price ratio is exactly 2
    return make_scenario(
        "ehuzhu",
        members=400_000,
        population={"members": 400_000, "impaired_share": impaired_share},
        exits={
            "price_rate": 0.5,
            "reference_share": 0.25,
            "elasticity_standard": 2.0,
            "elasticity_impaired": elasticity_impaired,
        },
        run={"years": 1},
        **NO_CLAIMS,
    )


def test_price_exits_follow_the_iso_elastic_rule():
    ds = simulate(_price_scenario(1.0, impaired_share=0.0), paths=200, seed=6)
    p = -np.expm1(-0.5 / 24 * 2.0**2.0)
    first = ds.exits.isel(period=0).values
    within(first.mean(), 400_000 * p, np.sqrt(400_000 * p * (1 - p) / first.size))


@pytest.mark.parametrize(("elasticity_impaired", "drifts"), [(2.0, False), (0.3, True)])
def test_impaired_share_drifts_up_only_when_healthy_members_are_more_price_sensitive(
    elasticity_impaired, drifts
):
    ds = simulate(_price_scenario(elasticity_impaired), paths=200, seed=7).isel(period=-1)
    # with equal hazards E[impaired] = 0.3 E[members] exactly
    gap = (ds.impaired - 0.3 * ds.members).values
    mean, se = gap.mean(), gap.std(ddof=1) / np.sqrt(gap.size)
    if drifts:
        assert mean > 10 * se and (ds.impaired / ds.members).mean() > 0.33
    else:
        within(mean, 0.0, se)


def test_plan_below_its_minimum_closes_in_the_first_period():
    scenario = make_scenario(members=1_000_000, termination={"min_members": 2_000_000})
    ds = simulate(scenario, paths=30, seed=1)
    assert (ds.closure_period == 0).all()
    assert (ds.active.isel(period=0) == 1).all() and (ds.active.isel(period=1) == 0).all()
    assert (ds.members.isel(period=slice(3, None)) == 0).all()


def test_plan_far_above_its_minimum_without_exits_never_closes():
    scenario = make_scenario(members=5_000_000, termination={"min_members": 3_240_000})
    ds = simulate(scenario.replace(run={"years": 3}), paths=30, seed=1)
    assert (ds.closure_period == -1).all() and (ds.active == 1).all()
    assert (ds.runoff == 0).all()


@pytest.mark.parametrize(("lag", "notice"), [(2, 0), (1, 0), (2, 3), (0, 2)])
def test_runoff_is_the_pending_claims_at_closure(lag, notice):
    # 美团互助 pays 300,000 at every age; a high incidence makes many claims pending
    scenario = make_scenario(
        "meituan",
        members=600_000,
        incidence={"multiplier": 5.0},
        claims={"payment_lag": lag},
        exits={"base_rate": 2.0},
        termination={"min_members": 450_000, "notice_periods": notice},
        run={"years": 1.5},
    )
    ds = simulate(scenario, paths=20, seed=5)
    assert (ds.closure_period >= 0).all()
    for p in range(ds.sizes["path"]):
        path = ds.isel(path=p)
        tc = int(path.closure_period)
        approved = path.approved.values
        expected = 300_000 * approved[max(tc - lag + 1, 0) : tc + notice + 1].sum()
        assert path.runoff.values.sum() == expected
        # conservation through closure: every approved claim is paid, by members or platform
        assert path.benefits.values.sum() + path.runoff.values.sum() == 300_000 * approved.sum()


def test_platform_accounts_add_up():
    scenario = make_scenario(
        members=2_000_000,
        growth={"curve": "constant", "joiners": 10_000},
        platform={"fixed_cost": 1e6, "cost_per_case": 1_000, "cost_per_joiner": 15},
        deduction={"failure_rate": 0.01, "recovery_rate": 0.4},
    )
    ds = simulate(scenario, paths=10, seed=2)
    # 相互宝's published fee: 8% of the benefits shared, nothing per case or per member
    np.testing.assert_allclose(ds.fees, 0.08 * ds.benefits, rtol=1e-12)
    assert float(ds.fees.sum()) > 0
    np.testing.assert_array_equal(ds.revenue, ds.fees)  # revenue is the fees, by definition
    cost = 1e6 + 1_000 * ds.claims + 15 * ds.joiners
    np.testing.assert_allclose(ds.platform_cost, cost)
    np.testing.assert_allclose(ds.net_cash, ds.revenue - cost - ds.liability)
    np.testing.assert_allclose(ds.platform_result, ds.net_cash.sum("period"))
    parts = ds.backstop_pv + ds.shortfall_pv + ds.runoff_pv + ds.reserve_pv
    np.testing.assert_allclose(parts, ds.liability_pv, rtol=1e-12)


def test_prepay_pool_is_held_and_lapses_follow_topups():
    scenario = make_scenario(
        "shuidi", members=200_000, exits={"topup_probability": 0.9}, run={"years": 2}
    )
    ds = simulate(scenario, paths=10, seed=3)
    assert (ds.prepay_pool >= 0).all() and (ds.prepay_pool.isel(period=0) > 0).all()
    assert (ds.lapses.sum("period") > 0).all() and (ds.failures == 0).all()
    always = simulate(scenario.replace(exits={"topup_probability": 1.0}), paths=10, seed=3)
    assert (always.lapses == 0).all()
    np.testing.assert_allclose(always.shortfall, always.recovered, rtol=1e-12)


def test_closure_summary_and_tail_components():
    ds = simulate(load_scenario("scenarios/denghuo.toml"), paths=200, seed=11)
    table = closure_summary(ds)
    p1 = table.loc[1, "probability"]
    assert p1 > 0.5  # 灯火互助 closes within a year on most paths
    assert table.loc[1, "std_error"] == pytest.approx(np.sqrt(p1 * (1 - p1) / 200))
    assert table.probability.is_monotonic_increasing
    tails = tail_components(ds)
    parts = tails.loc[list(COMPONENTS)].sum()
    np.testing.assert_allclose(parts, tails.loc["liability_pv"], rtol=1e-9)


def test_audit_window_rejects_more_early_claims():
    common = {
        "members": 0,
        "growth": {"curve": "constant", "joiners": 200_000},
        "incidence": {"multiplier": 3.0},
        "run": {"years": 1},
    }
    strict = make_scenario(
        **common, selection={"audit_window_periods": 24, "window_rejection": 0.5}
    )
    plain = make_scenario(**common)
    a, b = simulate(strict, paths=40, seed=1), simulate(plain, paths=40, seed=1)
    rate = lambda ds: ds.approved.sum() / ds.claims.sum()  # noqa: E731
    assert float(rate(b)) == 1.0
    within(float(rate(a)), 0.5, 0.02)
    assert prepare(strict).approval.tolist()[:3] == [1.0, 0.5, 0.5]


def test_bundled_scenarios_replay_identically():
    scenario = load_scenario("scenarios/lax_underwriting.toml").replace(run={"years": 1})
    a, b = simulate(scenario, paths=6), simulate(scenario, paths=6)
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
