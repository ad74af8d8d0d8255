"""Policy levers for 相互宝's death spiral and 灯火互助, on common random numbers.

Each lever is run with the base scenario's seed and paths, and its effect on P(closure),
on the platform's discounted liability (mean and VaR 99.5%) and on the members' losses
(stranded contributions and lost cover) is the paired difference from the base, with its
standard error. The levers are sized from each plan's expected share per member and period
(the exits' reference share ``d``):

* reserve: a fund built from half of the fee revenue, drawn on to keep shares at d;
* max_share: a mandatory maximum share of d per member and period, backed by the platform;
* min_launch: no launch below 1 million members;
* transfer: at closure the members move to an insurer at 12 d per member (half a year of
  expected shares), paid by the platform;
* strict_underwriting: joiners screened strictly (2% impaired instead of the plan's rate).

A plan that is not launched (min_launch) counts as closed at once, with no liability.

Run ``python scenarios/policy_levers.py [--paths N] [--out FILE.nc]``.
"""

import argparse
import json
from pathlib import Path
from typing import Any

import xarray as xr

from engine.io import to_netcdf
from engine.kernel_inputs import PAR
from engine.policy import METRICS, compare_levers
from engine.scenario import Scenario, load_scenario
from engine.scenario_inputs import prepare

HERE = Path(__file__).resolve().parent
SCENARIOS = ("xianghubao_death_spiral", "denghuo")


def levers(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """The levers, sized from the plan's expected share per member and period."""
    share = float(prepare(scenario).par[PAR["ref_share"]])
    return {
        "reserve": {
            "policy": {
                "reserve_trigger": share,
                "reserve_rate": 0.5,
            }
        },
        "max_share": {"policy": {"max_share": share}},
        "min_launch": {"policy": {"min_launch_members": 1_000_000}},
        "transfer": {"policy": {"transfer_at_closure": True, "transfer_cost": 12 * share}},
        "strict_underwriting": {"selection": {"underwriting": "strict"}},
    }


def run(paths: int, seed: int | None, years: float | None) -> xr.Dataset:
    """Every lever of every scenario as a Dataset with dims scenario, lever, metric."""
    parts = []
    settings = {}
    for name in SCENARIOS:
        scenario = load_scenario(HERE / f"{name}.toml")
        settings[name] = levers(scenario)
        table = compare_levers(scenario, settings[name], paths=paths, seed=seed, years=years)
        order = {"lever": ["base", *settings[name]], "metric": list(METRICS)}
        parts.append(xr.Dataset.from_dataframe(table).reindex(order))
    ds = xr.concat(parts, dim=xr.Variable("scenario", list(SCENARIOS)))
    units = {"value": "per metric", "diff": "lever - base"}
    for name in ds.data_vars:
        ds[name].attrs["description"] = {
            "value": "the metric under the lever (the base run for lever 'base')",
            "value_se": "Monte Carlo standard error of value",
            "diff": "lever minus base, paired paths (common random numbers)",
            "diff_se": "standard error of the paired difference",
        }[str(name)]
        ds[name].attrs["units"] = units.get(str(name), "")
    ds["metric"].attrs["description"] = (
        "p_closure: probability, years_open: years, liability_*: yuan (discounted), "
        "members_loss: yuan"
    )
    ds.attrs.update(
        title="huzhu policy levers",
        paths=paths,
        seed=str(seed),
        levers=json.dumps(settings, default=float),
    )
    return ds


def show(ds: xr.Dataset) -> None:
    """Print each scenario's effects: lever - base, ± standard error."""
    scale = {
        "p_closure": 1.0,
        "years_open": 1.0,
        "liability_mean": 1e6,
        "liability_var995": 1e6,
        "members_loss": 1e6,
    }
    header = ["lever", "P(closure)", "years open", "liability", "VaR 99.5%", "members' loss"]
    for name in ds["scenario"].values:
        print(f"\n{name}: effect of each lever (lever - base ± s.e.; money in million yuan)")
        rows = []
        for lever in ds["lever"].values:
            cells = [str(lever)]
            for metric, k in scale.items():
                point = ds.sel(scenario=name, lever=lever, metric=metric)
                if lever == "base":
                    cells.append(f"{float(point.value) / k:,.3f}")
                else:
                    cells.append(
                        f"{float(point['diff']) / k:+,.3f} ± {float(point.diff_se) / k:,.3f}"
                    )
            rows.append(cells)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", type=int, default=200)
    p.add_argument("--seed", type=int, default=20200801)
    p.add_argument("--years", type=float, help="horizon (default: each scenario's)")
    p.add_argument("--out", default="policy_levers.nc", help="netCDF file to write")
    args = p.parse_args()
    ds = run(args.paths, args.seed, args.years)
    show(ds)
    print(f"\nwrote {to_netcdf(ds, args.out)}")


if __name__ == "__main__":
    main()
