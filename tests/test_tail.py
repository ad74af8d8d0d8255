"""Importance sampling and control variates against exact answers (fixed seeds, 4 SE)."""

import numpy as np
import pytest
from scipy import stats

from engine import exact
from engine.plans import PERIODS_PER_YEAR
from engine.scenario import load_scenario
from engine.simulate import simulate
from engine.tail import (
    TailWarning,
    choose_tilt,
    choose_tilt_for_level,
    control_variate,
    path_values,
    predicted_reduction,
    simulate_tail,
    tail_estimates,
)
from tests.conftest import make_scenario

STATIC = {
    "claims": {"payment_lag": 0, "claimants_leave": False},
    "run": {"years": 1 / PERIODS_PER_YEAR},
}
PATHS = 4000
POOL = make_scenario(members=200_000, **STATIC)  # 相互宝, about 9 claims a period
MEITUAN = load_scenario("scenarios/meituan.toml").replace(run={"years": 1})


def exact_cost(scenario):
    return exact.compound_poisson(*exact.pool_severity(scenario), method="panjer")


def lattice_threshold(dist, p):
    """A threshold halfway between lattice points whose exact tail probability is near p."""
    k = np.arange(dist.pmf.size - 1)
    sf = np.array([dist.sf(i * dist.unit) for i in k])
    i = int(np.argmin(np.abs(np.log(np.maximum(sf, 1e-300) / p))))
    return (i + 0.5) * dist.unit


@pytest.fixture(scope="module")
def pool_cost():
    return exact_cost(POOL)


@pytest.mark.parametrize("p", [1e-3, 1e-6, 1e-8])
def test_tail_probability_matches_exact(pool_cost, p):
    x = lattice_threshold(pool_cost, p)
    truth = pool_cost.sf(x)
    assert p / 3 < truth < 3 * p
    theta = choose_tilt(POOL, x)
    ds = simulate(POOL.replace(run={"tilt": theta}), paths=PATHS, seed=31)
    row = tail_estimates(ds, "period_cost", thresholds=(x,)).loc[f"P(>{x:g})"]
    assert abs(row.estimate - truth) <= 4 * row.std_error, (row.estimate, truth, row.std_error)
    plain_se = np.sqrt(truth * (1 - truth) / PATHS)
    assert row.plain_std_error == pytest.approx(plain_se, rel=0.2)
    assert plain_se / row.std_error > {1e-3: 5, 1e-6: 100, 1e-8: 1000}[p]


@pytest.mark.parametrize("level", [0.995, 0.9999])
def test_var_tvar_match_exact(pool_cost, level):
    # a one-period tail far out wants the full tilt: the body's weights pay for it
    with pytest.warns(TailWarning, match="unhealthy"):
        ds, table = simulate_tail(
            POOL, level, paths=PATHS, seed=32, pilot_paths=200, max_log_weight_var=None
        )
    assert ds.attrs["tilt"] > 0
    label = f"{100 * level:g}%"
    var, tvar = (
        table.loc[("period_cost", f"VaR {label}")],
        table.loc[("period_cost", f"TVaR {label}")],
    )
    truth_var, truth_tvar = pool_cost.quantile(level), pool_cost.tvar(level)
    assert abs(var.estimate - truth_var) <= 4 * var.std_error + 1e-6 * truth_var
    assert abs(tvar.estimate - truth_tvar) <= 4 * tvar.std_error
    assert tvar.plain_std_error / tvar.std_error > {0.995: 5, 0.9999: 30}[level]


KANGAI_TAIL = make_scenario(
    "kangai", members=1_000_000, incidence={"multiplier": 0.1}, **STATIC
)  # the 3-yuan period cap binds with probability 1.2e-3


@pytest.mark.parametrize("members", [30_000, 1_000_000])
def test_period_cap_backstop_matches_exact(members):
    pool = KANGAI_TAIL if members > 30_000 else make_scenario("kangai", members=members, **STATIC)
    truth = exact.per_period_cap_backstop(*exact.pool_severity(pool), cap=3.0, members=members)
    theta = choose_tilt(pool, 0.0, "backstop") if members > 30_000 else 0.0
    ds = simulate(pool.replace(run={"tilt": theta}), paths=PATHS, seed=33)
    mean = tail_estimates(ds, "backstop").loc["mean"]
    cv = control_variate(ds, "backstop").iloc[0]
    assert abs(mean.estimate - truth) <= 4 * mean.std_error
    assert abs(cv.cv_mean - truth) <= 4 * cv.cv_std_error
    assert cv.cv_std_error <= mean.std_error * 1.001
    if theta:  # importance sampling: the rare backstop is seen on most paths
        assert mean.plain_std_error / mean.std_error > 10
    else:  # the control (the period's cost minus its mean) explains most of the backstop
        assert cv.variance_reduction > 10


def test_choose_tilt_centres_the_cost():
    x = 3e6  # about 2.4 standard deviations above the mean of 1.56 million
    theta = choose_tilt(POOL, x)
    ds = simulate(POOL.replace(run={"tilt": theta}), paths=1000, seed=34)
    cost = path_values(ds, "period_cost")
    assert abs(cost.mean() - x) <= 4 * cost.std(ddof=1) / np.sqrt(cost.size)
    cap = 3.0 * 1_000_000
    assert choose_tilt(KANGAI_TAIL, 1e6, "backstop") == choose_tilt(KANGAI_TAIL, cap + 1e6)


def test_choose_tilt_errors():
    with pytest.raises(ValueError, match=r"variable must be one of \['backstop', 'period_cost'\]"):
        choose_tilt(POOL, 3e6, "claims")
    with pytest.raises(ValueError, match=r"needs \|tilt\| > 0\.001"):
        choose_tilt(POOL, 1e200)
    with pytest.raises(ValueError, match=r"per-case cap; plan xianghubao has cap_per_case=0\.1"):
        choose_tilt(POOL, 0.0, "backstop")


@pytest.fixture(scope="module")
def meituan_plain():
    return simulate(MEITUAN, paths=300, seed=35)


@pytest.mark.parametrize(("variable", "reduction"), [("period_cost", 5), ("liability_pv", 3)])
def test_control_variate_with_flows(meituan_plain, variable, reduction):
    row = control_variate(meituan_plain, variable).iloc[0]
    assert abs(row.cv_mean - row["mean"]) <= 4 * row.std_error
    assert row.variance_reduction > reduction
    assert row.cv_std_error**2 * row.variance_reduction == pytest.approx(row.std_error**2)


def test_tilted_run_with_flows_is_unbiased(meituan_plain):
    ds = simulate(MEITUAN.replace(run={"tilt": 1e-8}), paths=300, seed=36)
    table = tail_estimates(ds, "liability_pv")
    weight = table.loc["mean weight"]
    assert abs(weight.estimate - 1) <= 4 * weight.std_error
    for name in ("period_cost", "liability_pv"):
        plain = control_variate(meituan_plain, name).iloc[0]
        tilted = control_variate(ds, name).iloc[0]
        both = np.hypot(plain.cv_std_error, tilted.cv_std_error)
        assert abs(tilted.cv_mean - plain.cv_mean) <= 4 * both, name


def test_simulate_tail_with_flows(meituan_plain):
    # at 95% the plain run's 300 paths still hold 15 tail paths: a usable reference
    ds, table = simulate_tail(MEITUAN, 0.95, paths=300, seed=37, pilot_paths=100)
    assert 0 < ds.attrs["tilt"] < 1e-6
    cost = table.loc["period_cost"]
    plain = tail_estimates(meituan_plain, "period_cost", levels=(0.95,))
    for row in ("VaR 95%", "TVaR 95%"):
        both = np.hypot(cost.loc[row, "std_error"], plain.loc[row, "std_error"])
        assert abs(cost.loc[row, "estimate"] - plain.loc[row, "estimate"]) <= 4 * both, row
        assert cost.loc[row, "std_error"] < cost.loc[row, "plain_std_error"] / 2, row


def test_simulate_tail_is_reproducible():
    small = make_scenario(members=20_000, **STATIC)
    a, ta = simulate_tail(small, 0.99, paths=200, seed=38, pilot_paths=50)
    b, tb = simulate_tail(small, 0.99, paths=200, seed=38, pilot_paths=50)
    assert a.attrs["tilt"] == b.attrs["tilt"] > 0
    assert ta.equals(tb)


@pytest.mark.parametrize(("rho", "mu"), [(1.0, 2.0), (0.4, 0.6), (0.6, 1.0)])
def test_predicted_reduction_matches_a_bivariate_normal_simulation(rho, mu):
    # X = rho Z + sqrt(1 - rho^2) E with Z shifted by mu: the second moment of w 1{X > x}
    # estimated by drawing, against exp(mu^2) Phi(-(x + rho mu)) behind the prediction
    level, n = 0.995, 400_000
    x, p = stats.norm.isf(1 - level), 1 - level
    g = np.random.default_rng(43)
    z = g.standard_normal(n) + mu
    big = rho * z + np.sqrt(1 - rho**2) * g.standard_normal(n) > x
    contrib = np.exp(-mu * z + mu * mu / 2) * big
    second, se = np.mean(contrib**2), np.std(contrib**2) / np.sqrt(n)
    reduction = predicted_reduction(rho, level, max_shift=mu)[1]
    predicted_second = p * (1 - p) / reduction + p * p
    assert abs(second - predicted_second) <= 4 * se, (second, predicted_second, se)
    assert abs(contrib.mean() - p) <= 4 * contrib.std() / np.sqrt(n)  # the weights are exact


@pytest.mark.parametrize("rho", [1.0, 0.4])
def test_predicted_shift_is_the_optimum(rho):
    # d/dmu [mu^2 + log Phi(-(x + rho mu))] = 0: 2 mu = rho phi(y) / Phi(-y), y = x + rho mu
    x = stats.norm.isf(0.005)
    mu, _ = predicted_reduction(rho, 0.995)
    y = x + rho * mu
    assert 2 * mu == pytest.approx(rho * stats.norm.pdf(y) / stats.norm.sf(y), rel=1e-3)
    assert predicted_reduction(rho, 0.995, max_shift=0.5)[0] == pytest.approx(0.5, abs=1e-4)
    assert predicted_reduction(-rho, 0.995)[0] == pytest.approx(mu)  # either sign


def test_weak_correlation_gets_a_weaker_tilt_than_the_quantile_distance():
    # the old choice shifted M by rho x standard deviations: 1.03 at rho = 0.4
    mu, reduction = predicted_reduction(0.4, 0.995)
    assert 0.5 < mu < 0.75 and 1.3 < reduction < 1.6


def test_choose_tilt_for_level_follows_the_pilot():
    # a static pool: the period's cost is the martingale plus a constant, corr exactly 1
    choice = choose_tilt_for_level(POOL, 0.995, pilot_paths=50, seed=44, threads=1)
    assert choice.correlation == pytest.approx(1.0) and choice.target == "period_cost"
    assert choice.shift == pytest.approx(1.0, abs=1e-4)  # the cap on the log weights binds
    lam, amounts, probs = exact.pool_severity(POOL)
    # the log weights' variance theta^2 sum lam_a c_a^2 exp(theta c_a), from the table, is the
    # cap 1 up to the pilot's error in the number of claims (50 paths of 9: 5% each)
    lw_var = choice.theta**2 * lam * np.dot(probs * amounts**2, np.exp(choice.theta * amounts))
    assert lw_var == pytest.approx(1.0, rel=0.15)


def test_a_plan_that_starts_empty_is_tilted_by_its_joiners():
    # red when the case-cost mix comes from the empty starting pool only: no tilt at all
    empty = make_scenario(members=0, growth={"curve": "constant", "joiners": 20_000})
    choice = choose_tilt_for_level(empty, 0.995, pilot_paths=50, seed=45, threads=1)
    assert choice.correlation > 0.8 and choice.theta > 0 and choice.reduction > 2
