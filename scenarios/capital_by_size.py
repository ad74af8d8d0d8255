"""Capital per member across plan sizes, for every preset with a cap or a minimum membership.

For each such preset the bundled scenario of the same name (its assumptions: deduction
failures, growth, exits) is swept over 100,000 to 100 million members, log-spaced, with
common random numbers; the capital is VaR 99.5% of the discounted liability over one year,
with the run-off of a closure within the year (engine.policy.capital_by_size). Sizes below
a plan's minimum close at once: their capital is the run-off of the cases in the pipeline.
Beside it, the exit capital (engine.policy.exit_capital_by_size): VaR 99.5% of the largest
expected cost of a closure announced within the year, under the scenario's wind-down rules.

Run ``python scenarios/capital_by_size.py [--paths N] [--sizes K] [--out FILE.nc]``.
"""

import argparse
import math
from pathlib import Path

import numpy as np
import xarray as xr

from engine.io import to_netcdf
from engine.plans import PLANS
from engine.policy import capital_by_size, exit_capital_by_size
from engine.scenario import load_scenario

HERE = Path(__file__).resolve().parent


def presets() -> list[str]:
    """The presets with a finite cap or a minimum membership."""
    return [
        name
        for name, plan in PLANS.items()
        if plan.min_members
        or any(
            math.isfinite(c) for c in (plan.cap_per_case, plan.cap_per_period, plan.cap_per_year)
        )
    ]


def run(paths: int, seed: int, sizes: list[int]) -> xr.Dataset:
    """The capital curves as a Dataset with dims preset and members."""
    curves = {}
    for name in presets():
        scenario = load_scenario(HERE / f"{name}.toml")
        curve = capital_by_size(scenario, sizes, paths=paths, seed=seed)
        exits = exit_capital_by_size(scenario, sizes, paths=paths, seed=seed)
        curve["exit_per_member"] = exits["per_member"]
        curve["exit_per_member_low"] = exits["per_member_low"]
        curve["exit_per_member_high"] = exits["per_member_high"]
        curves[name] = xr.Dataset.from_dataframe(curve)
    ds = xr.concat(list(curves.values()), dim=xr.Variable("preset", list(curves)))
    for name in ds.data_vars:
        ds[name].attrs["units"] = (
            "1" if name == "p_closure" else "yuan/member" if "member" in str(name) else "yuan"
        )
    ds["members"].attrs["description"] = "starting members"
    ds.attrs.update(
        title="huzhu capital by plan size",
        description="VaR 99.5% of the one-year discounted liability, with run-off",
        paths=paths,
        seed=str(seed),
    )
    return ds


def show(ds: xr.Dataset) -> None:
    """Print capital per member (yuan) with its 95% interval, one column per preset."""
    header = ["members", *ds["preset"].values]
    rows = []
    for size in ds["members"].values:
        cells = [f"{int(size):,}"]
        for name in ds["preset"].values:
            point = ds.sel(preset=name, members=size)
            cells.append(
                f"{float(point.per_member):.3f} "
                f"[{float(point.per_member_low):.3f}, {float(point.per_member_high):.3f}]"
            )
        rows.append(cells)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("capital per member, yuan (VaR 99.5% over one year, 95% interval)")
    for row in [header, *rows]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print("\nexit capital per member, yuan (VaR 99.5% of the largest exit cost in the year)")
    for size in ds["members"].values:
        cells = [f"{int(size):,}"]
        for name in ds["preset"].values:
            point = ds.sel(preset=name, members=size)
            cells.append(f"{float(point.exit_per_member):.3f}")
        print("  ".join(cells))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", type=int, default=200)
    p.add_argument("--seed", type=int, default=20200801)
    p.add_argument("--sizes", type=int, default=8, help="number of log-spaced sizes")
    p.add_argument("--out", default="capital_by_size.nc", help="netCDF file to write")
    args = p.parse_args()
    sizes = [int(round(x, -3)) for x in np.geomspace(1e5, 1e8, args.sizes)]
    ds = run(args.paths, args.seed, sizes)
    show(ds)
    print(f"\nwrote {to_netcdf(ds, args.out)}")


if __name__ == "__main__":
    main()
