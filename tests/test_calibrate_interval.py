"""The calibration interval of ``k`` (no trend) against the closed-form Poisson
likelihood-ratio interval.

With one parameter the profile likelihood is the likelihood: with ``C`` cases over ``M``
member-periods and ``h(k)`` the mean per-period hazard at multiplier ``k``, the deviance is
``2 [C log(h_hat / h) - (C - M h)]`` with ``h_hat = C / M``, and the interval is where it is
at most the chi-square(1) quantile. A chi-square with 2 degrees of freedom (an interval 25%
too wide at 95%) or a one-sided search turns this red.
"""

import numpy as np
import pytest
from scipy import optimize, stats

from engine.calibrate import calibrate, default_mix, mean_hazard
from engine.tables import incidence_by_sex
from tests.test_calibrate import MEMBERS, synthetic

MIX = default_mix("xianghubao")
Q = incidence_by_sex("ci25")


@pytest.mark.parametrize(("seed", "level"), [(1, 0.95), (2, 0.99), (3, 0.8)])
def test_interval_is_the_poisson_likelihood_ratio_interval(seed, level):
    data = synthetic(np.random.default_rng(seed), 0.5)
    cal = calibrate(data, "xianghubao", level=level)
    c, m = float(data["cases"].sum()), float(MEMBERS.sum())
    h_hat = c / m
    crit = stats.chi2.ppf(level, 1)

    def deviance(h: float) -> float:
        return 2 * (c * np.log(h_hat / h) - (c - m * h)) - crit

    h_low = optimize.brentq(deviance, h_hat * 1e-3, h_hat, xtol=1e-18)
    h_high = optimize.brentq(deviance, h_hat, h_hat * 10, xtol=1e-18)

    def k_of(h: float) -> float:
        return optimize.brentq(lambda k: mean_hazard(k, MIX, Q) - h, 1e-6, 50, xtol=1e-14)

    assert cal.k.value == pytest.approx(k_of(h_hat), rel=1e-5)
    assert cal.k.low == pytest.approx(k_of(h_low), rel=1e-4)
    assert cal.k.high == pytest.approx(k_of(h_high), rel=1e-4)
