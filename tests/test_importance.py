"""Weighted estimates and control variates against hand-worked and exact answers."""

import numpy as np
import pytest
import xarray as xr

from engine import exact
from engine.importance import TailWarning, control_variate, tail_estimates
from engine.plans import PERIODS_PER_YEAR
from engine.simulate import simulate
from tests.conftest import make_scenario

POOL = make_scenario(
    members=200_000,
    claims={"payment_lag": 0, "claimants_leave": False},
    run={"years": 1 / PERIODS_PER_YEAR},
)


def synthetic(x, log_weight=None):
    x = np.asarray(x, dtype=float)
    lw = np.zeros(x.size) if log_weight is None else np.asarray(log_weight, dtype=float)
    return xr.Dataset({"liability_pv": ("path", x), "log_weight": ("path", lw)})


def test_plain_run_gives_plain_estimators():
    x = np.random.default_rng(1).gamma(2.0, 1e6, size=1000)
    table = tail_estimates(synthetic(x), thresholds=(4e6,), levels=(0.99,))
    n, p = x.size, (x > 4e6).mean()
    assert table.loc["P(>4e+06)", "estimate"] == pytest.approx(p)
    assert table.loc["P(>4e+06)", "std_error"] == pytest.approx(np.sqrt(p * (1 - p) / n), 1e-3)
    assert table.loc["mean", "std_error"] == pytest.approx(x.std(ddof=1) / np.sqrt(n))
    assert table.loc["VaR 99%", "estimate"] == np.sort(x)[int(np.ceil(n * 0.99)) - 1]
    for row in ("mean", "P(>4e+06)", "TVaR 99%"):
        assert table.loc[row, "plain_std_error"] == pytest.approx(
            table.loc[row, "std_error"], rel=2e-3
        )
    assert table.loc["mean weight", "estimate"] == 1.0
    assert not table.attrs["degenerate"]


def test_weighted_estimates_by_hand():
    ds = synthetic([1.0, 2.0, 3.0, 4.0], np.log([0.5, 0.5, 1.5, 1.5]))
    table = tail_estimates(ds, thresholds=(2.5,), levels=(0.5,))
    # P(X > 2.5) = (1.5 + 1.5) / 4; the tail above 2 weighs 3/4 > 1/2, above 3 weighs 3/8
    assert table.loc["P(>2.5)", "estimate"] == 0.75
    assert table.loc["VaR 50%", "estimate"] == 3.0
    assert table.loc["TVaR 50%", "estimate"] == 3.0 + 1.5 * 1.0 / 4 / 0.5
    assert table.loc["mean", "estimate"] == (0.5 * 1 + 0.5 * 2 + 1.5 * 3 + 1.5 * 4) / 4


def test_degenerate_weights_warn():
    ds = simulate(POOL.replace(run={"tilt": 1e-5}), paths=500, seed=39)
    with pytest.warns(TailWarning, match="degenerate for P"):
        table = tail_estimates(ds, "period_cost", thresholds=(5e6,))
    assert table.attrs["degenerate"]
    with pytest.warns(TailWarning, match="the mean rests on"):
        control_variate(ds, "period_cost")


def test_errors():
    ds = synthetic([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"variable must be one of \['liability_pv', 'log_weight'"):
        tail_estimates(ds, "claims")
    with pytest.raises(ValueError, match="levels must lie in"):
        tail_estimates(ds, levels=(1.0,))
    with pytest.raises(ValueError, match="have no known mean"):
        control_variate(ds, "liability_pv", ("log_weight",))
    with pytest.raises(ValueError, match="need more than 2 paths"):
        control_variate(synthetic([1.0, 2.0]), "liability_pv", {"log_weight": 0.0})


def test_user_controls_with_known_means():
    # per-case cap 0.1 yuan x 200,000 members: the backstop of a case is its cost less 20,000,
    # so it is linear in the cost martingale and the claim count, and the regression is exact
    ds = simulate(POOL, paths=1000, seed=40)
    lam, amounts, probs = exact.pool_severity(POOL)
    truth = exact.per_case_cap_backstop(lam, amounts, probs, 0.1, 200_000)
    row = control_variate(ds, "backstop", {"claims": lam, "cost_martingale": 0.0}).iloc[0]
    assert row.cv_mean == pytest.approx(truth, rel=1e-9)
    assert row["beta[claims]"] == pytest.approx(-20_000)
    assert row.variance_reduction > 1e6
