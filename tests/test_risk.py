"""One definition of every risk measure (engine.risk), checked on hand-worked samples, and
every public summary held to it.

Each truth below is worked by hand in the comments: a TVaR taken as the mean of the sorted
tail from the VaR index (94.0 instead of 94.5 on 0..99), a VaR off by one rank, a standard
error of sd/n, an unweighted summary of a tilted run, or a closure at period 24 counted in
year 1 turns a test red.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from engine import risk
from engine.policy import _capital_table, compare_levers, stranded_summary
from engine.report import _number, render_report
from engine.results import closure_summary, summary, tail_components
from engine.simulate import simulate
from engine.tail import TailWarning, tail_estimates
from tests.conftest import make_scenario

X100 = np.arange(100.0)


def test_var_and_tvar_of_0_to_99_at_90_percent() -> None:
    # VaR: rank ceil(100 * 0.9) = 90, the value 89. TVaR = 89 + (1 + 2 + ... + 10) / 100 / 0.1
    assert risk.var(X100, 0.9).estimate == 89.0
    assert risk.tvar(X100, 0.9).estimate == pytest.approx(94.5, abs=1e-12)
    # TVaR's error: sd of psi = (x - 89)^+ / 0.1 over sqrt(100), psi = 0 x 90, 10, 20, ..., 100
    psi = np.r_[np.zeros(90), 10.0 * np.arange(1, 11)]
    assert risk.tvar(X100, 0.9).std_error == pytest.approx(psi.std(ddof=1) / 10, rel=1e-12)


def test_var_ranks_and_ties() -> None:
    x = np.array([5.0, 1.0, 3.0, 2.0])
    assert [risk.var(x, q).estimate for q in (0.25, 0.5, 0.75, 0.76, 0.99)] == [1, 2, 3, 5, 5]
    # ties: VaR is the smallest value whose distribution function reaches the level
    assert risk.var(np.array([0.0, 0.0, 0.0, 7.0]), 0.75).estimate == 0.0
    # the atom at VaR counts in part: worst 10% of (0 x 8, 7, 7) = 7
    assert risk.tvar(np.array([0.0] * 8 + [7.0, 7.0]), 0.9).estimate == pytest.approx(7.0)
    # worst 25%: the two 7s (20%) and 5% of the atom at 0
    assert risk.tvar(np.array([0.0] * 8 + [7.0, 7.0]), 0.75).estimate == pytest.approx(
        (0.2 * 7 + 0.05 * 0) / 0.25
    )


def test_mean_sd_and_probability_with_their_errors() -> None:
    x = np.array([0.0, 0.0, 1.0, 3.0])
    m = risk.mean(x)
    assert m.estimate == 1.0
    # sd(ddof=1) = sqrt((1 + 1 + 0 + 4) / 3) = sqrt(2); error sqrt(2) / sqrt(4)
    assert m.std_error == pytest.approx(np.sqrt(2) / 2, rel=1e-12)
    assert m.ci_low == pytest.approx(1 - 1.959963984540054 * np.sqrt(2) / 2)
    assert risk.std(x).estimate == pytest.approx(np.sqrt(2))
    p = risk.prob_above(x, 0.0)
    # indicators (0, 0, 1, 1): mean 1/2, sd sqrt(1/3), error sqrt(1/3) / 2
    assert p.estimate == 0.5 and p.std_error == pytest.approx(np.sqrt(1 / 3) / 2)


def test_the_weight_is_the_control_of_weighted_means() -> None:
    # a constant outcome has its mean exactly, whatever the sample mean of the weights
    w = np.array([0.2, 0.3, 0.5, 0.6])  # mean 0.4: far from 1
    m = risk.mean(np.full(4, 7.0), w)
    assert m.estimate == pytest.approx(7.0) and m.std_error == pytest.approx(0.0, abs=1e-12)
    # x = (1, 2, 3, 4), w x = (0.2, 0.6, 1.5, 2.4): slope b on w by least squares, then
    # mean(w x) - b (mean(w) - 1)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    dw = w - 0.4
    b = np.dot(dw, w * x - 1.175) / np.dot(dw, dw)
    assert risk.mean(x, w).estimate == pytest.approx(1.175 + 0.6 * b, rel=1e-12)
    assert risk.prob_above(np.ones(4), 0.0, w).estimate == pytest.approx(1.0)


def test_weighted_measures_are_those_of_the_weighted_distribution() -> None:
    # weights (0.5, 0.5, 1.5, 1.5) / 4: P(X = 1) = P(X = 2) = 1/8, P(X = 3) = P(X = 4) = 3/8
    x, w = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.5, 1.5, 1.5])
    assert risk.mean(x, w).estimate == pytest.approx((1 + 2 + 9 + 12) / 8)
    assert risk.prob_above(x, 2.5, w).estimate == pytest.approx(0.75)
    assert risk.var(x, 0.5, w).estimate == 3.0  # P(X > 2) = 3/4 > 1/2, P(X > 3) = 3/8
    # the worst half: 4 with 3/8 and 3 with 1/8
    assert risk.tvar(x, 0.5, w).estimate == pytest.approx((4 * 3 / 8 + 3 / 8) / 0.5)
    assert risk.quantile(x, 0.25, w) == 2.0  # F(1) = 1/8, F(2) = 1/4
    # a weight of zero removes a path
    assert risk.var(x, 0.5, np.array([0.0, 2.0, 2.0, 0.0])).estimate == 2.0


def _sample_ds(n: int = 400, tilted: bool = False) -> xr.Dataset:
    rng = np.random.default_rng(7)
    parts = {
        name: rng.exponential(1.0, n) * (i + 1)
        for i, name in enumerate(("backstop_pv", "shortfall_pv", "runoff_pv", "reserve_pv"))
    }
    parts["reserve_pv"][: n // 2] = 0.0
    data = {name: ("path", v) for name, v in parts.items()}
    data["liability_pv"] = ("path", sum(parts.values()))
    data["closure_period"] = ("path", rng.integers(-1, 72, n))
    if tilted:
        lw = rng.normal(0.0, 0.5, n)
        data["log_weight"] = ("path", lw - np.log(np.mean(np.exp(lw))))
    return xr.Dataset(data, coords={"path": np.arange(n), "period": np.arange(72)})


@pytest.mark.parametrize("tilted", [False, True])
def test_every_summary_gives_the_same_var_and_tvar(tilted: bool) -> None:
    ds = _sample_ds(tilted=tilted)
    x, w = ds["liability_pv"].values, risk.weights(ds)
    truth = {"VaR": risk.var(x, 0.995, w).estimate, "TVaR": risk.tvar(x, 0.995, w).estimate}
    table = summary(ds, ("liability_pv",), (0.995,)).loc["liability_pv"]
    with warnings.catch_warnings():  # 2 paths beyond VaR: the tail is thin, not the point here
        warnings.simplefilter("ignore", TailWarning)
        tail = tail_estimates(ds, "liability_pv", levels=(0.995,))
    capital = _capital_table(ds, 1000, (0.995,), 1.0)
    parts = tail_components(ds, 0.995)
    for kind, value in truth.items():
        stat = f"{kind} 99.5%"
        assert table.loc[stat, "estimate"] == value
        assert tail.loc[stat, "estimate"] == value
        assert capital.loc[stat, "estimate"] == value
        assert parts.loc["liability_pv", stat] == pytest.approx(value, rel=1e-12)
        # the components add up to the measure
        assert parts.loc[
            ["backstop_pv", "shortfall_pv", "runoff_pv", "reserve_pv"], stat
        ].sum() == (pytest.approx(value, rel=1e-9))
    if tilted:  # the weights matter: the unweighted figure differs
        assert truth["TVaR"] != risk.tvar(x, 0.995).estimate


def test_streaming_and_full_runs_and_the_report_agree_with_risk() -> None:
    scenario = make_scenario("kangai", 20_000, run={"paths": 64, "years": 1, "chunk_size": 16})
    full = simulate(scenario, threads=1)
    stream = simulate(scenario, threads=1, mode="streaming")
    x = full["liability_pv"].values
    v, t = risk.var(x, 0.9).estimate, risk.tvar(x, 0.9).estimate
    for ds in (full, stream):
        table = summary(ds, ("liability_pv",), (0.9,)).loc["liability_pv"]
        assert (table.loc["VaR 90%", "estimate"], table.loc["TVaR 90%", "estimate"]) == (v, t)
    html = render_report(full)
    t995 = risk.tvar(x, 0.995)
    assert (
        f"{t995.estimate:,.2f}" in html
        or f"{t995.estimate:,.4g}" in html
        or any(f"{t995.estimate:{fmt}}" in html for fmt in (",.0f", ",.1f", ",.3g", ",.5g"))
    )


def test_lever_var_is_the_995_var() -> None:
    scenario = make_scenario("kangai", 20_000, run={"paths": 40, "years": 1})
    table = compare_levers(scenario, {"cap": {"policy": {"max_share": 1.0}}}, boot=5)
    x = simulate(scenario)["liability_pv"].values
    value = table.loc[("base", "liability_var995"), "value"]
    assert value == risk.var(x, 0.995).estimate == np.sort(x)[39]  # rank ceil(40 * 0.995) = 40


def test_closure_by_year_counts_period_24k_in_the_next_year() -> None:
    # periods 0..23 are year 1: closures at 23 | 24, 47 | 48, 71 | never
    closure = np.array([23, 24, 47, 48, 71, -1, -1, -1])
    ds = xr.Dataset(
        {"closure_period": ("path", closure)},
        coords={"path": np.arange(8), "period": np.arange(72)},
    )
    table = closure_summary(ds)
    assert table["probability"].tolist() == [1 / 8, 3 / 8, 5 / 8]
    assert table.loc[2, "std_error"] == pytest.approx(
        np.std([1, 1, 1] + [0] * 5, ddof=1) / np.sqrt(8)
    )
    # quantiles of the closing paths: lower quantiles of (23, 24, 47, 48, 71)
    assert table.attrs["closure_period_quantiles"] == {"10%": 23, "50%": 47, "90%": 71}


def test_closure_by_year_is_weighted() -> None:
    closure = np.array([10, -1, -1, -1])
    lw = np.log([2.0, 2 / 3, 2 / 3, 2 / 3])
    ds = xr.Dataset(
        {"closure_period": ("path", closure), "log_weight": ("path", lw)},
        coords={"path": np.arange(4), "period": np.arange(24)},
    )
    assert closure_summary(ds).loc[1, "probability"] == pytest.approx(0.5)


def test_stranded_summary_weights_and_quantiles() -> None:
    t = pd.DataFrame({"members_loss": [0.0, 1.0, 2.0, 3.0]})
    assert stranded_summary(t).loc["members_loss", "q50"] == 1.0  # rank ceil(4 * 0.5) = 2
    t.attrs["weights"] = np.array([0.4, 0.4, 0.4, 2.8])
    row = stranded_summary(t).loc["members_loss"]
    assert row["mean"] == pytest.approx((0.4 + 0.8 + 8.4) / 4)
    assert row["q50"] == 3.0  # F(2) = 0.3 < 0.5


@pytest.fixture(scope="module")
def tilted_run() -> xr.Dataset:
    scenario = make_scenario("kangai", 20_000, run={"paths": 60, "years": 1, "tilt": 2e-6})
    return simulate(scenario, threads=1)


def test_a_tilted_run_is_summarised_with_its_weights(tilted_run: xr.Dataset) -> None:
    x = tilted_run["liability_pv"].values
    w = np.exp(tilted_run["log_weight"].values)
    assert np.ptp(w) > 0
    table = summary(tilted_run, ("liability_pv",), (0.9,)).loc["liability_pv"]
    # the weighted mean with the weight (mean 1) as control: least squares of w x on w
    slope = np.polyfit(w, w * x, 1)[0]
    expected = np.mean(w * x) - slope * (np.mean(w) - 1)
    assert table.loc["mean", "estimate"] == pytest.approx(expected, rel=1e-9)
    assert table.loc["mean", "estimate"] != pytest.approx(x.mean(), rel=1e-6)
    assert table.loc["TVaR 90%", "estimate"] == risk.tvar(x, 0.9, w).estimate


def test_figures_weight_a_tilted_run_or_refuse_it(tilted_run: xr.Dataset) -> None:
    from engine.plotting import WeightedRunError, plot

    fig = plot(tilted_run, "exceedance")
    curve = fig.axes[0].lines[0].get_ydata()
    w = np.exp(tilted_run["log_weight"].values)
    order = np.argsort(tilted_run["liability_pv"].values, kind="stable")
    assert curve[0] == pytest.approx(w[order][1:].sum() / w.size)  # P(X > smallest)
    for kind in ("fan_chart", "membership", "components", "platform"):
        with pytest.raises(WeightedRunError, match="importance-sampled"):
            plot(tilted_run, kind)
    html = render_report(tilted_run)
    assert 'id="missing-fan_chart"' in html and "importance-sampled" in html
    t = risk.tvar(tilted_run["liability_pv"].values, 0.995, w)
    assert f"{_number(t.estimate)} ± {_number(t.std_error)}" in html


@pytest.mark.parametrize("field", ["tilt", "tilt_notice"])
def test_streaming_capital_and_levers_refuse_a_tilt(field: str) -> None:
    # red when a notice tilt alone passes for an untilted run
    from engine.horizon import capital
    from engine.policy import compare_levers

    scenario = make_scenario("kangai", 20_000, run={"paths": 4, "years": 1, field: 2e-6})
    with pytest.raises(ValueError, match=rf"run\.{field}: 2e-06"):
        simulate(scenario, mode="streaming")
    with pytest.raises(ValueError, match="untilted run"):
        capital(scenario)
    with pytest.raises(ValueError, match="untilted run"):
        compare_levers(scenario, {"a": {}})
