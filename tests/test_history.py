"""相互宝's history scenario against the facts it published (the package data file).

The oracles are the published numbers, read from the data file. The scenario's multiplier,
duration factor and age mix were fitted to the 2019-2020 cases, the 2020 share and the mean
age; its joiners and exits to the membership milestones; the issue's tolerances apply
(2020 within 10%, 2019 within 20%, each milestone within 10%). Small paths suffice: the
band of the annual counts is under 2% wide.
"""

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.tables import published

ROOT = Path(__file__).parents[1]
BACKTEST = runpy.run_path(str(ROOT / "scenarios/backtest_xianghubao.py"))
PATHS = 6


@pytest.fixture(scope="module")
def history():
    return BACKTEST["run"](PATHS)


def _fact(metric: str, date: str) -> float:
    facts = published()
    return float(facts[(facts.metric == metric) & (facts.date == date)].value.iloc[0])


@pytest.mark.parametrize(
    ("year", "tolerance"), [("2020", 0.10), ("2019", 0.20)], ids=["2020", "2019"]
)
@pytest.mark.parametrize("metric", ["cases_in_year", "annual_share_per_member"])
def test_the_history_reproduces_the_published_cases_and_shares(history, metric, year, tolerance):
    # red if the multiplier, the duration factor or the mix is lost (the 2020 share moves
    # with the 300k/100k mix), if the waiting period or the payment lag shifts cases between
    # years, or if the yearly sums take the wrong periods
    values, _ = BACKTEST["simulated"](history, year, metric)
    assert values is not None
    median = float(pd.Series(values).median())
    assert median == pytest.approx(_fact(metric, year), rel=tolerance)


def test_the_history_passes_through_every_membership_milestone(history):
    # red if the joiners table or the exit events drift from the milestones, or if the
    # members are read a period off (the early months grow by 9 million a period)
    facts = published()
    milestones = facts[facts.metric.isin(["members", "members_peak"])]
    assert len(milestones) == 8
    for fact in milestones.itertuples():
        values, _ = BACKTEST["simulated"](history, fact.date, fact.metric)
        assert values is not None
        assert float(pd.Series(values).median()) == pytest.approx(fact.value, rel=0.10), fact.date


def test_the_closure_is_announced_on_the_published_day_and_the_platform_pays_the_notice(history):
    # red if announce_on or members_pay_notice is lost: the notice would be shared by the
    # members (no notice_paid) or come at another period
    dates = pd.DatetimeIndex(history["period"].values)
    assert (history["closure_period"].values == dates.get_loc("2021-12-15")).all()
    notice = history["notice_paid"].sel(period=["2022-01-01", "2022-01-15"])
    assert (notice > 0).all()
    assert (history["members_paid"].sel(period=["2022-01-01", "2022-01-15"]) == 0).all()


def test_the_backtest_script_prints_a_row_per_published_fact(tmp_path, monkeypatch, capsys):
    # red if a fact of the data file is dropped from the table or the plot is not written
    out = tmp_path / "backtest.png"
    monkeypatch.setattr(sys, "argv", ["backtest", "--paths", "3", "--plot", str(out)])
    runpy.run_path(str(ROOT / "scenarios/backtest_xianghubao.py"), run_name="__main__")
    text = capsys.readouterr().out
    table = text.split("\n\n")[0].splitlines()[2:]
    facts = published()
    assert len(table) == len(facts)
    for line, fact in zip(table, facts.itertuples(), strict=True):
        assert line.split()[:2] == [str(fact.date), str(fact.metric)]
    assert "Predictions (not fitted)" in text
    assert out.stat().st_size > 0
