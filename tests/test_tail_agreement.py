"""Importance sampling aimed at 99.5% agrees with plain Monte Carlo of 20 times the paths.

The full check over every bundled scenario is ``python -m benchmarks.tail_agreement``; here
one scenario at a small size. Bugs it guards: a tilt so strong that the weights of a long
run spread out (their mean, 1 in expectation, drifts to 0.8 and the weighted mean liability
with it, without a warning), a weighted VaR or TVaR that does not estimate the real model's.
"""

import warnings

import numpy as np
import pytest

from engine.scenario import load_scenario
from engine.simulate import simulate
from engine.tail import (
    MAX_LOG_WEIGHT_VAR,
    TailWarning,
    _warn_unhealthy,
    simulate_tail,
    tail_estimates,
)

PATHS, FACTOR = 300, 20


@pytest.fixture(scope="module")
def runs():
    scenario = load_scenario("scenarios/xianghubao.toml").replace(run={"years": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error", TailWarning)  # healthy weights: no warning at all
        ds, table = simulate_tail(scenario, 0.995, paths=PATHS, seed=5, threads=1)
    plain = simulate(scenario, paths=FACTOR * PATHS, seed=5, first_path=10 * PATHS, threads=1)
    return ds, table.loc["liability_pv"], tail_estimates(plain, levels=(0.995,))


@pytest.mark.parametrize("stat", ["VaR 99.5%", "TVaR 99.5%", "mean"])
def test_tilted_estimates_agree_with_twenty_times_the_plain_paths(runs, stat):
    _, tail, plain = runs
    a, b = tail.loc[stat], plain.loc[stat]
    assert abs(a.estimate - b.estimate) <= 4 * np.hypot(a.std_error, b.std_error)
    if stat != "mean":  # the tail is estimated better than plain Monte Carlo with as many paths
        assert a.std_error < b.std_error * np.sqrt(FACTOR)


def test_the_chosen_tilt_keeps_the_weights_healthy(runs):
    ds, tail, _ = runs
    log_w = ds["log_weight"].values
    # predicted variance at most MAX_LOG_WEIGHT_VAR; sampling error of a variance ~ 0.1 here
    assert log_w.var() < 1.5 * MAX_LOG_WEIGHT_VAR
    weight = tail.loc["mean weight"]
    assert abs(weight.estimate - 1) <= 4 * weight.std_error


def test_unhealthy_weights_warn():
    with pytest.warns(TailWarning, match=r"mean weight 0\.810 ± 0\.050, which must be 1"):
        _warn_unhealthy(0.81, 0.05, 500.0, 1000)
    with pytest.warns(TailWarning, match="120 effective paths of 1000"):
        _warn_unhealthy(0.95, 0.05, 120.0, 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_unhealthy(0.95, 0.05, 400.0, 1000)
        _warn_unhealthy(1.0, 0.0, 1000.0, 1000)  # equal weights
