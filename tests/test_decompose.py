"""The split of the liability by risk source on common random numbers."""

import numpy as np
import pytest

from engine.plotting import exceedance_by_source
from engine.policy import decompose, quantile_interval
from tests.conftest import make_scenario

RISKY = make_scenario(
    members=100_000,
    deduction={"failure_rate": 0.01, "recovery_rate": 0.5},
    incidence={"multiplier_sd_log": 0.3, "period_dispersion": 0.1},
    termination={"hazard_per_year": 0.3, "members_pay_notice": False},
    run={"paths": 200, "years": 0.5},
)


def test_parts_add_up_to_the_full_models_variance_and_var():
    # A part taken against the wrong row, or a source left on in the rows before it, would
    # break the sum; the full row must be the scenario itself.
    parts = decompose(RISKY, seed=4, horizon_years=0.5)
    full = parts.loc["closure"]
    assert parts.variance_part.sum() == pytest.approx(full.sd**2, rel=1e-9)
    assert parts.VaR_part.sum() == pytest.approx(full.VaR, rel=1e-9)
    x = parts.attrs["samples"]["closure"]
    assert full.sd**2 == pytest.approx(x.var(ddof=1), rel=1e-12)
    # parameter risk with a 0.3 log-sd multiplier adds variance beyond Monte Carlo error:
    # (exp(0.09) - 1 of the squared mean claims cost, against Poisson and deductions)
    assert parts.variance_part["parameter"] > 2 * parts.variance_part["process"]
    assert all(parts.variance_part[s] > 0 for s in ("parameter", "shock"))


def test_var_and_tvar_follow_the_engines_one_definition():
    # The mean of the tail at or above VaR (a second TVaR under the same label) differs from
    # Acerbi-Tasche whenever the sample has ties or the level falls between ranks.
    parts = decompose(RISKY, seed=4, horizon_years=0.5)
    level = 0.995
    for source, row in parts.iterrows():
        s = np.sort(parts.attrs["samples"][source])
        n = s.size
        var = s[int(np.ceil(n * level)) - 1]  # the rank ceil(n l) order statistic
        tvar = var + np.maximum(s - var, 0.0).mean() / (1 - level)
        assert row.VaR == var
        assert row.TVaR == pytest.approx(tvar, rel=1e-12)


def test_each_part_is_zero_when_its_source_is_off():
    # A source switched by the wrong field, or runs on different random numbers, would give
    # a non-zero part for a source the scenario does not have.
    plain = RISKY.replace(
        incidence={"multiplier_sd_log": 0.0, "period_dispersion": 0.0},
        termination={"hazard_per_year": 0.0},
    )
    parts = decompose(plain, seed=4, horizon_years=0.5)
    for source in ("parameter", "shock", "closure"):
        assert parts.loc[source, "variance_part"] == 0.0
        assert parts.loc[source, "VaR_part"] == 0.0
    assert parts.loc["process", "variance_part"] > 0


def test_quantile_interval_covers_by_binomial_ranks():
    # Ranks off by one, or the normal interval used, would move these hand-counted ranks:
    # n = 1000, q = 0.995 -> binomial 2.5% and 97.5% quantiles 990 and 999, so ranks 990 and 1000.
    x = np.arange(1.0, 1001.0)
    est, low, high = quantile_interval(x, 0.995)
    assert (est, low, high) == (995.0, 990.0, 1000.0)
    assert quantile_interval(x[:200], 0.995)[2] == np.inf  # too few paths for an upper bound


def test_exceedance_plot_draws_one_curve_per_source():
    samples = {"process": np.arange(10.0), "parameter": np.arange(20.0) * 1e6}
    fig = exceedance_by_source(samples)
    lines = fig.axes[0].get_lines()
    assert len([ln for ln in lines if ln.get_label().startswith("+ ")]) == 2
