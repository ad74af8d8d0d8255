"""相互宝's history simulated beside what it published, and what the model says it did not see.

    python scenarios/backtest_xianghubao.py [--paths N] [--plot FILE.png]

Simulates scenarios/xianghubao_history.toml (launch 2018-10-15 to the run-off after the end
of cover, 2022-01-28) and prints, for every fact of engine/tables/xianghubao_published.csv,
the published value beside the simulated median, 90% band and ratio (facts without a
simulated counterpart say so). The multiplier, the first policy year's duration factor and
the age mix were fitted to the cases of 2019 and 2020, the 2020 share and mean age; the
joiners and exits to the membership milestones. Everything else is a check.

Then the predictions, fitted to nothing: the share per member of the period published on
2020-10-28 (the sharing period containing that day), the cases of the last period of cover,
what the platform paid from the closure notice to the end (the liability: notice periods
paid in full, then the run-off of pending claims) and the cases from launch to end, each a
median with a 90% band.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from engine.scenario import load_scenario
from engine.simulate import simulate
from engine.tables import published

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "xianghubao_history.toml"
BAND = (0.05, 0.5, 0.95)
"""The 90% band and the median."""
PEAK_YEAR_END = "12-31"
"""The undated 2020 peak is compared with the simulated maximum of that year."""


def run(paths: int, seed: int | None = None) -> xr.Dataset:
    """Paths of the history scenario (one thread's worth of small runs is enough)."""
    return simulate(load_scenario(SCENARIO), paths=paths, seed=seed)


def _in_year(ds: xr.Dataset, year: int) -> xr.DataArray:
    return ds["period"].dt.year == year


def members_on(ds: xr.Dataset, day: str) -> np.ndarray:
    """Members of each path on ``day``, linear between the ends of the periods."""
    starts = pd.DatetimeIndex(ds["period"].values)
    knots = starts.append(starts[-1:] + pd.offsets.SemiMonthBegin())
    x = (knots - knots[0]).days.to_numpy(dtype=float)
    at = float((pd.Timestamp(day) - knots[0]).days)
    first = np.zeros((ds.sizes["path"], 1))  # no members at the launch
    m = np.concatenate([first, ds["members"].values], axis=1)
    return np.array([np.interp(at, x, row) for row in m])


def simulated(ds: xr.Dataset, date: str, metric: str) -> tuple[np.ndarray | None, str]:
    """Per-path values of a published fact, or None with the reason."""
    year = int(date[:4])
    per_year = {
        "cases_in_year": "cases_paid",
        "annual_share_per_member": "share_post",
        "total_shared": "members_paid",
        "management_fee": "fees",
    }
    if metric == "members":
        return members_on(ds, date), "members on the day"
    if metric == "members_peak":
        return ds["members"].where(_in_year(ds, year)).max("period").values, "maximum of 2020"
    if metric in per_year:
        var = per_year[metric]
        return ds[var].where(_in_year(ds, year), 0).sum("period").values, f"sum of {var}"
    if metric == "closure_announced":
        t = int(np.median(ds["closure_period"].values))
        return None, f"date fact: announced in the period from {str(ds['period'].values[t])[:10]}"
    reasons = {
        "launch": "date fact: the run starts on 2018-10-15 with no members",
        "plan_ended": "date fact: cover ends after the notice periods (2022-01-01, 01-15)",
        "annual_share_cap_announced": "a rule, not an outcome (no yearly cap in the plan)",
        "member_mean_age": "not an output of a run (the age mix was fitted to it)",
    }
    return None, reasons.get(metric, "no simulated counterpart")


def backtest_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per published fact: published, simulated median and 90% band, ratio."""
    rows = []
    for fact in published().itertuples():
        values, what = simulated(ds, str(fact.date), str(fact.metric))
        row = {"date": fact.date, "metric": fact.metric, "published": fact.value, "simulated": what}
        if values is not None:
            lo, med, hi = np.quantile(values, BAND)
            row |= {"median": med, "p5": lo, "p95": hi, "ratio": med / fact.value}
        rows.append(row)
    columns = ["date", "metric", "published", "median", "p5", "p95", "ratio", "simulated"]
    return pd.DataFrame(rows, columns=columns)


def predictions(ds: xr.Dataset) -> pd.DataFrame:
    """The four predictions, each per path, as median and 90% band."""
    dates = pd.DatetimeIndex(ds["period"].values)
    share_t = int(dates.searchsorted(pd.Timestamp("2020-10-28"), side="right")) - 1
    last_t = int(dates.searchsorted(pd.Timestamp("2022-01-28"), side="right")) - 1
    t = np.arange(dates.size)
    from_notice = t[None, :] >= ds["closure_period"].values[:, None]
    per_path = {
        f"share per member, period from {dates[share_t].date()} (yuan)": ds["share_post"]
        .isel(period=share_t)
        .values,
        f"cases of the last period, from {dates[last_t].date()}": ds["cases_paid"]
        .isel(period=last_t)
        .values,
        "platform paid from the closure notice to the end (yuan)": (
            ds["liability"].values * from_notice
        ).sum(axis=1),
        "cases from launch to end": ds["cases_paid"].sum("period").values,
    }
    rows = [
        dict(zip(("p5", "median", "p95"), np.quantile(v, BAND), strict=True))
        for v in per_path.values()
    ]
    return pd.DataFrame(rows, index=list(per_path))


def plot(ds: xr.Dataset, path: Path) -> None:
    """Members and the per-period share: median and 90% band, published points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    facts = published()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    dates = pd.DatetimeIndex(ds["period"].values)
    for ax, var, scale, label in (
        (top, "members", 1e6, "members (millions)"),
        (bottom, "share_post", 1.0, "share per member a period (yuan)"),
    ):
        lo, med, hi = np.quantile(ds[var].values / scale, BAND, axis=0)
        at = dates + pd.offsets.SemiMonthBegin() if var == "members" else dates  # period ends
        ax.fill_between(at, lo, hi, alpha=0.3, label="simulated 90% band")
        ax.plot(at, med, label="simulated median")
        ax.set_ylabel(label)
    members = facts[facts.metric == "members"]
    top.plot(pd.to_datetime(members.date), members.value / 1e6, "ko", label="published")
    shares = facts[facts.metric == "annual_share_per_member"]
    for year, value in zip(shares.date, shares.value, strict=True):
        span = pd.to_datetime([f"{year}-01-01", f"{year}-12-31"])
        bottom.plot(span, [value / 24] * 2, "k-", lw=2, label=f"published {year} / 24")
    top.legend()
    bottom.legend()
    top.set_title("Xianghubao: simulated history against the published facts")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--plot", type=Path, default=HERE.parent / "docs" / "backtest.png")
    args = parser.parse_args()
    ds = run(args.paths, args.seed)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 70)
    print(f"Backtest of {SCENARIO.name}, {args.paths} paths (median and 90% band)")
    print(backtest_table(ds).to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    print("\nPredictions (not fitted)")
    print(predictions(ds).to_string(float_format=lambda v: f"{v:,.4g}"))
    plot(ds, args.plot)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
