"""Annual calibration: the exposure model by hand and against the engine, closed-form
intervals, coverage of the fitted multiplier, trend and duration factor, scenarios written."""

import datetime as dt
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from engine.annual_data import Annual, annual_from_published, read_annual
from engine.calibrate_annual import calibrate_annual, report, write_annual_scenario
from engine.errors import InputError
from engine.exposure import (
    Membership,
    band_mix,
    exposure,
    membership_from_path,
    membership_from_scenario,
)
from engine.scenario import Incidence, Scenario, load_scenario, scenario_from_dict
from engine.simulate import simulate
from engine.tables import AGES, age_mix, incidence, published

CI3_35 = 0.001396
"""CI3 (25 illnesses, male) at age 35, as printed in the 2006-2010 table."""


def plan_scenario(**sections: object) -> Scenario:
    data = {"plan": {"preset": "xianghubao"}, "population": {"members": 0}, **sections}
    return scenario_from_dict(data)


def one_age(age: int = 35) -> np.ndarray:
    mix = np.zeros((2, AGES.size))
    mix[0, age] = 1.0
    return mix


def annual(cases: dict[int, float]) -> Annual:
    rows = pd.DataFrame({"cases": cases, "share": math.nan}).rename_axis("year")
    return Annual(rows.astype(float), None, "test")


# --------------------------------------------------------------------------- exposure


def test_exposure_by_hand() -> None:
    """100 joiners in period 0, 50 more in period 10, half of everyone leaves in period 20;
    all men aged 59. Joiners count from the next period and claim from 6 periods after
    joining (the kernel's tenure countdown); the anniversary at the end of period 23 takes
    them past the plan's maximum age (59), so they leave."""
    joiners = np.zeros(30)
    joiners[0], joiners[10] = 100, 50
    rate = np.zeros(30)
    rate[20] = 0.5
    m = Membership(pd.Timestamp("2020-01-01"), joiners, rate)
    exp = exposure(plan_scenario(), m, policy_years=2, mix=one_age(59))
    eligible = exp.weights.sum(axis=(1, 2))
    expected = np.zeros(30)
    expected[6:16] = 100
    expected[16:21] = 150
    expected[21:24] = 75
    np.testing.assert_allclose(eligible, expected)
    assert exp.weights[:, 1].sum() == 0  # nobody reaches policy year 1 inside 30 periods
    np.testing.assert_allclose(
        exp.members.sum(axis=1)[:24], [0] + [100] * 10 + [150] * 10 + [75] * 3
    )
    assert exp.members[24:].sum() == 0
    # the standard underwriting's 5% impaired joiners claim at twice the rate
    q = incidence("CI3")[59]
    assert exp.rate.tolist() == [q, 2 * q]
    np.testing.assert_allclose(exp.weights[6, 0], [95, 5])


def test_exposure_matches_the_engine() -> None:
    """Expected annual cases of the exposure model against the kernel's simulated cases
    (mean over paths within 4 standard errors): joiners by a decaying growth curve,
    base exits, ageing and the payment lag are the engine's own."""
    s = plan_scenario(
        growth={"curve": "decay", "joiners": 400_000, "half_life_years": 1.0},
        exits={"base_rate": 0.2},
        termination={"min_members": 0},
        incidence={"multiplier": 0.5},
        run={"years": 2.5, "start": "2019-01-01"},
    )
    ds = simulate(s, paths=40, seed=11)
    by_year = ds["cases_paid"].groupby("period.year").sum().values  # [path, year]
    exp = exposure(s, membership_from_scenario(s))
    q = exp.rate * 0.5
    mu_t = (exp.weights.sum(axis=1) * -np.log1p(-q) / 24).sum(axis=1)
    for i, year in enumerate((2019, 2020)):
        model = mu_t[exp.year == year].sum()
        sim = by_year[:, i]
        se = sim.std(ddof=1) / math.sqrt(sim.size)
        assert abs(sim.mean() - model) < 4 * se + 1e-3 * model, (year, sim.mean(), model, se)
    members = ds["members"].mean("path").values
    np.testing.assert_allclose(exp.members.sum(axis=1)[1:], members[:-1], rtol=0.01)


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(("cases", "level"), [(30, 0.95), (1234, 0.9)])
def test_no_trend_interval_is_the_closed_form_likelihood_ratio_interval(
    cases: int, level: float
) -> None:
    """N seasoned men aged 35 through 2020: the cases shared in 2020 are those incurred
    in periods 0-22 (lag 1), so mu(k) = 23 N h(q k). The likelihood-ratio interval of a
    Poisson mean c u has u - 1 - ln u = chi2_1(level) / (2 c), solved by the two branches
    of Lambert's W; k follows by inverting h."""
    n = 2_000_000
    m = membership_from_path(["2020-01-01"], [n], until="2021-01-01")
    s = plan_scenario(selection={"joiner_impaired_share": 0.0})
    cal = calibrate_annual(annual({2020: cases}), s, m, mix=one_age(35), level=level)
    crit = stats.chi2.ppf(level, 1)
    arg = -math.exp(-1 - crit / (2 * cases))
    lam = [cases * -special.lambertw(arg, branch).real for branch in (0, -1)]
    to_k = lambda mu: -math.expm1(-24 * mu / (23 * n)) / CI3_35  # noqa: E731
    assert cal.multiplier.value == pytest.approx(to_k(cases), rel=1e-9)
    assert cal.multiplier.low == pytest.approx(to_k(lam[0]), rel=1e-7)
    assert cal.multiplier.high == pytest.approx(to_k(lam[1]), rel=1e-7)
    assert cal.df == 0 and "not testable" in report(cal)


TRUE = {"multiplier": 0.4, "trend": 0.06, "duration_0": 0.55}
HISTORY = membership_from_path(
    ["2017-01-01", "2018-01-01", "2019-07-01", "2021-12-31"],
    [0, 3_000_000, 6_000_000, 4_000_000],
    until="2022-01-01",
)
MIX = band_mix({"25-34": 0.5, "35-44": 0.3, "45-54": 0.2})


def annual_means(exp: object, years: list[int]) -> np.ndarray:
    """mu_y from the exposure by the formula of the model, written out here."""
    t = np.arange(exp.year.size) / 24
    f = np.array([TRUE["duration_0"], 1.0])
    scale = f[None, :] * (1 + TRUE["trend"]) ** t[:, None]
    h = -np.log1p(-exp.rate * TRUE["multiplier"]) / 24
    mu_t = (exp.weights * h[None, None, :] * scale[:, :, None]).sum(axis=(1, 2))
    return np.array([mu_t[exp.year == y].sum() for y in years])


def test_round_trip_intervals_cover_the_true_parameters() -> None:
    """100 synthetic 5-year histories drawn from the model (Poisson) with a known
    multiplier, trend and first-year duration factor: each 95% interval holds its true
    value in at least 93 of 100, and all 300 together at no more than the rate that
    chi-square with 1 degree of freedom allows (2 degrees would cover about 98.6%)."""
    s = plan_scenario(selection={"joiner_impaired_share": 0.0})
    years = [2017, 2018, 2019, 2020, 2021]
    mu = annual_means(exposure(s, HISTORY, 2, MIX), years)
    hits = dict.fromkeys(TRUE, 0)
    for child in np.random.SeedSequence(20261203).spawn(100):
        cases = np.random.default_rng(child).poisson(mu)
        cal = calibrate_annual(
            annual(dict(zip(years, cases, strict=True))),
            s,
            HISTORY,
            trend=True,
            policy_years=1,
            mix=MIX,
        )
        found = {
            "multiplier": cal.multiplier,
            "trend": cal.trend,
            "duration_0": cal.duration_factors[0],
        }
        for name, value in TRUE.items():
            hits[name] += found[name].low <= value <= found[name].high
    assert min(hits.values()) >= 93, hits
    assert sum(hits.values()) <= stats.binom.ppf(0.999, 300, 0.95), hits


# --------------------------------------------------------------------------- data


def test_published_facts_ship_with_their_sources() -> None:
    facts = published()
    assert facts["source"].str.len().gt(10).all()
    data = annual_from_published(facts)
    # the figures of the plan's 2020 bill and the press, as printed
    assert data.rows.to_dict("index") == {
        2019: {"cases": 16528.0, "share": 29.17},
        2020: {"cases": 68675.0, "share": 91.0},
    }
    assert data.milestones is not None
    assert data.milestones.iloc[0] == 0 and str(data.milestones.index[0].date()) == "2018-10-16"
    assert data.milestones["2019-11-27"] == 100_000_000
    assert data.milestones["2020-12-31"] == 106_000_000  # the undated peak, at the year's end
    with pytest.raises(KeyError, match="unknown age-structure table 'xianghubao_published'"):
        age_mix("xianghubao_published")


def test_a_table_by_year(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("year,members,cases,share\n2020,1000000,300,\n2021,3000000,700,2.5\n")
    data = read_annual(path)
    assert data.rows["cases"].tolist() == [300, 700] and data.rows["share"].iloc[1] == 2.5
    assert data.milestones is not None
    assert data.milestones.to_dict() == {
        pd.Timestamp("2020-01-01"): 1e6,
        pd.Timestamp("2020-07-01"): 1e6,
        pd.Timestamp("2021-07-01"): 3e6,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year,cases\n20x0,5\n", r"bad\.csv row 2, column year: '20x0' is not a year"),
        ("year,members,cases\n2020,5,5\n", r"row 2, column cases: 5 cases among 5 members"),
        ("year,cases\n2020,1.5\n", r"row 2, column cases: '1.5' is not a whole number"),
        ("year,cases\n2021,5\n2020,5\n", r"bad\.csv, column year: the years must be increasing"),
        ("when,cases\n2020,5\n", r"bad\.csv row 1: expected the columns year, cases"),
        ("date,metric,value\n2020,cases_in_year,many\n", r"row 2, column value: 'many' is not"),
    ],
)
def test_bad_annual_files_name_the_row_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_annual(path)


def test_fits_the_data_cannot_carry_are_refused() -> None:
    s = plan_scenario()
    two = annual({2019: 500, 2020: 900})
    path = membership_from_path(["2019-01-01"], [5_000_000], until="2021-01-01")
    with pytest.raises(InputError, match=r"3 parameters \(multiplier, trend, duration_0\)"):
        calibrate_annual(two, s, path, trend=True, policy_years=1)
    # seasoned members only: nobody is in policy year 0, so its factor is not identified
    with pytest.raises(InputError, match="policy year 0 has no eligible members"):
        calibrate_annual(two, s, path, policy_years=1)
    with pytest.raises(InputError, match="year 2021 is outside the membership history"):
        calibrate_annual(annual({2020: 5, 2021: 5}), s, path)
    with pytest.raises(InputError, match="no year has a positive count of cases"):
        calibrate_annual(annual({2020: 0}), s, path)


# --------------------------------------------------------------------------- scenarios


def test_written_scenario_keeps_every_other_field(tmp_path: Path) -> None:
    """The fit's multiplier is at the history's start (2017-01-01); the base scenario
    starts two years later, so with the trend its multiplier is k (1 + trend)^2."""
    s = plan_scenario(selection={"joiner_impaired_share": 0.0})
    years = [2017, 2018, 2019, 2020, 2021]
    mu = annual_means(exposure(s, HISTORY, 2, MIX), years)
    cal = calibrate_annual(
        annual(dict(zip(years, mu.round(), strict=True))),
        s,
        HISTORY,
        trend=True,
        policy_years=1,
        mix=MIX,
    )
    root = Path(__file__).parents[1]
    base = tomllib.loads((root / "scenarios/xianghubao.toml").read_text(encoding="utf-8"))
    base["run"]["start"] = dt.date(2019, 1, 1)
    base["incidence"]["impaired_multiplier"] = 3.0
    out = write_annual_scenario(cal, tmp_path / "fitted.toml", base)
    text = out.read_text(encoding="utf-8")
    written = tomllib.loads(text)
    assert cal.trend is not None
    grown = cal.multiplier.value * (1 + cal.trend.value) ** 2
    assert written["incidence"].pop("multiplier") == pytest.approx(grown, rel=1e-12)
    fields = set(Incidence.model_fields)
    for name in ("trend_per_year", "duration_factors", "multiplier_sd_log"):
        if name in fields:
            assert name in written["incidence"]
            written["incidence"].pop(name)
        else:
            assert f"# incidence.{name} = " in text
    base["incidence"].pop("multiplier")
    assert {k: v for k, v in written.items() if k != "incidence"} == {
        k: v for k, v in base.items() if k != "incidence"
    }
    assert {k: v for k, v in written["incidence"].items() if not k.endswith("sd_log")} == base[
        "incidence"
    ]
    assert f"#   multiplier {cal.multiplier} at 2017-01-01" in text
    load_scenario(out)


def test_the_xianghubao_fit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The script's fit reproduces the published 2019 share it was not fitted to within
    10%, and the mean age and 2020 share it was fitted to."""
    import runpy
    import sys

    out = tmp_path / "history.toml"
    argv, sys.argv = sys.argv, ["calibrate_xianghubao.py", "--out-scenario", str(out)]
    try:
        runpy.run_path(
            str(Path(__file__).parents[1] / "scenarios/calibrate_xianghubao.py"),
            run_name="__main__",
        )
    finally:
        sys.argv = argv
    text = capsys.readouterr().out
    row: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line[:4] in ("2019", "2020"):
            row.setdefault(line[:4], line.split())
    # year, cases, fitted, share, fitted share, mean members, mean age (first table)
    assert row["2020"][1] == row["2020"][2] == "68,675"
    assert float(row["2020"][6]) == pytest.approx(34.4, abs=0.05)
    assert float(row["2020"][4]) == pytest.approx(91, rel=0.01)
    assert float(row["2019"][4]) == pytest.approx(29.17, rel=0.10)
    s = load_scenario(out)
    assert 0.05 < s.incidence.multiplier < 1


# --------------------------------------------------------------------------- command line


def test_cli_on_the_shipped_facts_writes_a_scenario_that_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from importlib import resources

    from engine.cli import main

    data = resources.files("engine.tables") / "xianghubao_published.csv"
    out = tmp_path / "fitted.toml"
    base = Path(__file__).parents[1] / "scenarios/xianghubao.toml"
    argv = ["calibrate", str(data), "--scenario", str(base), "--policy-years", "1"]
    assert main([*argv, "--out-scenario", str(out), "--plot", str(tmp_path / "fit")]) == 0
    text = capsys.readouterr().out
    assert "duration factor, year 0" in text and f"wrote {out}" in text
    assert f"wrote {tmp_path / 'fit.png'}" in text and (tmp_path / "fit.png").stat().st_size
    s = load_scenario(out)
    # the base's other fields are kept: 100 million members, its failure rate and paths
    assert (s.population.members, s.deduction.failure_rate, s.run.paths) == (10**8, 0.01, 1000)
    assert s.incidence.multiplier != 0.5
    assert main(["run", str(out), "--paths", "4", "--years", "1"]) == 0


def test_cli_annual_needs_a_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    path = tmp_path / "plan.csv"
    path.write_text("year,members,cases\n2020,1000000,300\n2021,3000000,700\n")
    assert main(["calibrate", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: annual data need --scenario")
    assert main(["calibrate", str(path), "--plan", "xianghubao", "--age-mix", "0-59:1"]) == 2
    assert "--age-mix: '0-59:1' is not LO-HI=SHARE" in capsys.readouterr().err
    assert main(["calibrate", str(path), "--plan", "xianghubao", "--age-mix", "20-59=1"]) == 0
    assert "incidence multiplier" in capsys.readouterr().out


def test_bad_arguments_of_the_annual_fit_raise_input_errors() -> None:
    """A bad level, mix or membership raises InputError itself (not a ValueError the
    command line would have to translate), one line naming the value."""
    s = plan_scenario()
    data = annual({2019: 500, 2020: 900})
    path = membership_from_path(["2019-01-01"], [5_000_000], until="2021-01-01")
    with pytest.raises(InputError, match=r"^level must be between 0 and 1, got 0$"):
        calibrate_annual(data, s, path, level=0)
    with pytest.raises(InputError, match=r"^mix: an array \[2, 106\] .*got shape \(3,\)"):
        calibrate_annual(data, s, path, mix=np.ones(3))
    with pytest.raises(InputError, match=r"^membership: the dates must be increasing, got"):
        membership_from_path(["2020-01-01", "2019-01-01"], [1, 2], until="2021-01-01")
    with pytest.raises(InputError, match=r"^membership: give one count >= 0 .* 1 count\(s\)"):
        membership_from_path(["2020-01-01", "2020-02-01"], [1], until="2021-01-01")
    with pytest.raises(InputError, match=r"^age bands: "):
        band_mix({"0-200": 1.0})
