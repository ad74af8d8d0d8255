"""Write ``calibration_sample.csv``: a sample input for ``huzhu calibrate``, in its format.

The numbers are synthetic: one simulated year (path 0) of ``xianghubao.toml``, whose
incidence multiplier is 0.5 with every claim approved, so a fit of the sample should find a
multiplier near 0.5 (a little below: the fit holds the age mix fixed while the simulated
members age and leave). The first period, which shares no case because of the one-period
payment lag, is left out. Columns: the period's start date, the members who shared its cases, the
cases shared, what the members paid (yuan) and the share per member (yuan).

    python scenarios/calibration_sample.py
"""

from pathlib import Path

import pandas as pd

from engine.scenario import load_scenario
from engine.simulate import simulate

HERE = Path(__file__).parent


def main() -> None:
    ds = simulate(load_scenario(HERE / "xianghubao.toml"), paths=1, years=1).isel(
        path=0, period=slice(1, None)
    )
    frame = pd.DataFrame(
        {
            "members": ds.sharing.values,
            "cases": ds.cases_paid.values,
            "paid": ds.members_paid.values.round(2),
            "share": ds.share_post.values.round(4),
        },
        index=pd.Index(ds.period.dt.strftime("%Y-%m-%d").values, name="period"),
    )
    frame.to_csv(HERE / "calibration_sample.csv")
    print(f"wrote {HERE / 'calibration_sample.csv'}")


if __name__ == "__main__":
    main()
