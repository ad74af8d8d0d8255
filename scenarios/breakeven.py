"""The platform's break-even scale: its mean yearly result across plan sizes, with the
loss at small scale and the profit at large scale (docs/model.md, one period, step 9).

    python scenarios/breakeven.py [--paths N] [--out FILE.nc]
"""

import argparse
from pathlib import Path

import numpy as np

from engine.io import save
from engine.scenario import load_scenario
from engine.sweep import sweep

HERE = Path(__file__).parent
SIZES = [300_000, 1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20200801)
    parser.add_argument("--out", default="breakeven.nc")
    args = parser.parse_args()
    # a static plan of each size for one year: fees against fixed, per-case and joiner costs
    base = load_scenario(HERE / "meituan.toml").replace(
        run={"years": 1},
        growth={"curve": "none"},
        exits={"base_rate": 0.0, "price_rate": 0.0},
        termination={"min_members": 0},
        platform={"fixed_cost": 2_000_000, "cost_per_case": 3_000},
    )
    ds = sweep(base, {"population.members": SIZES}, paths=args.paths, seed=args.seed)
    result = ds.platform_result.mean("path")
    se = ds.platform_result.std("path", ddof=1) / np.sqrt(ds.sizes["path"])
    print("members        mean yearly result (million yuan)")
    for n in ds.members.values:
        r, e = float(result.sel(members=n)) / 1e6, float(se.sel(members=n)) / 1e6
        print(f"{n:>12,}   {r:>10.2f} ± {e:.2f}")
    sign = np.sign(result.values)
    cross = np.flatnonzero(np.diff(sign) > 0)
    if cross.size:
        i = int(cross[0])
        lo, hi = ds.members.values[i], ds.members.values[i + 1]
        r0, r1 = result.values[i], result.values[i + 1]
        at = np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * -r0 / (r1 - r0))
        print(f"break-even near {at:,.0f} members (log-linear interpolation)")
    print(f"wrote {save(ds, args.out)}")


if __name__ == "__main__":
    main()
