"""Importance sampling aimed at a level is unbiased: ``simulate_tail`` against exact answers.

The full check over every bundled scenario is ``python -m benchmarks.tail_agreement``. Here
small cases with a truth from outside the code under test: a static pool over six periods,
whose total claim cost is compound Poisson with six times one period's rate (its exact
distribution from ``engine.exact``), the same pool closed on a date with a notice the
platform pays (three periods' rate), and an outcome that the claim counts do not drive.
Bugs they guard: a likelihood ratio that misses a term or has the wrong sign (the weighted
mean, VaR and TVaR drift from the truth), estimates that ignore the weights (the tilted
measure's quantile, far above the real one), a tilt that spreads the weights of a
multi-period path (mean weight off 1), a notice not tilted apart from the open periods, and
a tilt run although it cannot help.
"""

import warnings

import numpy as np
import pytest

from engine import exact
from engine.plans import PERIODS_PER_YEAR
from engine.simulate import simulate
from engine.tail import MIN_VARIANCE_REDUCTION, TailWarning, simulate_tail, tail_estimates
from tests.conftest import make_scenario

PERIODS = 6
STATIC = {"claims": {"payment_lag": 0, "claimants_leave": False}}
POOL = make_scenario(members=200_000, run={"years": PERIODS / PERIODS_PER_YEAR}, **STATIC)
PATHS = 2000


# a static pool closed on a date: the platform pays the three notice periods' cases in full
# (members not charged), so what it pays is compound Poisson with three periods' rate
NOTICE = 3
CLOSING = make_scenario(
    members=200_000,
    run={"years": (2 + NOTICE + 1) / PERIODS_PER_YEAR},
    termination={
        "announce_on": "2020-08-20",  # in period 1; the notice is periods 2-4
        "notice_periods": NOTICE,
        "members_pay_notice": False,
    },
    **STATIC,
)


def _aimed(scenario, seed, variable, periods):
    """``simulate_tail`` of ``variable`` (no TailWarning allowed) and the exact distribution
    of a static pool's claim cost over ``periods`` periods."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", TailWarning)  # healthy weights: no warning at all
        ds, table = simulate_tail(
            scenario, 0.995, paths=PATHS, seed=seed, variables=(variable,), threads=1
        )
    lam, amounts, probs = exact.pool_severity(scenario)
    truth = exact.compound_poisson(periods * lam, amounts, probs, method="panjer")
    return ds, table.loc[variable], truth


@pytest.fixture(scope="module")
def tilted():
    return _aimed(POOL, 41, "period_cost", PERIODS)


def test_the_tilt_is_used(tilted):
    ds, _, _ = tilted
    assert ds.attrs["tail_fallback"] == 0 and ds.attrs["tilt"] > 0
    assert ds.attrs["tail_correlation"] == pytest.approx(1.0)  # the cost is the martingale


@pytest.mark.parametrize("run", ["tilted", "closing"])
@pytest.mark.parametrize("stat", ["mean", "VaR 99.5%", "TVaR 99.5%"])
def test_estimates_match_the_exact_distribution(request, run, stat):
    _, table, truth = request.getfixturevalue(run)
    exact_value = {
        "mean": truth.mean(),
        "VaR 99.5%": truth.quantile(0.995),
        "TVaR 99.5%": truth.tvar(0.995),
    }[stat]
    row = table.loc[stat]
    assert abs(row.estimate - exact_value) <= 4 * row.std_error + 1e-9 * exact_value, (
        row.estimate,
        exact_value,
        row.std_error,
    )
    if stat != "mean":  # sharper than plain Monte Carlo with as many paths
        assert row.std_error < row.plain_std_error / 2


def test_weights_stay_healthy_over_several_periods(tilted):
    _, table, _ = tilted
    weight = table.loc["mean weight"]
    assert abs(weight.estimate - 1) <= 4 * weight.std_error
    assert weight.effective_paths > 0.3 * PATHS  # about exp(-1) of the paths at the cap


def test_falls_back_to_plain_monte_carlo_when_the_tilt_cannot_help():
    # exits are binomial draws that the claims do not touch (claimants stay): corr ~ 0
    pool = make_scenario(members=20_000, run={"years": 0.25}, exits={"base_rate": 0.3}, **STATIC)
    with pytest.warns(TailWarning, match="plain Monte Carlo estimates reported"):
        ds, table = simulate_tail(
            pool, 0.99, paths=200, seed=42, pilot_paths=100, variables=("exits",), threads=1
        )
    assert ds.attrs["tail_fallback"] == 1 and ds.attrs["tilt"] == 0.0
    assert ds.attrs["tail_predicted_reduction"] < MIN_VARIANCE_REDUCTION
    plain = tail_estimates(simulate(pool, paths=200, seed=42, threads=1), "exits", levels=(0.99,))
    np.testing.assert_array_equal(table.loc["exits"].values, plain.values)


@pytest.fixture(scope="module")
def closing():
    return _aimed(CLOSING, 43, "notice_paid", NOTICE)


def test_a_notice_paid_by_the_platform_is_aimed_at_by_the_notice_tilt(closing):
    # red with one tilt for every period: the open periods' claims carry none of the target
    ds, _, _ = closing
    assert ds.attrs["tail_correlation"] == pytest.approx(1.0)
    assert ds.attrs["tilt_notice"] > 0 and abs(ds.attrs["tilt"]) < 1e-3 * ds.attrs["tilt_notice"]


def test_rerun_reproduces_a_notice_tilted_run(closing, tmp_path):
    # red when the scenario recorded in the result drops the notice's tilt
    from engine.io import rerun, save

    ds, _, _ = closing
    again = rerun(save(ds, tmp_path / "closing.nc"))
    np.testing.assert_array_equal(again["log_weight"].values, ds["log_weight"].values)
    np.testing.assert_array_equal(again["notice_paid"].values, ds["notice_paid"].values)
