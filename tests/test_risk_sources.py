"""Parameter uncertainty and shocks of incidence against exact mixtures of a static pool.

A static pool (claimants stay, no flows, one year so nobody ages) has Poisson claims of a
known mean per period; the new factors turn them into Poisson-lognormal and negative
binomial mixtures whose moments and probabilities are known exactly.
"""

import numpy as np
import pytest
from scipy import stats

from engine.exact import mixed_claims_pmf, mixed_mean_variance
from engine.scenario_inputs import prepare
from engine.simulate import simulate
from tests.conftest import make_scenario

STATIC = {
    "claims": {"claimants_leave": False},
    "growth": {"curve": "none"},
    "exits": {"base_rate": 0.0, "price_rate": 0.0},
    "deduction": {"failure_rate": 0.0},
}


def static_pool(**incidence):
    return make_scenario(members=100_000, incidence=incidence, **STATIC)


def poisson_mean(scenario):
    """The pool's expected claims per period, from the kernel's inputs."""
    inputs = prepare(scenario)
    return float((inputs.members0[0] * inputs.hazard).sum())


def chi_square_pvalue(counts, pmf):
    """Pearson chi-square of observed counts against a pmf, bins pooled to >= 5 expected."""
    n = counts.size
    kmax = int(counts.max())
    p = pmf(kmax + 200)
    observed = np.bincount(counts, minlength=p.size)[: p.size]
    expected = n * p
    expected[-1] += n * (1 - p.sum())  # the tail beyond the table
    bins_o, bins_e, o, e = [], [], 0.0, 0.0
    for k in range(p.size):
        o, e = o + observed[k], e + expected[k]
        if e >= 5:
            bins_o.append(o), bins_e.append(e)
            o = e = 0.0
    bins_o[-1] += o
    bins_e[-1] += e
    chi2 = sum((a - b) ** 2 / b for a, b in zip(bins_o, bins_e, strict=True))
    return stats.chi2.sf(chi2, len(bins_o) - 1)


def test_lognormal_multiplier_gives_the_mixture_variance_of_path_means():
    # A median-one factor (no -s**2/2), a second draw per path or the factor drawn per
    # period instead of per path would move the variance out of the 99.9% band.
    s, paths, periods = 0.2, 1500, 24
    scenario = static_pool(multiplier_sd_log=s)
    lam = poisson_mean(scenario)
    means = simulate(scenario, paths=paths, seed=5)["claims"].values.mean(axis=1)
    var = mixed_mean_variance(lam, s, 0.0, periods)
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], paths - 1) / (paths - 1)
    assert lo < means.var(ddof=1) / var < hi
    se = np.sqrt(var / paths)
    assert abs(means.mean() - lam) < 4 * se  # mean one


def test_period_dispersion_gives_negative_binomial_claims():
    # A gamma factor with the wrong variance (alpha**2, 1 / alpha) or one factor shared by
    # every period would fail the chi-square against the negative binomial pmf.
    alpha = 0.3
    scenario = static_pool(period_dispersion=alpha)
    lam = poisson_mean(scenario)
    counts = simulate(scenario, paths=300, seed=8)["claims"].values.ravel()
    r = 1 / alpha
    nb = stats.nbinom(r, r / (r + lam))
    assert chi_square_pvalue(counts, lambda k: nb.pmf(np.arange(k + 1))) > 0.001
    # and the pmf of engine.exact is that negative binomial
    np.testing.assert_allclose(
        mixed_claims_pmf(lam, 0.0, alpha, 60), nb.pmf(np.arange(61)), rtol=1e-10
    )


def test_multiplier_and_dispersion_together_match_the_exact_mixture():
    # The lognormal and gamma factors must multiply; adding them or drawing the lognormal
    # with the gamma's stream would fail against the mixed pmf.
    s, alpha = 0.3, 0.2
    scenario = static_pool(multiplier_sd_log=s, period_dispersion=alpha)
    lam = poisson_mean(scenario)
    first = simulate(scenario, paths=2500, seed=3)["claims"].values[:, 0]  # independent paths
    assert chi_square_pvalue(first, lambda k: mixed_claims_pmf(lam, s, alpha, k)) > 0.001


def test_mixed_pmf_has_the_exact_mean_and_variance():
    # Quadrature weights not summing to one, or the lognormal's median used as its mean,
    # would move these moments.
    lam, s, alpha = 8.0, 0.4, 0.5
    p = mixed_claims_pmf(lam, s, alpha, 400)
    k = np.arange(p.size)
    mean = (k * p).sum()
    var = ((k - mean) ** 2 * p).sum()
    assert p.sum() == pytest.approx(1, abs=1e-9)
    assert mean == pytest.approx(lam, rel=1e-8)
    assert var == pytest.approx(mixed_mean_variance(lam, s, alpha, 1), rel=1e-6)


def test_shocks_raise_mean_claims_by_rate_times_size():
    # Shocks counted per year instead of per period, or the size applied as a factor
    # (x size rather than x (1 + size)), would miss E = lam (1 + rate / 24 * size).
    rate, size, paths = 6.0, 2.0, 400
    scenario = static_pool(shock_per_year=rate, shock_size=size)
    lam = poisson_mean(scenario)
    claims = simulate(scenario, paths=paths, seed=4)["claims"].values.ravel()
    q = rate / 24
    mean = lam * (1 + q * size)
    var = mean + lam**2 * size**2 * q  # Poisson given the factor, Var(1 + k size) = size**2 q
    assert abs(claims.mean() - mean) < 4 * np.sqrt(var / claims.size)


def test_new_draws_leave_the_other_streams_alone():
    # With the factors drawn from the illness or deduction stream, turning them on would
    # change the static pool's failed deductions (common random numbers lost).
    base = make_scenario(members=100_000, **{**STATIC, "deduction": {"failure_rate": 0.05}})
    on = base.replace(incidence={"period_dispersion": 0.5, "multiplier_sd_log": 0.3})
    a, b = simulate(base, paths=4, seed=2), simulate(on, paths=4, seed=2)
    assert not np.array_equal(a["claims"].values, b["claims"].values)
    np.testing.assert_array_equal(a["failures"].values, b["failures"].values)
