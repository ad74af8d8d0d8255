"""Capital, fairness, stranded members and policy levers (engine.policy)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from engine import exact
from engine.cli import main
from engine.policy import (
    capital,
    capital_by_size,
    compare_levers,
    fairness,
    horizon_liability,
    stranded,
    stranded_summary,
)
from engine.scenario import load_scenario
from engine.scenario_inputs import prepare
from engine.simulate import simulate
from tests.conftest import make_scenario

ROOT = Path(__file__).resolve().parents[1]
STATIC = {"claims": {"payment_lag": 0, "claimants_leave": False}, "run": {"years": 1 / 24}}
ONE_BAND = {
    "cap_per_case": float("inf"),
    "tiers": {"standard": {"bands": [{"min_age": 0, "max_age": 105, "benefit": 300_000}]}},
}


def period_cost(scenario):
    """Exact distribution of a static pool's cost in one period (compound Poisson)."""
    inputs = prepare(scenario)
    lam_by_age = (inputs.members0[0] * inputs.hazard).sum(axis=(0, 2))
    amounts = np.unique(inputs.case_cost[lam_by_age > 0])
    lam = np.array([lam_by_age[inputs.case_cost == a].sum() for a in amounts])
    return exact.compound_poisson(lam.sum(), amounts, lam / lam.sum())


# --- capital ---------------------------------------------------------------------------------


def test_capital_matches_exact_quantile_of_period_cap_backstop():
    members = 1_000_000
    scenario = make_scenario("kangai", members=members, discount_rate=0.0, **STATIC)
    table = capital(scenario, paths=4000, seed=11, horizon_years=1 / 24)
    cost = period_cost(scenario)
    cap = 3.0 * members
    var = table.loc["VaR 99.5%"]
    assert var.ci_low <= max(cost.quantile(0.995) - cap, 0.0) <= var.ci_high
    mean = table.loc["mean"]
    exact_mean = cost.expect(lambda s: np.maximum(s - cap, 0.0))
    assert abs(mean.estimate - exact_mean) < 4 * mean.std_error
    assert var.per_member == pytest.approx(var.estimate / members)
    assert var.backstop_pv == pytest.approx(var.estimate, rel=0.01)  # the only component
    assert list(table.index) == ["mean", "VaR 99%", "TVaR 99%", "VaR 99.5%", "TVaR 99.5%"]


def test_horizon_liability_keeps_the_runoff_of_closures_within_the_horizon():
    scenario = load_scenario(ROOT / "scenarios/denghuo.toml")
    ds = simulate(scenario, paths=30, seed=3, years=1 + 1 / 24)
    closed = ds.closure_period.values
    assert (closed >= 0).all() and (closed < 24).all()  # every path closes in the year
    h = horizon_liability(ds, 24)
    np.testing.assert_allclose(h.liability_pv, ds.liability_pv, rtol=1e-12)
    parts = sum(h[name] for name in ("backstop_pv", "shortfall_pv", "runoff_pv", "reserve_pv"))
    np.testing.assert_allclose(parts, h.liability_pv, rtol=1e-9)
    # a horizon that ends before any closure keeps its own periods only
    early = horizon_liability(ds, 6)
    v = 1.03 ** (-(np.arange(6) + 1) / 24)
    np.testing.assert_allclose(early.liability_pv, (ds.liability[:, :6] * v).sum("period"))
    assert (early.closure_period == -1).all()


def test_capital_by_size_is_the_capital_of_each_size_on_common_random_numbers():
    scenario = make_scenario("kangai", members=10, run={"years": 1})
    curve = capital_by_size(scenario, [200_000, 2_000_000], paths=60, seed=5)
    assert list(curve.index) == [200_000, 2_000_000]
    one = capital(scenario.replace(population={"members": 2_000_000}), paths=60, seed=5)
    assert curve.loc[2_000_000, "capital"] == one.loc["VaR 99.5%", "estimate"]
    np.testing.assert_allclose(curve.per_member, curve.capital / curve.index)


def test_cli_capital_prints_the_table(capsys):
    assert main(["capital", str(ROOT / "scenarios/kangai.toml"), "--paths", "40"]) == 0
    out = capsys.readouterr().out
    assert "VaR 99.5%" in out and "yuan/member" in out and "backstop" in out


# --- fairness --------------------------------------------------------------------------------


def test_fairness_is_one_for_every_cohort_with_flat_incidence_and_one_band():
    scenario = make_scenario(
        members=1_000_000,
        plan=ONE_BAND,
        population={"waiting_share": 0.0},
        claims={"payment_lag": 0},
        run={"years": 2},
    )
    table = fairness(scenario, paths=300, seed=8, annual_incidence=0.002)
    z = (table.ratio - 1) / table.ratio_se
    assert (z.abs() < 3).all(), z.describe()
    assert table.members.sum() == 1_000_000
    np.testing.assert_allclose(table.fair_cost, 300_000 * 24 * -np.log1p(-0.002) / 24)


def test_fairness_young_subsidise_those_just_under_40():
    scenario = make_scenario(members=10_000_000, population={"waiting_share": 0.0})
    table = fairness(scenario, paths=40, seed=8, bands=(0, 20, 30, 35, 40, 50))
    for sex in ("M", "F"):
        young, older = table.loc[(sex, "20-29", "standard")], table.loc[(sex, "35-39", "standard")]
        assert young.ratio + 3 * young.ratio_se < 1 < older.ratio - 3 * older.ratio_se
        assert young.cross_subsidy < 0 < older.cross_subsidy
        assert young.fair_cost < young.net_paid_per_year < older.fair_cost


# --- stranded members ------------------------------------------------------------------------


def test_stranded_lost_benefit_and_transfer():
    scenario = make_scenario(
        "denghuo",
        members=560_000,
        termination={"min_members": None, "notice_periods": 1},
        exits={"base_rate": 0.5},
        discount_rate=0.0,
        run={"years": 1},
    )
    ds = simulate(scenario, paths=20, seed=4)
    table = stranded(ds)
    ended = table.end_period >= 0
    assert ended.all() and (table.stranded_members > 0).all()
    inputs = prepare(scenario)
    pool = inputs.members0.sum(axis=(0, 3))
    rate = (pool * inputs.hazard[:, :, 0] * inputs.benefit).sum() / pool.sum()
    remaining = 24 - table.end_period - 1
    np.testing.assert_allclose(table.lost_benefit, table.stranded_members * rate * remaining)
    np.testing.assert_allclose(
        table.members_loss, table.stranded_contributions + table.lost_benefit
    )
    summary = stranded_summary(table)
    assert summary.loc["stranded_members", "P(>0)"] == 1.0
    moved = stranded(simulate(scenario.replace(policy={"transfer_at_closure": True}), 20, 4))
    assert (moved.lost_benefit == 0).all()
    np.testing.assert_array_equal(moved.stranded_members, table.stranded_members)


# --- policy levers ---------------------------------------------------------------------------


def test_common_random_numbers_shrink_the_error_of_lever_differences():
    scenario = make_scenario(
        members=1_000_000, deduction={"failure_rate": 0.02, "recovery_rate": 0.5}
    )
    levers = {
        "reserve": {"policy": {"reserve": 2e6, "reserve_trigger": 4.0}},
        "max_share": {"policy": {"max_share": 6.0}},
    }
    same = compare_levers(scenario, levers, paths=200, seed=1)
    other = compare_levers(scenario, levers, paths=200, seed=2)
    for lever in levers:
        paired = same.loc[(lever, "liability_mean"), "diff_se"]
        independent = np.hypot(
            same.loc[(lever, "liability_mean"), "value_se"],
            other.loc[("base", "liability_mean"), "value_se"],
        )
        assert independent > 5 * paired, (lever, independent / paired)
    assert (same.loc["base", "diff"] == 0).all()


def test_compare_levers_names_every_bad_lever():
    scenario = make_scenario(members=1000)
    bad = {"base": {}, "neg": {"policy": {"reserve": -1.0}}}
    with pytest.raises(ValueError, match=r"reserved for the base run.*lever 'neg'.*reserve"):
        compare_levers(scenario, bad, paths=2, seed=1)


# --- scenario scripts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "args", "dims"),
    [
        ("policy_levers.py", ["--years", "0.5"], {"scenario", "lever", "metric"}),
        ("capital_by_size.py", ["--sizes", "2"], {"preset", "members"}),
    ],
)
def test_scenario_scripts_write_their_dataset(tmp_path, script, args, dims):
    out = tmp_path / "out.nc"
    command = [sys.executable, str(ROOT / "scenarios" / script), "--paths", "3"]
    proc = subprocess.run(
        [*command, "--out", str(out), *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds:
        assert set(ds.dims) == dims
        assert ds.sizes[next(iter(sorted(dims)))] >= 2
