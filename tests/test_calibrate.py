"""Calibration: coverage of the intervals, a round trip through the engine, bad files."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from engine.calibrate import (
    Calibration,
    calibrate,
    default_mix,
    mean_hazard,
    read_observations,
    report,
    write_scenario,
)
from engine.cli import main
from engine.errors import InputError
from engine.scenario import load_scenario
from engine.scenario_inputs import initial_members
from engine.simulate import simulate
from engine.tables import incidence_by_sex
from tests.conftest import make_scenario

MIX = default_mix("xianghubao")
Q = incidence_by_sex("ci25")
DATES = pd.date_range("2019-01-01", periods=48, freq="SMS")
YEARS = ((DATES - DATES[0]).days / 365.25).to_numpy()
MEMBERS = np.linspace(2e6, 5e6, DATES.size).round()


def synthetic(
    rng: np.random.Generator, k: float = 0.5, beta: float = 0.0, alpha: float = 0.0
) -> pd.DataFrame:
    """Cases drawn from the model; gamma-mixed (variance mu + alpha mu^2) when alpha > 0."""
    mu = MEMBERS * mean_hazard(k, MIX, Q) * np.exp(beta * YEARS)
    if alpha > 0:
        mu = mu * rng.gamma(1 / alpha, alpha, size=mu.size)
    return pd.DataFrame({"members": MEMBERS, "cases": rng.poisson(mu)}, index=DATES)


def to_csv(frame: pd.DataFrame, path: Path) -> Path:
    out = frame.copy()
    for column in out:
        if column.startswith(("members", "cases")):
            out[column] = out[column].astype("Int64")
    out.index = out.index.date
    out.to_csv(path, index_label="period")
    return path


# --------------------------------------------------------------------------- the fit


@pytest.mark.parametrize(("trend", "beta"), [(False, 0.0), (True, 0.1)])
def test_intervals_cover_the_true_values_at_the_nominal_rate(trend: bool, beta: float) -> None:
    n = 200
    hits_k = hits_beta = 0
    for child in np.random.SeedSequence(20240601).spawn(n):
        cal = calibrate(
            synthetic(np.random.default_rng(child), 0.5, beta), "xianghubao", trend=trend
        )
        hits_k += cal.k.low <= 0.5 <= cal.k.high
        if trend:
            assert cal.trend is not None
            hits_beta += cal.trend.low <= beta <= cal.trend.high
    low, high = stats.binom.interval(0.999, n, 0.95)
    assert low <= hits_k <= high
    if trend:
        assert low <= hits_beta <= high


def test_default_mix_is_the_engines_starting_population() -> None:
    members = initial_members(make_scenario(members=10**7)).sum(axis=(0, 3))
    np.testing.assert_allclose(MIX, members / members.sum(), atol=1e-7)
    assert MIX[:, 60:].sum() == 0


def test_a_fixed_mix_can_be_given() -> None:
    mix = np.zeros((2, 106))
    mix[0, 35] = 1.0
    rng = np.random.default_rng(5)
    mu = MEMBERS * mean_hazard(0.8, mix, Q)
    data = pd.DataFrame({"members": MEMBERS, "cases": rng.poisson(mu)}, index=DATES)
    cal = calibrate(data, "xianghubao", mix=mix)
    assert cal.k.low <= 0.8 <= cal.k.high
    assert cal.plan_benefit == 300_000
    with pytest.raises(InputError, match=r"mix must be an array \[2, 106\]"):
        calibrate(data, "xianghubao", mix=np.ones(106))


def test_missing_periods_are_left_out() -> None:
    full = synthetic(np.random.default_rng(11))
    gappy = full.drop(full.index[5:10]).astype(float)
    gappy.iloc[15, gappy.columns.get_loc("cases")] = np.nan
    gappy.iloc[25, gappy.columns.get_loc("members")] = np.nan
    kept = gappy.dropna()
    cal = calibrate(gappy, "xianghubao")
    assert cal.periods_used == len(kept) == 41
    assert cal.k == calibrate(kept, "xianghubao").k
    frame = cal.to_frame()
    assert len(frame) == len(gappy)
    assert np.isnan(frame["cases"].iloc[15]) and frame["fitted_cases"].iloc[15] > 0
    assert np.isnan(frame["fitted_cases"].iloc[25])


def test_missing_periods_in_a_file(tmp_path: Path) -> None:
    frame = synthetic(np.random.default_rng(11)).iloc[:10].astype(float)
    frame.iloc[3, 1] = np.nan
    path = to_csv(frame.drop(frame.index[6]), tmp_path / "gaps.csv")
    assert ",\n" in path.read_text()  # the blank cell
    cal = calibrate(path, "xianghubao")
    assert cal.periods_used == 8
    assert cal.source == "gaps.csv"


def test_poisson_data_are_not_flagged() -> None:
    cal = calibrate(synthetic(np.random.default_rng(3)), "xianghubao")
    assert not cal.overdispersed and cal.p_value > 0.05
    assert cal.nb_k is None and cal.nb_alpha is None
    assert "consistent with Poisson" in report(cal)


def test_overdispersed_data_are_flagged_with_a_negative_binomial_fit() -> None:
    cal = calibrate(synthetic(np.random.default_rng(3), alpha=0.02), "xianghubao", trend=True)
    assert cal.overdispersed and cal.p_value < 1e-6 and cal.dispersion > 2
    assert cal.nb_k is not None and cal.nb_alpha is not None
    assert cal.nb_k.low <= 0.5 <= cal.nb_k.high
    assert cal.nb_k.high - cal.nb_k.low > 1.5 * (cal.k.high - cal.k.low)
    assert 0.005 < cal.nb_alpha < 0.06
    text = report(cal)
    assert "over-dispersed relative to Poisson" in text and "negative binomial" in text


def test_one_multiplier_per_age_band() -> None:
    rng = np.random.default_rng(8)
    data = pd.DataFrame(index=DATES)
    total_cases = np.zeros(DATES.size, dtype=np.int64)
    for (lo, hi), k in {(0, 9): 0.0, (10, 39): 0.4, (40, 59): 0.9}.items():
        band = MIX * ((np.arange(106) >= lo) & (np.arange(106) <= hi))
        members = (MEMBERS * band.sum()).round()
        cases = rng.poisson(members * mean_hazard(k, band / band.sum(), Q))
        data[f"members_{lo}_{hi}"], data[f"cases_{lo}_{hi}"] = members, cases
        total_cases += cases
    data["members"], data["cases"] = MEMBERS, total_cases
    cal = calibrate(data, "xianghubao")
    assert set(cal.bands) == {(0, 9), (10, 39), (40, 59)}
    assert cal.bands[(0, 9)].value == cal.bands[(0, 9)].low == 0
    assert 0 < cal.bands[(0, 9)].high < 0.1
    for band, k in {(10, 39): 0.4, (40, 59): 0.9}.items():
        assert cal.bands[band].low <= k <= cal.bands[band].high
    assert "k at ages 40-59" in report(cal)


def test_mean_paid_per_case() -> None:
    rng = np.random.default_rng(21)
    data = synthetic(rng)
    data["paid"] = [
        rng.choice([100_000.0, 300_000.0], size=n, p=[0.4, 0.6]).sum() for n in data.cases
    ]
    cal = calibrate(data, "xianghubao")
    assert cal.mean_paid is not None
    assert cal.mean_paid.low <= 220_000 <= cal.mean_paid.high
    assert cal.plan_benefit < cal.plan_case_cost == pytest.approx(1.08 * cal.plan_benefit)


def test_plot_draws_on_a_given_axes() -> None:
    cal = calibrate(synthetic(np.random.default_rng(1)), "xianghubao")
    fig = Figure()
    ax = fig.subplots()
    assert cal.plot(ax) is fig
    assert len(ax.lines) == 2
    assert isinstance(cal.plot(), Figure)


def test_write_scenario_keeps_the_base(tmp_path: Path) -> None:
    cal = calibrate(synthetic(np.random.default_rng(2), beta=0.1), "xianghubao", trend=True)
    base = {"name": "mine", "run": {"paths": 7, "years": 2}, "deduction": {"failure_rate": 0.01}}
    s = load_scenario(write_scenario(cal, tmp_path / "s.toml", base=base))
    assert (s.name, s.run.paths, s.run.years, s.deduction.failure_rate) == ("mine", 7, 2, 0.01)
    assert s.population.members == MEMBERS[-1]
    assert str(s.run.start) == "2021-01-01"
    assert cal.trend is not None
    grown = cal.k.value * np.exp(cal.trend.value * 2.0)
    assert s.incidence.multiplier == pytest.approx(grown, rel=1e-3)
    # the simulation carries the fitted trend on: hazard x exp(beta) a year
    assert s.incidence.trend_per_year == pytest.approx(np.expm1(cal.trend.value), rel=1e-12)


def test_calibration_is_frozen() -> None:
    cal = calibrate(synthetic(np.random.default_rng(1)), "xianghubao")
    assert isinstance(cal, Calibration)
    with pytest.raises(AttributeError):
        cal.level = 0.9  # type: ignore[misc]


# --------------------------------------------------------------------------- engine round trip


def test_round_trip_through_the_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = make_scenario(
        members=4_000_000,
        claims={"payment_lag": 0, "claimants_leave": False},
        incidence={"multiplier": 0.7},
        run={"years": 1},
    )
    ds = simulate(scenario, paths=1, seed=3).isel(path=0)
    frame = pd.DataFrame(
        {
            "members": ds["sharing"].values,
            "cases": ds["approved"].values,
            "paid": (ds["benefits"] + ds["fees"]).values,
            "share": ds["share_post"].values,
        },
        index=pd.DatetimeIndex(ds["period"].values),
    )
    data = to_csv(frame, tmp_path / "xhb.csv")
    out, png = tmp_path / "fitted.toml", tmp_path / "fit.png"
    argv = ["calibrate", str(data), "--plan", "xianghubao", "--out-scenario", str(out)]
    # a 99% interval: one fixed-seed dataset misses it with probability 1%, not 5%
    assert main([*argv, "--level", "0.99", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    found = re.search(r"k\s+[\d.]+\s+99% interval ([\d.]+) - ([\d.]+)", text)
    assert found is not None
    low, high = map(float, found.groups())
    assert low <= 0.7 <= high
    assert "consistent with Poisson" in text and "fitted share" in text
    assert png.stat().st_size > 0

    cal = calibrate(data, "xianghubao")
    assert cal.mean_paid is not None
    assert cal.mean_paid.low <= cal.plan_case_cost <= cal.mean_paid.high
    np.testing.assert_allclose(cal.to_frame()["fitted_share"], frame["share"].mean(), rtol=0.05)

    s = load_scenario(out)
    assert (s.preset, s.tier, s.population.members) == ("xianghubao", "standard", 4_000_000)
    assert s.incidence.multiplier == pytest.approx(cal.k.value)
    assert str(s.run.start) == "2021-08-01"
    assert main(["run", str(out), "--paths", "5"]) == 0


# --------------------------------------------------------------------------- bad input

HEADER = "period,members,cases\n"
BAD = [
    ("", r"bad\.csv: the file is empty"),
    ("\n\n", r"bad\.csv: the file is empty"),
    (HEADER, r"bad\.csv: no data rows"),
    ("period,members\n2020-01-01,5\n", r"bad\.csv row 1, column cases: missing from the header"),
    ('[plan]\npreset = "xianghubao"\n', r"bad\.csv row 1, column period: missing"),
    ("period,members,cases,cases\n", r"bad\.csv row 1, column cases: appears more than once"),
    (
        HEADER.replace("\n", ",cases_0_39\n"),
        r"bad\.csv row 1, column members_0_39: missing \(needed with cases_0_39\)",
    ),
    (HEADER + "2020-01-01,5,abc\n", r"bad\.csv row 2, column cases: 'abc' is not a whole number"),
    (HEADER + "2020-01-01,5,1\n2020-01-15,2.5,1\n", r"row 3, column members: '2.5' is not a whole"),
    (HEADER + "2020-01-01,5,nan\n", r"row 2, column cases: 'nan' is not a whole number"),
    (HEADER + "2020-01-01,5,1\n\n2020-01-15,5,-3\n", r"row 4, column cases: '-3' is negative"),
    (HEADER + "2020-13-01,5,1\n", r"row 2, column period: '2020-13-01' is not an ISO date"),
    (HEADER + ",5,1\n", r"row 2, column period: '' is not an ISO date"),
    (
        HEADER + "2020-01-15,5,1\n2020-01-01,5,1\n",
        r"row 3, column period: 2020-01-01 does not come after the row above \(2020-01-15\)",
    ),
    (HEADER + "2020-01-01,5\n", r"bad\.csv row 2: 2 cells, but the header has 3 columns"),
    (HEADER + "2020-01-01,0,4\n", r"row 2, column cases: 4 cases among 0 members"),
    (HEADER + "2020-01-01,5,5\n", r"row 2, column cases: 5 cases among 5 members \(members\)"),
    (
        "period,members,cases,members_0_39,cases_0_39\n2020-01-01,100,5,3,4\n",
        r"row 2, column cases_0_39: 4 cases among 3 members \(members_0_39\)",
    ),
    (
        "period,members,cases,paid\n2020-01-01,5,1,lots\n",
        r"row 2, column paid: 'lots' is not a number",
    ),
    (HEADER + "2020-01-01,5,0\n", r"bad\.csv: no period has both members and a positive count"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_malformed_files_name_the_row_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        calibrate(path, "xianghubao")


def test_a_wide_header_is_read_and_its_duplicates_found(tmp_path: Path) -> None:
    """30,000 distinct extra columns are no duplicate; one repeated is named. (How the time
    grows with the header is measured in benchmarks/test_calibrate_header.py.)"""
    extra = [f"x{i}" for i in range(30_000)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(["period", "members", "cases", *extra]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"wide\.csv: no data rows"):
        read_observations(path)
    path.write_text(",".join(["period", "members", "cases", *extra, "x7"]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"wide\.csv row 1, column x7: appears more than once"):
        read_observations(path)


def test_a_binary_file_is_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    with pytest.raises(InputError, match=r"bad\.csv: not a CSV text file"):
        read_observations(path)


GOOD_ROW = "2020-01-01,5000000,300\n"


@pytest.mark.parametrize(
    ("row", "args", "message"),
    [
        ("2020-01-01,5,abc\n", [], "error: bad.csv row 2, column cases: 'abc' is not a whole"),
        (GOOD_ROW, ["--plan", "nope"], "error: unknown plan 'nope'; valid plans: xianghubao"),
        (GOOD_ROW, ["--tier", "gold"], "error: plan 'xianghubao' has no tier 'gold'"),
        (GOOD_ROW, ["--table", "ci7"], "error: unknown incidence definition 'ci7'"),
        (GOOD_ROW, ["--level", "1.5"], "error: level must be between 0 and 1, got 1.5"),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, args: list[str], message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + row, encoding="utf-8")
    assert main(["calibrate", str(path), "--plan", "xianghubao", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""


def test_plot_without_an_extension_is_written_as_png_under_the_name_it_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = to_csv(synthetic(np.random.default_rng(4)), tmp_path / "xhb.csv")
    assert (
        main(["calibrate", str(data), "--plan", "xianghubao", "--plot", str(tmp_path / "f")]) == 0
    )
    assert f"wrote {tmp_path / 'f.png'}\n" in capsys.readouterr().out
    assert (tmp_path / "f.png").stat().st_size > 0 and not (tmp_path / "f").exists()


# --------------------------------------------------------------------------- input errors

_ONE_YEAR = pd.DataFrame({"members": 10**6, "cases": [50, 40] * 12}, index=DATES[:24])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": 1.0}, r"^level must be between 0 and 1, got 1\.0$"),
        ({"level": -0.5}, r"^level must be between 0 and 1, got -0\.5$"),
        ({"mix": np.ones(106)}, r"^mix must be an array \[2, 106\] .*got shape \(106,\)$"),
        ({"mix": -np.ones((2, 106))}, r"^mix must be an array \[2, 106\] .*negative"),
        ({"mix": np.zeros((2, 106))}, r"^mix must be an array \[2, 106\] .*got sum 0"),
        ({"table": "ci99"}, r"ci99"),
        ({"tier": "gold"}, r"no tier 'gold'"),
        ({"trend": True, "data": _ONE_YEAR.iloc[:1]}, r"a trend needs at least 2 periods"),
        ({"data": _ONE_YEAR.assign(cases=0)}, r"no period has both members and a positive"),
        ({"data": _ONE_YEAR.assign(cases=10**6)}, r"^data period 2019-01-01, column cases: "),
        ({"data": _ONE_YEAR.drop(columns="cases")}, r"^data: column\(s\) cases missing$"),
        ({"data": _ONE_YEAR.assign(members=-1)}, r"^data: counts and amounts must be >= 0$"),
    ],
)
def test_bad_arguments_raise_the_engines_own_one_line_error(
    kwargs: dict[str, object], message: str
) -> None:
    """Each bad argument raises InputError itself, not a bare ValueError that the command
    line would have to translate (a plain ValueError fails ``type(...) is``), on one line
    naming the field and the value."""
    data = kwargs.pop("data", _ONE_YEAR)
    with pytest.raises(InputError, match=message) as caught:
        calibrate(data, "xianghubao", **kwargs)  # type: ignore[arg-type]
    assert issubclass(caught.type, InputError) and "\n" not in str(caught.value)


def test_the_calibration_modules_raise_no_bare_value_error() -> None:
    """The modules of both calibrations report bad input as InputError only: a ``raise
    ValueError`` reaching the command line would be a traceback (it catches InputError)."""
    root = Path(__file__).resolve().parents[1] / "engine"
    names = ("calibrate", "calibrate_annual", "likelihood", "period_data", "annual_data")
    for name in (*names, "exposure"):
        text = (root / f"{name}.py").read_text(encoding="utf-8")
        assert "raise ValueError" not in text, name


def test_the_command_line_reports_a_bad_level_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = Path(__file__).resolve().parents[1] / "scenarios" / "calibration_sample.csv"
    code = main(["calibrate", str(sample), "--plan", "xianghubao", "--level", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err == "error: level must be between 0 and 1, got 2.0\n"
