"""相互宝's incidence fitted to what it published for 2019 and 2020.

    python scenarios/calibrate_xianghubao.py [--out-scenario FILE.toml]

Data (engine/tables/xianghubao_published.csv): the cases of 2019 and 2020, the members at
each published milestone (linear between them, from 0 at the launch on 2018-10-16), the
mean age of the members in 2020 and the share per member of 2020.

The members' age mix is not published, only its mean (34.4 in 2020). The mix is taken from
the CNNIC bands, tilted, ``share_b ~ cnnic_b exp(a z_b + b z_b^2)`` with ``z_b`` the band's
middle age less 35, in tens of years, and (a, b) solved so that the members' mean age in
2020 is 34.4 and the fitted 2020 share per member is the published 91 yuan: the share is the
cost of the cases per member, so with the cases fitted it measures how many claimants are
over 40 (100,000 yuan) rather than under (300,000 yuan). The 2019 share is then a check
that nothing was fitted to.

With two annual counts the data carry two parameters. The fit is the multiplier and the
duration factor of the first policy year (the ultimate, from the second year, is 1): new
members claim less (underwriting selection and the waiting period wearing off). The
alternative, a trend in place of the duration factor, is printed beside it.
"""

import argparse
import datetime as dt
import math
from pathlib import Path

import numpy as np
from scipy import optimize

from engine.annual_data import annual_from_published
from engine.calibrate_annual import (
    AnnualCalibration,
    calibrate_annual,
    report,
    write_annual_scenario,
)
from engine.exposure import band_mix
from engine.scenario import scenario_from_dict
from engine.tables import published

HERE = Path(__file__).parent
MEAN_AGE_2020 = 34.4
"""Published: the members' mean age in 2020 (相互宝 2020 annual operating report)."""
SHARE_2020 = 91.0
"""Published: the share per member of 2020, yuan."""
CNNIC_BANDS = {"0-9": 4.0, "10-19": 16.8, "20-29": 24.6, "30-39": 23.7, "40-49": 17.3}
"""CNNIC 44th report bands within the plan's ages; 50+ (13.6) is spread over 50-69, so
half of it falls in 50-59."""
CNNIC_BANDS["50-59"] = 13.6 / 2
BASE = {
    "name": "xianghubao history",
    "plan": {"preset": "xianghubao", "tier": "standard"},
    "population": {"members": 0},
    "run": {"start": dt.date(2018, 10, 15), "years": 3.3},
}


def tilted(a: float, b: float) -> dict[str, float]:
    """The CNNIC bands tilted by ``exp(a z + b z^2)``, shares summing to 1."""
    z = {band: (int(band[:2].strip("-")) + 4.5 - 35) / 10 for band in CNNIC_BANDS}
    raw = {band: s * math.exp(a * z[band] + b * z[band] ** 2) for band, s in CNNIC_BANDS.items()}
    total = sum(raw.values())
    return {band: v / total for band, v in raw.items()}


def fit(bands: dict[str, float], **options: object) -> AnnualCalibration:
    data = annual_from_published(published(), "xianghubao_published.csv")
    return calibrate_annual(data, scenario_from_dict(BASE), mix=band_mix(bands), **options)


def solve_mix() -> dict[str, float]:
    """The tilt with the published mean age and 2020 share, in shares of 3 decimals."""

    def gap(ab: np.ndarray) -> list[float]:
        y = fit(tilted(*ab), policy_years=1).years.loc[2020]
        return [y["mean_age"] - MEAN_AGE_2020, y["fitted_share"] / SHARE_2020 - 1]

    a, b = optimize.fsolve(gap, [0.3, 0.0], xtol=1e-6)
    bands = {band: round(s, 3) for band, s in tilted(a, b).items()}
    largest = max(bands, key=bands.__getitem__)  # the rounding's remainder, so they sum to 1
    bands[largest] = round(bands[largest] + 1 - sum(bands.values()), 3)
    return bands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-scenario", help="write the fitted history base scenario here")
    args = parser.parse_args()
    bands = solve_mix()
    print("age mix (assumed shape, fitted to the mean age and the 2020 share):")
    print("  " + ", ".join(f'"{band}" = {s}' for band, s in bands.items()))
    chosen = fit(bands, policy_years=1)
    print("\nmultiplier and first-year duration factor:\n" + report(chosen))
    print("\nmultiplier and trend instead:\n" + report(fit(bands, trend=True)))
    print("\nmultiplier alone:\n" + report(fit(bands)))
    if args.out_scenario:
        print(f"\nwrote {write_annual_scenario(chosen, args.out_scenario, BASE)}")


if __name__ == "__main__":
    main()
