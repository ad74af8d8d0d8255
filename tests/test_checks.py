"""The result checks: non-finite values named by variable, path and period; broken
accounting and shares above the cap found."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from engine.checks import check_finite, check_result
from engine.simulate import simulate
from tests.conftest import make_scenario


def _dataset(paths: int = 4, periods: int = 6, first_path: int = 0) -> xr.Dataset:
    dates = pd.date_range("2020-08-01", periods=periods, freq="SMS")
    rng = np.random.default_rng(1)
    return xr.Dataset(
        {
            "benefits": (("path", "period"), rng.random((paths, periods))),
            "members": (("path", "period"), np.ones((paths, periods), dtype=np.int64)),
            "liability_pv": ("path", rng.random(paths)),
        },
        coords={"path": np.arange(first_path, first_path + paths), "period": dates},
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_finite_names_variable_path_and_period(bad: float) -> None:
    ds = _dataset()
    ds["benefits"][2, 3] = bad
    ds["benefits"][3, 0] = bad  # a later path: not the first
    with pytest.raises(ValueError) as info:
        check_finite(ds)
    message = str(info.value)
    assert f"benefits = {bad!r} at path 2, period 3 (2020-09-15) (and 1 more)" in message
    assert "liability_pv" not in message


def test_check_finite_per_path_variable_names_the_path_only() -> None:
    ds = _dataset(first_path=100)
    ds["liability_pv"][1] = np.nan
    with pytest.raises(ValueError, match=r"liability_pv = nan at path 1 \(label 101\)$"):
        check_finite(ds)


def test_check_finite_reports_every_variable_at_once() -> None:
    ds = _dataset()
    ds["benefits"][0, 5] = np.inf
    ds["liability_pv"][3] = -np.inf
    with pytest.raises(ValueError) as info:
        check_finite(ds)
    assert "benefits = inf at path 0, period 5 (2020-10-15)" in str(info.value)
    assert "liability_pv = -inf at path 3" in str(info.value)


def test_check_finite_accepts_healthy_results_and_untracked_statistics() -> None:
    check_finite(_dataset())
    check_finite(_dataset(paths=0, periods=0))
    ds = simulate(make_scenario(preset="kangai"), paths=3, mode="streaming")
    assert ds["claims"].isnull().any()  # quantiles of claims are not tracked: NaN rows
    check_finite(ds)
    check_result(ds)
    ds["share_post"].loc[{"statistic": "mean"}] = np.nan
    with pytest.raises(ValueError, match=r"share_post = nan at period 0 .*statistic 'mean'"):
        check_finite(ds)


def test_check_result_finds_broken_accounting() -> None:
    ds = simulate(make_scenario(), paths=3)
    check_result(ds)
    broken = ds.copy(deep=True)
    broken["backstop"][1, 4] += 1.0
    broken["claims"][2, 2] = -1
    with pytest.raises(ValueError) as info:
        check_result(broken)
    message = str(info.value)
    assert "negative count: claims = -1 at path 2, period 2 (2020-09-01)" in message
    assert "money conservation" in message and "path 1, period 4 (2020-10-01)" in message
    assert "liability == backstop" in message


def test_check_result_finds_a_share_above_the_cap() -> None:
    ds = simulate(make_scenario(preset="kangai"), paths=2)
    check_result(ds)
    ds["share_post"][0, 3] = 3.5
    with pytest.raises(ValueError, match="above the per-period cap 3"):
        check_result(ds)
