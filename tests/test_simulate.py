"""Simulated moments and distributions against exact values (fixed seeds, 4 standard errors)."""

import numpy as np
import pytest
from scipy import stats

from engine import exact
from engine.expected import pool_cost
from engine.kernel import share_cases
from engine.scenario_inputs import prepare
from engine.simulate import simulate
from tests.conftest import make_scenario

PATHS = 4000
STATIC = {"claims": {"payment_lag": 0, "claimants_leave": False}, "run": {"years": 1 / 24}}


POOLS = {
    "large": make_scenario(members=100_000_000, **STATIC),
    "small": make_scenario(members=20_000, **STATIC),
    "below-cap": make_scenario(members=1_000_000, **STATIC),
    "kangai-period-cap": make_scenario("kangai", members=30_000, **STATIC),
    "entry-tier": make_scenario(
        members=400_000, plan={"tier": "entry"}, incidence={"multiplier": 1.0}, **STATIC
    ),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_moments_match_exact_values(name):
    scenario = POOLS[name]
    ds = simulate(scenario, paths=PATHS, seed=2024).isel(period=0)
    plan, members = scenario.plan, scenario.population.members
    lam, amounts, probs = exact.pool_severity(scenario)
    expected = pool_cost(
        plan, scenario.tier, prepare(scenario).members0[0], multiplier=scenario.incidence.multiplier
    )
    np.testing.assert_allclose(expected.claims, lam, rtol=1e-12)
    exact_cost = exact.compound_poisson(lam, amounts, probs)
    per_case, per_period = (
        fn(lam, amounts, probs, cap, members) if np.isfinite(cap) else 0.0
        for fn, cap in [
            (exact.per_case_cap_backstop, plan.cap_per_case),
            (exact.per_period_cap_backstop, plan.cap_per_period),
        ]
    )
    assert per_case == 0 or per_period == 0  # each pool has one kind of cap
    truth = {
        "claims": (lam, np.sqrt(lam)),
        "cost": (expected.cost, exact_cost.std()),
        "share_pre": (expected.cost / members, exact_cost.std() / members),
        "backstop": (per_case + per_period, None),
    }
    truth["share_post"] = ((truth["cost"][0] - truth["backstop"][0]) / members, None)
    simulated = {
        "claims": ds.claims.values,
        "cost": (ds.benefits + ds.fees).values,
        "share_pre": ds.share_pre.values,
        "backstop": ds.backstop.values,
        "share_post": ds.share_post.values,
    }
    for var, (mean, sd) in truth.items():
        x = simulated[var]
        se = (sd if sd is not None else x.std(ddof=1)) / np.sqrt(x.size)
        assert abs(x.mean() - mean) <= 4 * se + 1e-9 * abs(mean), (var, x.mean(), mean, se)
    if name == "below-cap":
        assert truth["backstop"][0] > 0.3 * truth["cost"][0]  # the cap binds hard


@pytest.mark.parametrize("members", [20_000, 200_000])
def test_period_cost_distribution_matches_compound_poisson(members):
    scenario = make_scenario(members=members, **STATIC)
    lam, amounts, probs = exact.pool_severity(scenario)
    dist = exact.compound_poisson(lam, amounts, probs)
    cost = simulate(scenario, paths=PATHS, seed=77).isel(period=0)
    k = np.rint((cost.benefits + cost.fees).values / dist.unit).astype(int)
    expected = dist.pmf * PATHS
    # pool lattice points from the top until each bin expects at least 5 paths
    edges, acc = [], 0.0
    for i in range(expected.size):
        acc += expected[i]
        if acc >= 5 and expected[i + 1 :].sum() >= 5:
            edges.append(i)
            acc = 0.0
    bins = np.searchsorted(np.array(edges), np.arange(expected.size))
    exp_binned = np.bincount(bins, weights=expected)
    obs_binned = np.bincount(np.searchsorted(np.array(edges), k), minlength=exp_binned.size)
    exp_binned *= obs_binned.sum() / exp_binned.sum()
    assert exp_binned.size >= 4
    result = stats.chisquare(obs_binned, exp_binned)
    assert result.pvalue > 1e-3, result


@pytest.mark.parametrize(("sharing", "positive"), [(3_240_000, False), (3_239_999, True)])
def test_xianghubao_cap_identity(sharing, positive):
    scenario = make_scenario(members=sharing, **STATIC)
    inputs = prepare(scenario)
    row = np.zeros(106, dtype=np.int64)
    row[35] = 1
    cases, benefits, cost, _, backstop = share_cases(
        row, inputs.benefit, inputs.case_cost, sharing, 0.1
    )
    assert (cases, benefits, cost) == (1, 300_000.0, 324_000.0)
    assert backstop == (324_000 - 0.1 * sharing if positive else 0.0)
    assert (backstop > 0) == positive
    ds = simulate(scenario.replace(run={"years": 0.5}), paths=20, seed=1)
    top_cases = (ds.benefits - 100_000 * ds.cases_paid) / 200_000
    assert int(top_cases.sum()) > 0
    np.testing.assert_allclose(
        ds.backstop, top_cases * max(324_000 - 0.1 * sharing, 0.0), rtol=1e-12, atol=0
    )


def test_a_run_prepares_its_kernel_inputs_once_however_many_chunks():
    """Preparing once per chunk repeated the whole scenario-to-array work for every chunk."""
    from unittest import mock

    from tests.inputs import SIM

    scenario = make_scenario(members=20_000, run={"years": 1 / 24, "chunk_size": 2})
    with mock.patch.object(SIM, "prepare", wraps=SIM.prepare) as spy:
        ds = SIM.simulate(scenario, paths=7, seed=3, threads=1)
    assert ds.sizes["path"] == 7 and spy.call_count == 1
